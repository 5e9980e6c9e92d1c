"""The veteran's own online report (001 第九条 网上登记) through real HTTP and a real
annual review case on the dev server: the link from the notice opens the form without
an account; a bad form comes back with its messages and the values kept; a good one
completes the round as ``veteran:<id>``; the link is then used (410); a correction
round sends a new link that shows every defect and the last report. Expired links
answer 410 with the station's phone, tampered ones 404, a flood 429."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from api.main import create_app
from models.contracts import StartCaseInput
from models.processes import annual_review, policy_for
from models.self_link import sign_link, task_id_of
from models.settings import Settings
from models.tables import AuditEvent, Case, HumanTask, OrgUnit, Veteran
from tests.support import notices, open_task, wait_for
from worker import build_worker

pytestmark = pytest.mark.asyncio(loop_scope="session")

LINK = re.compile(r"(/self/annual-review/[A-Za-z0-9_.-]+)")
GOOD = {
    "party_life": "按时参加社区党支部组织生活",
    "associations": "示范县退役军人志愿者协会\n县摄影家协会",
    "travel_abroad-0-departed_on": "2026-05-01",
    "travel_abroad-0-returned_on": "2026-05-08",
    "travel_abroad-0-destination": "泰国",
    "travel_abroad-0-purpose": "旅游",
    "rewards_punishments": "无",
    "declaration": "on",
    "action": "submit",
}


def liu_yang(engine: Engine) -> Veteran:
    with Session(engine) as s:
        return s.exec(select(Veteran).where(Veteran.name == "刘洋")).one()


def station_phone(engine: Engine, vet: Veteran) -> str:
    with Session(engine) as s:
        unit = s.get(OrgUnit, vet.org_unit_id)
        while unit is not None and not unit.phone:
            unit = s.get(OrgUnit, unit.parent_id)
        assert unit is not None
        return unit.phone


def refusals(engine: Engine) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(AuditEvent)
                .where(AuditEvent.action == "self_link_refused")
                .order_by(col(AuditEvent.id))
            ).all()
        )


@pytest_asyncio.fixture
async def review_case(
    client: Client, settings: Settings, seeded_engine: Engine
) -> AsyncIterator[str]:
    """A running annual review of 刘洋 (a worker on the test's queue)."""
    vet = liu_yang(seeded_engine)
    year = datetime.now(annual_review.TZ).year
    case_id = annual_review.review_case_id(year, vet.id or 0, settings.case_id_prefix)
    policy = policy_for("annual_review", "fast")
    async with build_worker(client, settings, seeded_engine):
        handle = await client.start_workflow(
            "AnnualReviewWorkflow",
            StartCaseInput(
                case_id=case_id,
                process="annual_review",
                veteran_id=vet.id or 0,
                started_by="system",
                data={
                    "year": year,
                    "window_end": (
                        datetime.now(UTC) + timedelta(minutes=30)
                    ).isoformat(),
                },
                policy=policy,
                campaign_id=None,
            ),
            id=case_id,
            task_queue=settings.task_queue,
        )
        try:
            yield case_id
        finally:
            await handle.terminate("test over")


async def link_of(engine: Engine, case_id: str, kind: str, base: str) -> str:
    """The link in the case's latest notice of ``kind``, as the veteran got it."""
    sent = await wait_for(lambda: notices(engine, case_id, kind))
    body = sent[-1].body
    m = LINK.search(body)
    assert m, body
    assert f"{base}{m.group(1)}" in body  # the full URL under the public base
    return m.group(1)


async def test_the_veteran_reports_online_once(
    http: httpx.AsyncClient,
    seeded_engine: Engine,
    settings: Settings,
    review_case: str,
    auth,
):
    engine, case_id = seeded_engine, review_case
    vet = liu_yang(engine)
    task = await open_task(engine, case_id, "submit_report")
    assert task.id == task_id_of(case_id, 1)
    path = await link_of(
        engine, case_id, "annual_review_link", settings.public_base_url
    )

    # The form, without an account or a cookie.
    page = await http.get(path)
    assert page.status_code == 200, page.text
    assert "刘洋" in page.text and str(datetime.now(annual_review.TZ).year) in page.text
    assert 'name="viewport"' in page.text
    for name in (
        "party_life",
        "associations",
        "rewards_punishments",
        "declaration",
        *(
            f"travel_abroad-{i}-{f}"
            for i in range(5)
            for f in ("departed_on", "returned_on", "destination", "purpose")
        ),
    ):
        assert f'name="{name}"' in page.text and f'for="{name}"' in page.text, name
    assert "set-cookie" not in page.headers
    assert page.headers["cache-control"] == "no-store"
    assert "csrf_token" not in page.text

    # A bad form: the messages beside the fields, the values kept, nothing sent.
    bad = await http.post(
        path,
        data={
            "party_life": "",
            "associations": "老兵合唱团",
            "travel_abroad-1-destination": "日本",
            "rewards_punishments": "无",
            "action": "submit",
        },
    )
    assert bad.status_code == 422, bad.text
    assert 'id="party_life-error"' in bad.text
    assert 'id="travel_abroad-1-departed_on-error"' in bad.text
    assert 'id="declaration-error"' in bad.text and "须承诺所填信息真实" in bad.text
    assert "老兵合唱团" in bad.text and 'value="日本"' in bad.text
    assert (await open_task(engine, case_id, "submit_report")).status == "open"

    # More rows for more journeys, without a script.
    more = await http.post(path, data={**GOOD, "action": "more_rows"})
    assert more.status_code == 200
    assert 'name="travel_abroad-5-destination"' in more.text
    assert 'value="泰国"' in more.text

    # A cross-site POST is refused (and audited); the round stays open.
    evil = await http.post(path, data=GOOD, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    assert refusals(engine)[-1].after["reason"] == "cross_origin"

    # The good one: a confirmation; the round completed by the veteran; the review opens.
    done = await http.post(path, data=GOOD, headers={"Origin": "http://test"})
    assert done.status_code == 200, done.text
    assert "已提交" in done.text and 'id="submitted"' in done.text
    with Session(engine) as s:
        row = s.get(HumanTask, task.id)
        assert row is not None and row.status == "completed"
        assert row.completed_by == f"veteran:{vet.id}"
        assert row.result["associations"] == [
            "示范县退役军人志愿者协会",
            "县摄影家协会",
        ]
        assert row.result["travel_abroad"][0]["destination"] == "泰国"
        audit = s.exec(
            select(AuditEvent).where(
                AuditEvent.action == "task_completed", AuditEvent.entity_id == task.id
            )
        ).one()
        assert audit.actor == f"veteran:{vet.id}"
    review = await open_task(engine, case_id, "county_review")

    # Used: both a second POST and a GET answer 410, audited.
    again = await http.post(path, data=GOOD)
    assert again.status_code == 410 and "链接已使用" in again.text
    assert (await http.get(path)).status_code == 410
    assert [r.after["reason"] for r in refusals(engine)[-2:]] == ["used", "used"]
    assert refusals(engine)[-1].actor == f"veteran:{vet.id}"
    assert refusals(engine)[-1].case_id == case_id

    # The county asks for a correction: a new link to round 2, every defect at once.
    county = await auth("county")
    r = await http.post(
        f"/api/tasks/{review.id}/complete",
        json={
            "outcome": "correct",
            "data": {"defects": ["出入境记录缺少证件号码", "奖惩情况请写明年份"]},
        },
        headers=county,
    )
    assert r.status_code == 200, r.text
    await open_task(engine, case_id, "submit_report")
    second = await link_of(
        engine, case_id, "annual_review_correction", settings.public_base_url
    )
    assert second != path
    page = await http.get(second)
    assert page.status_code == 200, page.text
    assert "出入境记录缺少证件号码" in page.text and "奖惩情况请写明年份" in page.text
    assert "按时参加社区党支部组织生活" in page.text  # the last report, to correct
    assert (await http.get(path)).status_code == 410  # round 1's link stays used
    fixed = await http.post(
        second, data={**GOOD, "rewards_punishments": "2026年无奖惩"}
    )
    assert fixed.status_code == 200, fixed.text
    with Session(engine) as s:
        row = s.get(HumanTask, task_id_of(case_id, 2))
        assert row is not None and row.completed_by == f"veteran:{vet.id}"


async def test_expired_tampered_and_flooding_links_are_refused(
    http: httpx.AsyncClient, seeded_engine: Engine, settings: Settings
):
    engine = seeded_engine
    vet = liu_yang(engine)
    case_id = f"{settings.case_id_prefix}annual_review-2027-v{vet.id}"
    expired = sign_link(
        settings.secret_key,
        case_id=case_id,
        round=1,
        veteran_id=vet.id or 0,
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    r = await http.get(f"/self/annual-review/{expired}")
    assert r.status_code == 410
    assert "链接已过期，请联系服务站" in r.text
    assert station_phone(engine, vet) in r.text
    last = refusals(engine)[-1]
    assert (last.after["reason"], last.case_id) == ("expired", case_id)

    # Signed with another key, or changed: 404, audited without naming a case.
    forged = sign_link(
        "k" * 40,
        case_id=case_id,
        round=1,
        veteran_id=vet.id or 0,
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    for bad in (forged, expired[:-3] + "abc", "nonsense"):
        r = await http.get(f"/self/annual-review/{bad}")
        assert r.status_code == 404, bad
        assert refusals(engine)[-1].after["reason"].startswith("invalid")
        assert refusals(engine)[-1].case_id is None
    r = await http.post(f"/self/annual-review/{forged}", data=GOOD)
    assert r.status_code == 404

    # A link we signed for a round that does not exist: 404 too.
    unknown = sign_link(
        settings.secret_key,
        case_id=case_id,
        round=1,
        veteran_id=vet.id or 0,
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    assert (await http.get(f"/self/annual-review/{unknown}")).status_code == 404

    # 20 requests a minute per address (6 so far), counted under a row lock in the
    # database, so 16 at once let exactly 14 through; then 429 with Retry-After
    # (audited once per window).
    answers = await asyncio.gather(
        *(http.get("/self/annual-review/nonsense") for _ in range(16))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [404] * 14 + [429] * 2
    r = await http.get(f"/self/annual-review/{unknown}")
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert [e.after["reason"] for e in refusals(engine)].count("rate_limited") == 1


async def test_a_round_withdrawn_at_the_window_end_is_closed(
    http: httpx.AsyncClient, seeded_engine: Engine, settings: Settings
):
    """Non-submission recorded: the round's task is withdrawn and its link answers 410
    (the round is over), not the form."""
    engine = seeded_engine
    vet = liu_yang(engine)
    case_id = f"{settings.case_id_prefix}annual_review-2027-v{vet.id}"
    with Session(engine) as s:
        unit = s.get(OrgUnit, vet.org_unit_id)
        assert unit is not None
        s.add(
            Case(
                id=case_id,
                workflow_id=case_id,
                process="annual_review",
                veteran_id=vet.id,
                org_unit_id=vet.org_unit_id,
                org_path=unit.path,
                data={"year": 2027},
            )
        )
        s.add(
            HumanTask(
                id=task_id_of(case_id, 1),
                case_id=case_id,
                workflow_id=case_id,
                process="annual_review",
                step="submit_report",
                title="年度登记信息报送",
                candidate_role="village_staff",
                org_unit_id=vet.org_unit_id,
                org_path=unit.path,
                status="withdrawn",
            )
        )
        s.commit()
    link = sign_link(
        settings.secret_key,
        case_id=case_id,
        round=1,
        veteran_id=vet.id or 0,
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    r = await http.get(f"/self/annual-review/{link}")
    assert r.status_code == 410 and "本轮登记已结束" in r.text
    assert refusals(engine)[-1].after["reason"] == "closed"
    # Signed for another veteran than the case's: not ours to show (404).
    other = sign_link(
        settings.secret_key,
        case_id=case_id,
        round=1,
        veteran_id=(vet.id or 0) + 1,
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    assert (await http.get(f"/self/annual-review/{other}")).status_code == 404


async def test_a_clerk_reports_for_the_veteran_through_the_api(
    http, auth, settings, seeded_engine, review_case, client
):
    """The village clerk reports on 刘洋's behalf (帮办). The answer to the completion
    is the task as completed, built from the row read before the Update and the
    recorded completion: the same as the next read, overdue judged by the row's due
    time, and the trips shown in full to a role that may see them, that read audited
    as any other."""
    report = await open_task(seeded_engine, review_case, "submit_report")
    with Session(seeded_engine) as s:  # due an hour ago: completed late
        row = s.get(HumanTask, report.id)
        assert row is not None
        row.due_at = datetime.now(UTC) - timedelta(hours=1)
        s.add(row)
        s.commit()
    h = await auth("village")
    # An app where the village clerks' role may see the trips in full.
    seeing = create_app(
        settings.model_copy(update={"unmask_roles": "village_staff"}),
        engine=seeded_engine,
        temporal_client=client,
    )
    trips = [
        {
            "departed_on": "2026-05-01",
            "returned_on": "2026-05-08",
            "destination": "泰国",
            "purpose": "旅游",
        }
    ]
    async with (
        seeing.router.lifespan_context(seeing),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=seeing), base_url="http://test"
        ) as full,
    ):
        r = await full.post(
            f"/api/tasks/{report.id}/complete",
            json={
                "outcome": "submitted",
                "data": {
                    "party_life": "按时参加社区党支部组织生活",
                    "associations": ["示范县退役军人志愿者协会"],
                    "travel_abroad": trips,
                    "rewards_punishments": "无",
                    "declaration": True,
                },
                "comment": "代为填报",
            },
            headers=h,
        )
        again = await full.get(f"/api/tasks/{report.id}", headers=h)
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["status"], done["outcome"], done["comment"]) == (
        "completed",
        "submitted",
        "代为填报",
    )
    assert done["completed_by"] == done["assignee"] == "village"
    assert done["overdue"] is True
    assert done["result"]["travel_abroad"] == trips and done["masked_fields"] == []

    def unmasked() -> list[AuditEvent]:
        with Session(seeded_engine) as s:
            return list(
                s.exec(
                    select(AuditEvent).where(
                        AuditEvent.action == "unmask_task_data",
                        AuditEvent.entity_id == report.id,
                    )
                ).all()
            )

    # The answer's read and the next one, each audited.
    assert [a.actor for a in unmasked()] == ["village", "village"]
    assert again.json() == done

    # Where the role may not see them (the default), the trips are masked, unaudited.
    masked = (await http.get(f"/api/tasks/{report.id}", headers=h)).json()
    assert masked["masked_fields"] == ["travel_abroad"]
    assert len(unmasked()) == 2
