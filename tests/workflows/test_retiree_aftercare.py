"""A retired cadre's death and aftercare (军休干部逝世善后) on the real Temporal dev
server, its days and years in seconds: 黄建国 (the demo's 军休干部) dies of illness with
a second-class merit — the urgent branches in parallel, the flag covering escalated to
the county leader, the overpaid pension offset against the benefits, a minor sibling
the only survivor (an adult sibling refused), the benefits computed by formula and
checked by hand, the reviewer refused as approver, paid; the sibling's living
allowance confirmed one year and stopped the next when not confirmed (overdue, then
withdrawn). A death in 2026 under the standard profile: the flag due at noon the day
before the farewell, the overpayment waived with another leader's approval (the
preparer refused), a missing income figure naming itself until an admin adds it, an
approval sent back to the review once. A cadre out of contact is found (pay resumed),
then out of contact again and found dead, which starts the aftercare case; through the
API a non-cadre is refused (422) and a second death report too (409). Every history
replays."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer

from api.main import create_app
from models.aftercare_contracts import SurvivorAllowanceResult
from models.contracts import (
    CaseState,
    EscalationRung,
    ProcessPolicy,
    StartCaseInput,
    TaskPolicy,
)
from models.demo import DEMO_PASSWORD
from models.idnumber import make_id_number
from models.processes import retiree_aftercare
from models.search_attributes import case_search_attributes
from models.settings import Settings
from models.tables import (
    Aftercare,
    AftercareFigure,
    AftercareSurvivor,
    OrgUnit,
    Veteran,
)
from tests.support import (
    notices,
    open_task,
    record_history,
    tasks,
    wait_for,
)
from tests.workflows.conftest import RecordingAdapter
from tests.workflows.journeys import Journeys, Registry
from tests.workflows.startup_loan_support import (
    add_staff,
    finish,
    refused,
    runs_of,
    statuses,
    take_over,
)
from workflows.registry import ALL_WORKFLOWS

# SQLite only (README, Testing): the aftercare's SQL runs on both databases in the
# activity, API and page tests; here the subject is the workflows and their timers.
pytestmark = pytest.mark.timeout(60)

PROCESS = retiree_aftercare.PROCESS_KEY
Login = Callable[[str], Awaitable[dict[str, str]]]

# The journeys of this file wait on their timers (due times and confirmation years of
# seconds): they run side by side, each with its own database, settings and worker
# (tests/workflows/journeys.py).
journey = Registry()


journeys = journey.fixture()


def aftercare_policy(
    *, flag: float = 600.0, year: float = 600.0, confirm: float = 600.0
) -> ProcessPolicy:
    """The fast profile in seconds: the flag covering due after ``flag`` seconds, a
    survivor's allowance "year" of ``year`` seconds whose confirmation is due
    ``confirm`` seconds after it opens, one year per run (continue-as-new each)."""
    fast = retiree_aftercare.FAST_POLICY
    return fast.model_copy(
        update={
            "name": "test",
            "steps": {
                **fast.steps,
                "flag_covering": fast.for_step("flag_covering").model_copy(
                    update={"duration": timedelta(seconds=flag)}
                ),
                "allowance_confirmation": TaskPolicy(
                    duration=timedelta(seconds=confirm),
                    source="test",
                    escalation=[EscalationRung(after=timedelta(0))],
                ),
            },
            "timers": {"allowance_year": timedelta(seconds=year)},
            "counts": {"allowance_rollover_years": 1},
        }
    )


def cadre(engine: Engine) -> tuple[int, str]:
    """黄建国, the demo's retired cadre, and the path of his unit."""
    with Session(engine) as s:
        v = s.exec(select(Veteran).where(Veteran.category == "军休干部")).one()
        unit = s.get(OrgUnit, v.org_unit_id)
        assert unit is not None and v.name == "黄建国"
        return v.id or 0, unit.path


def death(**changes: Any) -> dict[str, Any]:
    """A death report as the start form dumps it."""
    data: dict[str, Any] = {
        "died_on": "2025-03-10",
        "cause": "illness",
        "place": "示范县人民医院",
        "reported_by": "黄小梅",
        "reporter_relation": "女儿",
        "cause_detail": "",
        "flag_covering_requested": False,
        "flag_basis": "",
        "farewell_on": None,
    }
    return {**data, **changes}


async def start_aftercare(
    client: Client,
    settings: Settings,
    engine: Engine,
    policy: ProcessPolicy,
    data: dict[str, Any],
) -> WorkflowHandle[Any, CaseState]:
    """The aftercare case started as the API starts it (business key, attributes)."""
    vid, path = cadre(engine)
    case_id = f"{settings.case_id_prefix}{PROCESS}-v{vid}"
    return await client.start_workflow(
        "RetireeAftercareWorkflow",
        StartCaseInput(
            case_id=case_id,
            process=PROCESS,
            veteran_id=vid,
            started_by="county",
            data=retiree_aftercare.DeathReportForm.model_validate(data).model_dump(
                mode="json"
            ),
            policy=policy,
            spec_version=retiree_aftercare.SPEC.version,
        ),
        id=case_id,
        task_queue=settings.task_queue,
        search_attributes=case_search_attributes(PROCESS, path, vid),
        result_type=CaseState,
    )


def survivor(name: str, relation: str, born: date, seq: str, **kw: Any) -> dict:
    return {
        "name": name,
        "id_number": make_id_number("370102", born, seq),
        "relation": relation,
        "born_on": born.isoformat(),
        **kw,
    }


async def urgent_work(
    client: Client,
    e: Engine,
    case_id: str,
    survivors: list[dict[str, Any]],
) -> None:
    """The condolence visit and an obituary approved on its second draft; then the
    survivors as given (the pension and the flag are the caller's)."""
    visit = {"visited_on": "2025-03-11", "visitors": "王主任、赵科员"}
    await finish(client, e, case_id, "condolence_visit", "county", "done", visit)
    draft = {"obituary": "黄建国同志因病逝世", "life_summary": "1968年入伍……"}
    await finish(client, e, case_id, "obituary", "county", "submitted", draft)
    back = {"defects": ["生平缺少1979年立功情况"]}
    await finish(
        client, e, case_id, "obituary_approval", "leader", "return_for_correction", back
    )
    again = await open_task(e, case_id, "obituary")
    assert again.round == 2 and again.context["defects"] == back["defects"]
    await finish(client, e, case_id, "obituary", "county", "submitted", draft)
    await finish(client, e, case_id, "obituary_approval", "leader", "approve", {})
    await finish(
        client,
        e,
        case_id,
        "survivor_determination",
        "county",
        "determined",
        {"survivors": survivors},
    )


async def report(client: Client, e: Engine, case_id: str) -> None:
    """The 军休机构 reports to the bureau: the urgent branches open."""
    data = {"reported_on": "2025-03-10", "bureau": "示范县退役军人事务局"}
    await finish(client, e, case_id, "report_to_bureau", "county", "reported", data)


def claim(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "monthly_base_pay": "8000.00",
        "honours": [
            "fourth_class_war_merit_or_third_class_merit",
            "third_class_war_merit_or_second_class_merit",
        ],
        "applicant": "黄小梅",
    }
    return {**data, **changes}


async def replays(client: Client, *histories_of: tuple[str, str | None]) -> None:
    """Each (workflow id, run id) replays on today's code."""
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter)
    for workflow_id, run_id in histories_of:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        await replayer.replay_workflow(await handle.fetch_history())


def aftercare_row(engine: Engine, case_id: str) -> Aftercare:
    with Session(engine) as s:
        row = s.get(Aftercare, case_id)
        assert row is not None
        return row


def _utc(at: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive (stored in UTC)."""
    return at.replace(tzinfo=UTC) if at and at.tzinfo is None else at


def survivor_rows(engine: Engine, case_id: str) -> list[AftercareSurvivor]:
    with Session(engine) as s:
        q = select(AftercareSurvivor).where(AftercareSurvivor.case_id == case_id)
        return list(s.exec(q.order_by(AftercareSurvivor.n)).all())


@journey()
async def a_death_from_illness_through_the_benefits_paid_to_the_allowance_stopped(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    add_staff(e, "countylead", ["county_staff", "leader"])
    policy = aftercare_policy(flag=1.0, year=1.0, confirm=3.0)
    wish = death(
        flag_covering_requested=True, flag_basis="wish", farewell_on="2025-03-14"
    )
    handle = await start_aftercare(client, settings, e, policy, wish)
    case_id = handle.id
    await report(client, e, case_id)
    # The flag covering is not decided by its due time: overdue, the county leader hears.
    flag = await open_task(e, case_id, "flag_covering")
    assert flag.context == {"basis": "wish", "farewell_on": "2025-03-14"}
    told = await wait_for(
        lambda: [n for n in notices(e, case_id, "overdue") if n.task_id == flag.id]
    )
    assert {n.recipient for n in told} == {"manager"}
    assert tasks(e, case_id, step="flag_covering")[0].overdue
    await finish(
        client, e, case_id, "flag_covering", "leader", "approved", {"flag": "party"}
    )
    # Pension and 护理费 paid through April for a death in March: a month overpaid,
    # offset against the benefits.
    stop = {
        "monthly_pension": "9500.00",
        "nursing_fee": "500.00",
        "paid_through": "2025-04-30",
        "stopped_on": "2025-03-12",
    }
    await finish(client, e, case_id, "stop_pension", "finance", "done", stop)
    recovery = await open_task(e, case_id, "recover_overpayment")
    assert recovery.context["amount"] == "10000.00"
    assert recovery.context["months"] == 1
    await finish(client, e, case_id, "recover_overpayment", "finance", "offset", {})
    # 第十八条: no spouse, parent or child; a sibling of 14 is a survivor, one of
    # 69 is not — the task comes back naming him.
    minor = survivor(
        "黄小军", "sibling", date(2010, 6, 1), "031", allowance_eligible=True
    )
    adult = survivor("黄建业", "sibling", date(1955, 2, 1), "051")
    # A birth date other than the ID number's is refused at once (the age test
    # reads it).
    younger = {**adult, "born_on": "2010-02-01"}
    step = ("survivor_determination", "county", "determined")
    assert (
        await refused(finish(client, e, case_id, *step, {"survivors": [younger]}))
        == "InvalidForm"
    )
    await urgent_work(client, e, case_id, [adult, minor])
    again = await open_task(e, case_id, "survivor_determination")
    assert again.round == 2
    assert again.context["defects"] == ["黄建业: 兄弟姐妹须在逝者死亡时未满18周岁"]
    await finish(
        client,
        e,
        case_id,
        "survivor_determination",
        "county",
        "determined",
        {"survivors": [minor]},
    )
    # The benefits: the claim, the review by a clerk who is also a leader.
    await finish(client, e, case_id, "benefit_claim", "county", "submitted", claim())
    await take_over(client, e, case_id, "benefit_review", "countylead")
    await finish(client, e, case_id, "benefit_review", "countylead", "approve", {})
    approval = await open_task(e, case_id, "benefit_approval")
    q = approval.context
    # By hand (第十五、十六条; death in 2025: the income of 2024):
    #   2 × 54,188.00 + 40 × 8,000.00 = 108,376.00 + 320,000.00 = 428,376.00
    #   the highest honour only (二等功, 15 %): 428,376.00 × 1.15 = 492,632.40
    assert Decimal("428376.00") * Decimal("1.15") == Decimal("492632.4000")
    assert (q["income_year"], q["income"], q["income_multiplier"]) == (
        2024,
        "54188.00",
        2,
    )
    assert (q["base_pay_used"], q["floor_applied"], q["subtotal"]) == (
        "8000.00",
        False,
        "428376.00",
    )
    assert q["honour"] == "third_class_war_merit_or_second_class_merit"
    assert q["increment_rate"] == "0.15" and q["lump_sum"] == "492632.40"
    # The total: + 丧葬费 (the demo's 20,000.00) − the offset (10,000.00).
    assert (q["funeral_grant"], q["overpayment_offset"]) == ("20000.00", "10000.00")
    assert q["total"] == "502632.40"
    assert q["survivor_allowance_monthly"] == "1500.00"
    assert q["reviewed_by"] == "countylead"
    # 双人复核: the reviewer may not approve.
    assert (
        await refused(
            finish(client, e, case_id, "benefit_approval", "countylead", "approved", {})
        )
        == "FourEyes"
    )
    await finish(client, e, case_id, "benefit_approval", "leader", "approved", {})
    paid = {"paid_on": "2025-04-20", "payment_reference": "TX-2025-0420"}
    await finish(client, e, case_id, "benefit_payment", "finance", "paid", paid)
    recall = {"recalled_on": "2025-04-21"}
    await finish(client, e, case_id, "card_recall", "county", "done", recall)
    filed = {"closed_on": "2025-04-25", "location": "县中心档案室A-12"}
    await finish(client, e, case_id, "archive_closure", "county", "done", filed)
    state = await handle.result()
    assert state.status == "closed"
    assert state.rounds["survivor_determination"] == 2
    assert state.rounds["obituary"] == 2
    assert statuses(e, case_id) == [
        "reported",
        "in_progress",
        "benefits",
        "benefits_approval",
        "benefits_paid",
        "closing",
        "closed",
    ]
    row = aftercare_row(e, case_id)
    assert (row.overpayment, row.recovery, row.paid_reference) == (
        "10000.00",
        "offset",
        "TX-2025-0420",
    )
    assert row.benefit_total == "502632.40"
    # The sibling's living allowance: confirmed the first year (then the workflow
    # continues as new), not confirmed the second — stopped.
    allowance_id = retiree_aftercare.survivor_id(case_id, 1)
    confirmed = {"confirmed_on": "2026-04-01"}
    result = await finish(
        client, e, case_id, "allowance_confirmation", "county", "confirmed", confirmed
    )
    assert result.task_id == f"{allowance_id}.allowance_confirmation.1"
    allowance = client.get_workflow_handle(
        allowance_id, result_type=SurvivorAllowanceResult
    )
    outcome = await allowance.result()
    assert (outcome.status, outcome.years_confirmed) == ("stopped", 1)
    (sibling,) = survivor_rows(e, case_id)
    assert (sibling.name, sibling.allowance_status, sibling.years_confirmed) == (
        "黄小军",
        "stopped",
        1,
    )
    assert sibling.monthly == "1500.00"
    assert sibling.stopped_reason == "逾期未确认"
    # The missed year went overdue like any task (the supervisor told), then was
    # withdrawn.
    done, missed = tasks(e, case_id, step="allowance_confirmation")
    assert (done.status, missed.status, missed.overdue) == (
        "completed",
        "withdrawn",
        True,
    )
    told = [n for n in notices(e, case_id, "overdue") if n.task_id == missed.id]
    assert [n.recipient for n in told] == ["manager"]
    runs = await runs_of(client, allowance_id)
    assert len(runs) == 2
    await replays(client, (case_id, None), *((allowance_id, r) for r in runs))
    await record_history(handle, "RetireeAftercareWorkflow", "illness_benefits_paid")
    first = client.get_workflow_handle(allowance_id, run_id=runs[0])
    await record_history(first, "SurvivorAllowanceWorkflow", "confirmed_continued")
    last = client.get_workflow_handle(allowance_id, run_id=runs[-1])
    await record_history(last, "SurvivorAllowanceWorkflow", "lapsed_stopped")


@journey()
async def a_waiver_needs_another_leader_and_a_missing_income_year_reopens_the_claim(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    async with serving(settings, e, client) as (api, login):
        add_staff(e, "financelead", ["finance_staff", "leader"])
        # A death in 2026 before the 2025 income is in the reference table (the demo
        # holds none: no communiqué yet).
        with Session(e) as s:
            for figure in s.exec(
                select(AftercareFigure).where(
                    AftercareFigure.kind == "national_income",
                    AftercareFigure.year == 2025,
                )
            ):
                s.delete(figure)
            s.commit()
        # The standard profile: the family's flag application is due at noon the day
        # before the farewell (here already past: the county leader hears at once).
        applied = death(
            died_on="2026-10-20",
            flag_covering_requested=True,
            flag_basis="family_application",
            farewell_on="2026-10-25",
        )
        handle = await start_aftercare(
            client, settings, e, retiree_aftercare.STANDARD_POLICY, applied
        )
        case_id = handle.id
        await report(client, e, case_id)
        flag = await open_task(e, case_id, "flag_covering")
        assert _utc(flag.due_at) == datetime(
            2026, 10, 24, 4, 0, tzinfo=UTC
        )  # 12:00 CST
        told = await wait_for(
            lambda: [n for n in notices(e, case_id, "overdue") if n.task_id == flag.id]
        )
        assert {n.recipient for n in told} == {"manager"}
        refusal = {"flag": "party", "reason": "不符合覆盖党旗的有关规定"}
        await finish(client, e, case_id, "flag_covering", "leader", "refused", refusal)
        # Paid through November for a death in October: one month overpaid.
        stop = {
            "monthly_pension": "9500.00",
            "paid_through": "2026-11-30",
            "stopped_on": "2026-10-21",
        }
        await finish(client, e, case_id, "stop_pension", "financelead", "done", stop)
        waiver = {"waiver_reason": "遗属生活困难，无力退还"}
        step = ("recover_overpayment", "financelead", "waived")
        await finish(client, e, case_id, *step, waiver)
        asked = await open_task(e, case_id, "waiver_approval")
        assert asked.context["amount"] == "9500.00"
        assert asked.context["reason"] == waiver["waiver_reason"]
        # The one who proposed the waiver may not approve it, though a leader too.
        assert (
            await refused(
                finish(
                    client, e, case_id, "waiver_approval", "financelead", "approved", {}
                )
            )
            == "FourEyes"
        )
        no = {"reason": "请先核实遗属收入情况"}
        await finish(client, e, case_id, "waiver_approval", "leader", "rejected", no)
        again = await open_task(e, case_id, "recover_overpayment")
        assert again.round == 2 and again.context["returned_reasons"] == [no["reason"]]
        await finish(client, e, case_id, *step, waiver)
        await finish(client, e, case_id, "waiver_approval", "leader", "approved", {})
        # The spouse, not on the living allowance: no allowance workflow.
        spouse = survivor("李秀兰", "spouse", date(1952, 5, 3), "022")
        await urgent_work(client, e, case_id, [spouse])
        await finish(
            client,
            e,
            case_id,
            "benefit_claim",
            "county",
            "submitted",
            claim(honours=[]),
        )
        # The claim comes back naming the missing figure, never a guess.
        back = await open_task(e, case_id, "benefit_claim")
        assert back.round == 2
        missing = (
            "缺少2025年全国城镇居民人均可支配收入 (national_income for 2025 missing)"
        )
        assert back.context["defects"] == [missing]
        assert not tasks(e, case_id, step="benefit_review")
        # An admin adds the year's figure; the claim sent again goes through.
        r = await api.post(
            "/api/aftercare/figures",
            json={
                "kind": "national_income",
                "year": 2025,
                "value": "56502.00",
                "source": "国家统计局 2025年国民经济和社会发展统计公报",
            },
            headers=await login("admin"),
        )
        assert r.status_code == 201, r.text
        await finish(
            client,
            e,
            case_id,
            "benefit_claim",
            "county",
            "submitted",
            claim(honours=[]),
        )
        await finish(client, e, case_id, "benefit_review", "county", "approve", {})
        approval = await open_task(e, case_id, "benefit_approval")
        q = approval.context
        # 2 × 56,502.00 + 40 × 8,000.00 = 433,004.00, no honour; + 20,000.00 丧葬费;
        # nothing offset (waived).
        assert (q["income_year"], q["lump_sum"], q["honour"]) == (
            2025,
            "433004.00",
            None,
        )
        assert (q["overpayment_offset"], q["total"]) == ("0.00", "453004.00")
        assert q["survivor_allowance_monthly"] is None
        # Sent back to the review once; reviewed again, approved.
        why = {"reason": "请补充户口注销证明"}
        await finish(client, e, case_id, "benefit_approval", "leader", "rejected", why)
        review = await open_task(e, case_id, "benefit_review")
        assert review.round == 2 and review.context["returned_reasons"] == [
            why["reason"]
        ]
        await finish(client, e, case_id, "benefit_review", "county", "approve", {})
        await finish(client, e, case_id, "benefit_approval", "leader", "approved", {})
        paid = {"paid_on": "2026-11-20", "payment_reference": "TX-2026-1120"}
        await finish(client, e, case_id, "benefit_payment", "financelead", "paid", paid)
        lost = {"reason": "优待证已遗失"}
        await finish(
            client, e, case_id, "card_recall", "county", "not_applicable", lost
        )
        filed = {"closed_on": "2026-11-25", "location": "县中心档案室A-13"}
        await finish(client, e, case_id, "archive_closure", "county", "done", filed)
        state = await handle.result()
        assert state.status == "closed"
        rounds = state.rounds
        assert (rounds["recover_overpayment"], rounds["benefit_claim"]) == (2, 2)
        assert (rounds["benefit_review"], rounds["benefit_approval"]) == (2, 2)
        assert statuses(e, case_id)[2:-2] == [
            "benefits",
            "benefits_approval",
            "benefits",
            "benefits_approval",
            "benefits_paid",
        ]
        row = aftercare_row(e, case_id)
        assert (row.overpayment, row.recovery) == ("9500.00", "waived")
        assert row.benefit_total == "453004.00"
        (wife,) = survivor_rows(e, case_id)
        assert (wife.relation, wife.allowance_eligible, wife.allowance_status) == (
            "spouse",
            False,
            "none",
        )
        await replays(client, (case_id, None))
        await record_history(
            handle, "RetireeAftercareWorkflow", "waiver_missing_income"
        )


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, engine: Engine, client: Client
) -> AsyncIterator[tuple[httpx.AsyncClient, Login]]:
    """The API on the journey's database and Temporal (as tests/api's fixtures), and
    a demo account's bearer headers."""
    app = create_app(settings, engine=engine, temporal_client=client)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as api:

            async def login(username: str) -> dict[str, str]:
                r = await api.post(
                    "/api/auth/token",
                    data={"username": username, "password": DEMO_PASSWORD},
                )
                assert r.status_code == 200, r.text
                return {"Authorization": f"Bearer {r.json()['access_token']}"}

            yield api, login


@journey()
async def a_cadre_out_of_contact_found_dead_starts_the_aftercare_case(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    async with serving(settings, e, client) as (api, login):
        vid, _ = cadre(e)
        county = await login("county")

        async def lost_contact(since: str) -> str:
            r = await api.post(
                "/api/cases",
                json={
                    "process": retiree_aftercare.LOST_CONTACT_KEY,
                    "veteran_id": vid,
                    "data": {"last_contact_on": since, "note": "电话、走访均未联系上"},
                },
                headers=county,
            )
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

        # Out of contact once and found: pay suspended, then resumed.
        found_id = await lost_contact("2025-06-30")
        suspend = {"suspended_from": "2026-01-01"}
        await finish(client, e, found_id, "suspend_pay", "finance", "done", suspend)
        back = {"finding": "本人在外地子女处居住，已恢复联系"}
        await finish(client, e, found_id, "investigate", "county", "found", back)
        up = {"reported_on": "2026-01-10"}
        await finish(client, e, found_id, "report_upward", "county", "reported", up)
        resumed = {"suspended_from": "2026-01-01", "note": "补发暂停期间离退休费"}
        await finish(client, e, found_id, "resume_pay", "finance", "done", resumed)
        found = client.get_workflow_handle(found_id, result_type=CaseState)
        assert (await found.result()).status == "closed"
        assert statuses(e, found_id) == [
            "suspended",
            "investigating",
            "found",
            "closed",
        ]
        # Out of contact again.
        lost_id = await lost_contact("2026-04-30")
        assert lost_id == f"{settings.case_id_prefix}retiree_lost_contact-v{vid}-2"
        # Not a retired cadre: refused before anything starts.
        with Session(e) as s:
            soldier = s.exec(select(Veteran).where(Veteran.name == "张伟")).one()
        r = await api.post(
            "/api/cases",
            json={"process": PROCESS, "veteran_id": soldier.id, "data": death()},
            headers=county,
        )
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["type"] == "category_not_served"
        # Pay suspended; a first investigation finds nothing, the second his death.
        suspend = {"suspended_from": "2026-11-01"}
        await finish(client, e, lost_id, "suspend_pay", "finance", "done", suspend)
        nothing = {"finding": "走访亲属、邻居，仍未联系上"}
        await finish(
            client, e, lost_id, "investigate", "county", "still_missing", nothing
        )
        up = {"reported_on": "2026-11-10"}
        await finish(client, e, lost_id, "report_upward", "county", "reported", up)
        died = {
            "finding": "经公安机关核实已于外地病故",
            "died_on": "2026-09-30",
            "cause": "illness",
            "place": "外省某医院",
        }
        await finish(client, e, lost_id, "investigate", "county", "died", died)
        await finish(client, e, lost_id, "report_upward", "county", "reported", up)
        lost = client.get_workflow_handle(lost_id, result_type=CaseState)
        assert (await lost.result()).status == "closed"
        assert statuses(e, lost_id) == [
            "suspended",
            "investigating",
            "died",
            "closed",
        ]
        # The death found starts the aftercare case under its business key.
        case_id = f"{settings.case_id_prefix}{PROCESS}-v{vid}"
        report = await open_task(e, case_id, "report_to_bureau")
        assert report.context["died_on"] == "2026-09-30"
        assert report.context["reported_by"] == "失联调查"
        # A second death report for him: 409 naming the case.
        r = await api.post(
            "/api/cases",
            json={"process": PROCESS, "veteran_id": vid, "data": death()},
            headers=county,
        )
        assert r.status_code == 409, r.text
        assert r.json()["detail"]["case_id"] == case_id
        aftercare = client.get_workflow_handle(case_id)
        await aftercare.terminate("test over")
        await replays(client, (found_id, None), (lost_id, None), (case_id, None))
        await record_history(lost, "RetireeLostContactWorkflow", "missing_then_died")
        await record_history(found, "RetireeLostContactWorkflow", "found_pay_resumed")


async def test_a_death_from_illness_through_the_benefits_paid_to_the_allowance_stopped(
    journeys: Journeys,
) -> None:
    await journeys(
        a_death_from_illness_through_the_benefits_paid_to_the_allowance_stopped
    )


async def test_a_waiver_needs_another_leader_and_a_missing_income_year_reopens_the_claim(
    journeys: Journeys,
) -> None:
    await journeys(
        a_waiver_needs_another_leader_and_a_missing_income_year_reopens_the_claim
    )


async def test_a_cadre_out_of_contact_found_dead_starts_the_aftercare_case(
    journeys: Journeys,
) -> None:
    await journeys(a_cadre_out_of_contact_found_dead_starts_the_aftercare_case)
