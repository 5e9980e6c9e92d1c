"""The veteran's rating page (好差评, 003 §9.1.3) through real HTTP: the page from a
signed link without an account, a rating stored once (a reused, an expired, a forged
link refused and audited; two posts at once store one), and — on the dev server — a
rating link sent when a return-home step is completed whose bad rating opens a
complaint at the unit that served, the veteran its confidential party, the rated clerk
recused (003 §9.2.1)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowUpdateFailedError

from models.processes.complaint import GRADE_LABELS
from models.rating_link import sign_rating_link
from models.settings import Settings
from models.tables import (
    AuditEvent,
    Case,
    CaseExclusion,
    ComplaintParty,
    OrgUnit,
    Rating,
    RatingLink,
    Veteran,
)
from tests.support import complete, notices, open_task, rating_link, wait_for
from tests.workflows.conftest import start_case, veteran_id
from worker import build_worker

pytestmark = pytest.mark.asyncio(loop_scope="session")

LINK = re.compile(r"(/rate/[A-Za-z0-9_.-]+)")
SAME_SITE = {"Origin": "http://test"}


def village(engine: Engine) -> OrgUnit:
    with Session(engine) as s:
        return s.exec(select(OrgUnit).where(OrgUnit.code == "sfx-cgz-dgc")).one()


def a_link(
    engine: Engine,
    settings: Settings,
    *,
    expires_in: timedelta = timedelta(days=7),
    used: bool = False,
) -> tuple[RatingLink, str]:
    """A rating link row of the village's clerk serving 刘洋, and its token."""
    link, token, _ = rating_link(
        engine,
        settings,
        veteran="刘洋",
        step="information_collection",
        step_title="信息采集",
        expires_in=expires_in,
        used=used,
    )
    assert link.org_unit_id == village(engine).id
    return link, token


def audits(engine: Engine, action: str) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(AuditEvent)
                .where(AuditEvent.action == action)
                .order_by(col(AuditEvent.id))
            ).all()
        )


def verifying(engine: Engine, case_id: str) -> Case | None:
    with Session(engine) as s:
        case = s.get(Case, case_id)
        return case if case is not None and case.status == "verifying" else None


def rating_of(engine: Engine, link_id: str) -> Rating | None:
    with Session(engine) as s:
        return s.exec(select(Rating).where(Rating.link_id == link_id)).first()


async def test_rating_once_and_refused_links(
    http: httpx.AsyncClient, seeded_engine: Engine, settings: Settings
):
    e = seeded_engine
    link, token = a_link(e, settings)
    path = f"/rate/{token}"

    # The page: what is rated, by which unit, when; five large grades; no account.
    page = await http.get(path)
    assert page.status_code == 200, page.text
    assert 'name="viewport"' in page.text and "信息采集" in page.text
    assert "东关村退役军人服务站" in page.text and "village" not in page.text
    assert datetime.now(UTC).strftime("%Y-") in page.text
    for grade, label in GRADE_LABELS.items():
        assert (
            f'id="grade-{grade}"' in page.text and f'for="grade-{grade}"' in page.text
        )
        assert label in page.text
    assert 'for="comment"' in page.text and 'maxlength="500"' in page.text
    assert "set-cookie" not in page.headers
    assert page.headers["cache-control"] == "no-store"

    # No grade, a long comment: the form again (422), nothing stored.
    bad = await http.post(path, data={"comment": "长" * 501}, headers=SAME_SITE)
    assert bad.status_code == 422
    assert 'id="grade-error"' in bad.text and 'id="comment-error"' in bad.text
    # A cross-site post: 403, audited; the link stays open.
    evil = await http.post(
        path, data={"grade": "satisfied"}, headers={"Origin": "https://evil.example"}
    )
    assert evil.status_code == 403
    assert audits(e, "rating_link_refused")[-1].after["reason"] == "cross_origin"
    assert rating_of(e, link.id) is None

    # A good grade: thanks, stored per unit, step and clerk; no complaint.
    done = await http.post(
        path, data={"grade": "very_satisfied", "comment": " 办事快 "}, headers=SAME_SITE
    )
    assert done.status_code == 200, done.text
    assert "感谢您的评价" in done.text and 'data-bad="no"' in done.text
    rating = rating_of(e, link.id)
    assert rating is not None
    assert (rating.grade, rating.comment, rating.clerk, rating.step) == (
        "very_satisfied",
        "办事快",
        "village",
        "information_collection",
    )
    assert rating.org_unit_id == link.org_unit_id and rating.complaint_case_id is None
    recorded = audits(e, "rating_recorded")[-1]
    assert recorded.actor == f"veteran:{link.veteran_id}"
    assert recorded.entity_id == str(rating.id) and recorded.case_id is None
    with Session(e) as s:
        row = s.get(RatingLink, link.id)
        assert row is not None and row.used_at is not None

    # Used: a post and a get answer 410, audited under the veteran's actor id.
    again = await http.post(path, data={"grade": "dissatisfied"}, headers=SAME_SITE)
    assert again.status_code == 410 and "已评价，链接已使用" in again.text
    assert (await http.get(path)).status_code == 410
    last = audits(e, "rating_link_refused")[-1]
    assert (last.after["reason"], last.actor) == ("used", f"veteran:{link.veteran_id}")
    assert rating_of(e, link.id).grade == "very_satisfied"

    # Two posts of one link at once: one rating stored, the other post refused.
    twin, twin_token = a_link(e, settings)
    answers = await asyncio.gather(
        *(
            http.post(f"/rate/{twin_token}", data={"grade": g}, headers=SAME_SITE)
            for g in ("satisfied", "basically_satisfied")
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 410]
    with Session(e) as s:
        assert len(s.exec(select(Rating).where(Rating.link_id == twin.id)).all()) == 1

    # Expired: 410 naming the unit's phone (or the nearest one above it with one).
    old, old_token = a_link(e, settings, expires_in=timedelta(seconds=-1))
    r = await http.get(f"/rate/{old_token}")
    assert r.status_code == 410 and "评价链接已过期" in r.text
    with Session(e) as s:
        unit = s.get(OrgUnit, old.org_unit_id)
        while unit is not None and not unit.phone:
            unit = s.get(OrgUnit, unit.parent_id)
        assert unit is not None and unit.phone in r.text
    assert audits(e, "rating_link_refused")[-1].after["reason"] == "expired"
    r = await http.post(f"/rate/{old_token}", data={"grade": "satisfied"})
    assert r.status_code == 410 and rating_of(e, old.id) is None

    # Forged, tampered or naming no link: 404, audited without a name.
    forged = sign_rating_link("k" * 40, link.id, link.expires_at)
    unknown = sign_rating_link(settings.secret_key, "no-such-link", link.expires_at)
    for wrong in (forged, token[:-3] + "abc", "nonsense", unknown):
        r = await http.get(f"/rate/{wrong}")
        assert r.status_code == 404, wrong
        assert audits(e, "rating_link_refused")[-1].actor == "anonymous"
    assert (
        await http.post(f"/rate/{forged}", data={"grade": "satisfied"})
    ).status_code == 404


async def test_a_bad_rating_opens_a_complaint_at_the_unit_that_served(
    http: httpx.AsyncClient,
    seeded_engine: Engine,
    settings: Settings,
    client: Client,
):
    """A return-home registration (a rated step) sends a rating link; its 非常不满意
    opens a complaint at the county centre that registered, the clerk recused; a bad
    rating whose complaint did not start (Temporal down) starts it on the next post."""
    e = seeded_engine
    vid = veteran_id(e, party_member=False)
    async with build_worker(client, settings, e):
        handle = await start_case(client, settings, vid)
        await complete(handle, e, "archive_review", "county", "approve", {})
        info = {"hukou_address": "东关村2号", "education": "本科"}
        await complete(
            handle, e, "information_collection", "village", "submitted", info
        )
        await complete(handle, e, "township_review", "township", "approve", {})
        await complete(handle, e, "county_review", "county", "approve", {})
        registration = {"registration_number": "BD-9", "reported_on": "2026-11-21"}
        await complete(handle, e, "registration", "county", "done", registration)
        sent = await wait_for(lambda: notices(e, handle.id, "rating_invite"))
        m = LINK.search(sent[0].body)
        assert m, sent[0].body
        path = m.group(1)

        page = await http.get(path)
        assert page.status_code == 200, page.text
        assert "退役报到" in page.text and "示范县退役军人服务中心" in page.text
        done = await http.post(
            path,
            data={"grade": "very_dissatisfied", "comment": "等了两个小时"},
            headers=SAME_SITE,
        )
        assert done.status_code == 200, done.text
        assert 'data-bad="yes"' in done.text and "我们会尽快与您联系" in done.text

        with Session(e) as s:
            link = s.exec(
                select(RatingLink).where(RatingLink.case_id == handle.id)
            ).one()
            vet = s.get(Veteran, vid)
            assert vet is not None
        rating = rating_of(e, link.id)
        assert rating is not None and rating.clerk == "county"
        case_id = f"{settings.case_id_prefix}complaint-r{rating.id}"
        assert rating.complaint_case_id == case_id
        verify = await open_task(e, case_id, "verify")
        assert verify.org_unit_id == link.org_unit_id
        case = await wait_for(lambda: verifying(e, case_id))
        assert case.org_unit_id == link.org_unit_id and case.process == "complaint"
        with Session(e) as s:
            party = s.get(ComplaintParty, case_id)
            assert party is not None
            assert (party.veteran_id, party.name, party.id_number) == (
                vid,
                vet.name,
                vet.id_number,
            )
            assert party.rated_case_id == handle.id
            kept_out = s.exec(
                select(CaseExclusion).where(CaseExclusion.case_id == case_id)
            ).all()
            assert [(x.username, x.reason) for x in kept_out] == [
                ("county", "rated_clerk")
            ]
        # The rated clerk may not verify the complaint about them (回避).
        complaint = client.get_workflow_handle(case_id)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await complete(
                complaint,
                e,
                "verify",
                "county",
                "valid",
                {"contacted_on": "2026-11-22", "facts": "属实"},
            )
        assert refused.value.cause.type == "Recused"
        assert (await http.post(path, data={"grade": "satisfied"})).status_code == 410

        # A bad rating stored while Temporal did not answer: the next post of its
        # link starts the complaint (its case id is the rating's) and says "used".
        stuck, stuck_token = a_link(e, settings, used=True)
        with Session(e) as s:
            row = Rating(
                link_id=stuck.id,
                process=stuck.process,
                step=stuck.step,
                org_unit_id=stuck.org_unit_id,
                org_path=stuck.org_path,
                clerk=stuck.clerk,
                grade="dissatisfied",
            )
            s.add(row)
            s.commit()
            s.refresh(row)
        r = await http.post(f"/rate/{stuck_token}", data={"grade": "satisfied"})
        assert r.status_code == 410
        retried = f"{settings.case_id_prefix}complaint-r{row.id}"
        assert rating_of(e, stuck.id).complaint_case_id == retried
        await open_task(e, retried, "verify")
        for cid in (case_id, retried, handle.id):
            await client.get_workflow_handle(cid).terminate("test over")
