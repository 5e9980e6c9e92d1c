"""The complaint closed loop on the real Temporal dev server, its spans in seconds.

A bad rating at 东关村: the rated clerk recused, verified valid, rectified as a complex
problem to a new deadline the leader approved, followed up unsatisfied (a reopen),
rectified again, followed up satisfied, the improvement left overdue until 督办 opens
at 城关镇 (withdrawn when the improvement is done), closed. A malicious rating upheld
on appeal at the unit above: the rating no longer counts. A petition at the county:
accepted, handling extended once by 10 days with the leader's approval (a second
extension refused), replied, 复查 at the city on request (a request before the reply
refused), 复核 on request with a hearing whose time moves the deadline, closed final.
A petition received before National Day under the standard profile: 15 calendar days,
holidays included. A petition whose request window passes: closed. Every history
replays (003 §9.2.1; 信访工作条例 第二十三、三十四至三十六、四十条)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer

from models.complaint_contracts import PetitionRequestAccepted, PetitionRequestInput
from models.contracts import CaseState, ProcessPolicy, StartCaseInput
from models.processes import complaint
from models.processes.complaint import ComplaintCaseData, PetitionRequest
from models.search_attributes import case_search_attributes
from models.settings import Settings
from models.tables import Case, Complaint, OrgUnit, Rating
from models.workdays import TZ, WorkCalendar
from tests.conftest import DB_BACKENDS
from tests.support import (
    actor,
    complete,
    open_task,
    record_history,
    tasks,
    wait_for,
)
from tests.workflows.conftest import RecordingAdapter
from tests.workflows.journeys import Journeys, Registry
from tests.workflows.startup_loan_support import refused, statuses
from workflows.complaint import ComplaintWorkflow
from workflows.registry import ALL_WORKFLOWS

pytestmark = pytest.mark.timeout(60)

# The two journeys of this file wait on their timers (spans of seconds): they run side
# by side on each database, each with its own database, settings and worker
# (tests/workflows/journeys.py).
journey = Registry()


journeys = journey.fixture()


Handle = WorkflowHandle[ComplaintWorkflow, CaseState]
TODAY = date(2026, 11, 30)


def policy(*, window: float = 600.0, **seconds: float) -> ProcessPolicy:
    """The fast profile, with the named steps due after that many seconds and the
    复查/复核 request window of ``window`` seconds."""
    fast = complaint.FAST_POLICY
    steps = {
        step: fast.default.model_copy(update={"duration": timedelta(seconds=s)})
        for step, s in seconds.items()
    }
    return fast.model_copy(
        update={
            "name": "test",
            "steps": steps,
            "timers": {"request_window": timedelta(seconds=window)},
        }
    )


def unit(engine: Engine, code: str) -> OrgUnit:
    with Session(engine) as s:
        return s.exec(select(OrgUnit).where(OrgUnit.code == code)).one()


async def start(
    client: Client,
    settings: Settings,
    engine: Engine,
    code: str,
    data: ComplaintCaseData,
    case_policy: ProcessPolicy,
) -> Handle:
    """A complaint case at the handling unit ``code``, started as the API starts it."""
    at = unit(engine, code)
    case_id = f"{settings.case_id_prefix}complaint-{uuid.uuid4().hex[:8]}"
    return await client.start_workflow(
        ComplaintWorkflow.run,
        complaint_start(case_id, at, data, case_policy),
        id=case_id,
        task_queue=settings.task_queue,
        search_attributes=case_search_attributes(complaint.PROCESS_KEY, at.path),
    )


def complaint_start(
    case_id: str, at: OrgUnit, data: ComplaintCaseData, case_policy: ProcessPolicy
) -> StartCaseInput:
    return StartCaseInput(
        case_id=case_id,
        process=complaint.PROCESS_KEY,
        veteran_id=0,
        org_unit_id=at.id,
        started_by="county",
        data=data.model_dump(mode="json"),
        policy=case_policy,
        spec_version=complaint.SPEC.version,
    )


def row(engine: Engine, case_id: str) -> Complaint:
    with Session(engine) as s:
        found = s.get(Complaint, case_id)
        assert found is not None
        return found


def case_status(engine: Engine, case_id: str) -> str:
    with Session(engine) as s:
        case = s.get(Case, case_id)
        return case.status if case else ""


def _utc(at: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive (stored in UTC)."""
    return at.replace(tzinfo=UTC) if at and at.tzinfo is None else at


def ledger_stages(engine: Engine, case_id: str) -> list[str]:
    return [str(line["stage"]) for line in row(engine, case_id).ledger]


async def request(
    handle: Handle, engine: Engine, username: str, kind: str, after: str
) -> PetitionRequestAccepted:
    """Staff record the petitioner's 复查/复核 request once the case shows ``after``
    (replied / reviewed)."""
    await wait_for(lambda: case_status(engine, handle.id) == after)
    return await handle.execute_update(
        ComplaintWorkflow.record_request,
        PetitionRequestInput(
            actor=actor(engine, username),
            request=PetitionRequest(
                kind=kind,
                received_on=TODAY,
                reason="对处理意见不服",
            ),
        ),
    )


async def replays(client: Client, *handles: Handle) -> None:
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter)
    for handle in handles:
        await replayer.replay_workflow(await handle.fetch_history())


# --- 差评: 003 §9.2.1 ----------------------------------------------------------------


def bad_rating(**changes: Any) -> ComplaintCaseData:
    data: dict[str, Any] = {
        "channel": "rating",
        "category": "attitude",
        "matter": "窗口人员态度生硬",
        "received_on": TODAY.isoformat(),
        "grade": "dissatisfied",
        "rated_step_title": "信息采集",
        "rated_clerk": "village",
        "recused": ["village"],
    }
    return ComplaintCaseData.model_validate({**data, **changes})


async def bad_review_reopened(client: Client, settings: Settings, e: Engine) -> Handle:
    """Verify → complex rectify (new deadline approved) → rectify → follow-up
    unsatisfied → rectify → satisfied → improve (overdue: 督办 at the township)."""
    handle = await start(
        client, settings, e, "sfx-cgz-dgc", bad_rating(), policy(improve=1.0)
    )
    case_id = handle.id
    verify = await open_task(e, case_id, "verify")
    dongguan, township = unit(e, "sfx-cgz-dgc"), unit(e, "sfx-cgz")
    assert (verify.org_unit_id, verify.candidate_role) == (dongguan.id, "village_staff")
    assert verify.context["rated_clerk"] == "village"
    facts = {"contacted_on": TODAY.isoformat(), "facts": "经核实，态度问题属实"}
    # 回避: the rated clerk may not verify the complaint about them.
    assert (
        await refused(complete(handle, e, "verify", "village", "valid", facts))
        == "Recused"
    )
    await complete(handle, e, "verify", "village2", "valid", facts)
    # A complex problem: into the 台账 with a new deadline, the leader approves.
    deadline = date(2027, 1, 15)
    complex_ = {"new_deadline": deadline.isoformat(), "reason": "需协调县局培训"}
    await complete(handle, e, "rectify", "village2", "complex", complex_)
    asked = await open_task(e, case_id, "rectify_extension")
    assert asked.context["new_deadline"] == deadline.isoformat()
    await complete(handle, e, "rectify_extension", "leader", "approved", {})
    again = await open_task(e, case_id, "rectify")
    assert again.round == 2
    # The end of 2027-01-15 in Shanghai.
    assert _utc(again.due_at) == datetime(2027, 1, 15, 16, 0, tzinfo=UTC)
    fixed = {"measures": "约谈当事人，调整窗口岗位"}
    await complete(handle, e, "rectify", "village2", "rectified", fixed)
    visit = {"contacted_on": TODAY.isoformat(), "method": "phone"}
    await complete(
        handle, e, "follow_up", "village2", "unsatisfied", {**visit, "feedback": "未改"}
    )
    third = await open_task(e, case_id, "rectify")
    assert (third.round, third.context["reopens"]) == (3, 1)
    await complete(handle, e, "rectify", "village2", "rectified", fixed)
    await complete(
        handle, e, "follow_up", "village2", "satisfied", {**visit, "feedback": "满意"}
    )
    # The improvement goes overdue: 督办 at the unit above until it is done.
    supervise = await open_task(e, case_id, "supervise")
    assert (supervise.org_unit_id, supervise.candidate_role) == (
        township.id,
        "township_staff",
    )
    assert supervise.context["overdue_step"] == "改进提升"
    measure = {"category": "training", "measure": "全员服务礼仪培训"}
    await complete(handle, e, "improve", "village2", "done", measure)
    state = await handle.result()
    assert state.status == "closed"
    assert state.rounds == {
        "verify": 1,
        "rectify": 3,
        "rectify_extension": 1,
        "follow_up": 2,
        "improve": 1,
        "supervise": 1,
    }
    (sup,) = tasks(e, case_id, step="supervise")
    assert sup.status == "withdrawn"
    (improve,) = tasks(e, case_id, step="improve")
    assert (improve.status, improve.overdue) == ("completed", True)
    assert statuses(e, case_id) == [
        "verifying",
        "rectifying",
        "extension",
        "rectifying",
        "follow_up",
        "rectifying",
        "follow_up",
        "improving",
        "concluded",
        "closed",
    ]
    done = row(e, case_id)
    assert (done.stage, done.reopens, done.final) == ("concluded", 1, False)
    assert done.closed_at is not None
    assert ledger_stages(e, case_id) == [
        "registered",
        "extension",
        "rectified",
        "reopened",
        "rectified",
        "improving",
        "concluded",
    ]
    lines = [line["text"] for line in done.ledger]
    assert lines[1].startswith("复杂问题列入台账，限期至 2027-01-15")
    assert lines[5] == "改进提升(人员培训): 全员服务礼仪培训"
    assert [line["key"] for line in done.ledger] == [str(n) for n in range(1, 8)]
    return handle


async def malicious_appeal_upheld(
    client: Client, settings: Settings, e: Engine
) -> Handle:
    """恶意差评: the unit appeals, the unit above upholds it, the rating uncounted."""
    dongguan = unit(e, "sfx-cgz-dgc")
    with Session(e) as s:
        rating = Rating(
            link_id=f"test-{uuid.uuid4().hex[:8]}",
            process="return_home",
            step="info_collection",
            org_unit_id=dongguan.id or 0,
            org_path=dongguan.path,
            clerk="village",
            grade="very_dissatisfied",
        )
        s.add(rating)
        s.commit()
        rating_id = rating.id
    data = bad_rating(grade="very_dissatisfied", rating_id=rating_id)
    handle = await start(client, settings, e, "sfx-cgz-dgc", data, policy())
    case_id = handle.id
    facts = {"contacted_on": TODAY.isoformat(), "facts": "评价人系因私怨恶意差评"}
    await complete(handle, e, "verify", "village2", "malicious", facts)
    appeal = await open_task(e, case_id, "appeal_review")
    assert appeal.org_unit_id == unit(e, "sfx-cgz").id
    assert appeal.context["finding"] == "malicious"
    opinion = {"opinion": "经调查，申诉成立"}
    await complete(handle, e, "appeal_review", "township", "appeal_upheld", opinion)
    state = await handle.result()
    assert state.status == "closed"
    assert statuses(e, case_id) == ["verifying", "appeal", "appeal_upheld", "closed"]
    done = row(e, case_id)
    assert (done.stage, done.rating_id) == ("appeal_upheld", rating_id)
    assert ledger_stages(e, case_id) == ["registered", "appeal_upheld", "appeal_upheld"]
    with Session(e) as s:
        counted = s.get(Rating, rating_id)
        assert counted is not None and counted.counted is False
    assert not tasks(e, case_id, step="rectify")
    return handle


@journey()
async def a_bad_rating_rectified_twice_and_a_malicious_one_upheld_on_appeal(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    reopened, upheld = await asyncio.gather(
        bad_review_reopened(client, settings, e),
        malicious_appeal_upheld(client, settings, e),
    )
    await replays(client, reopened, upheld)
    await record_history(reopened, "ComplaintWorkflow", "bad_review_reopened")
    await record_history(upheld, "ComplaintWorkflow", "malicious_appeal_upheld")


# --- 信访: 信访工作条例 -------------------------------------------------------------


def petition(**changes: Any) -> ComplaintCaseData:
    data: dict[str, Any] = {
        "channel": "petition",
        "kind": "claim",
        "category": "benefits",
        "matter": "请求落实优抚待遇",
        "received_on": TODAY.isoformat(),
    }
    return ComplaintCaseData.model_validate({**data, **changes})


ACCEPT = {"notice_no": "示信告〔2026〕1号", "notified_on": TODAY.isoformat()}


def opinion(n: str) -> dict[str, str]:
    return {"document_no": f"示信〔2026〕{n}号", "opinion": "依规落实"}


async def petition_reviewed_and_rechecked(
    client: Client, settings: Settings, e: Engine
) -> Handle:
    """Accepted, extended once, replied; 复查 at the city; 复核 with a hearing."""
    handle = await start(client, settings, e, "sfx", petition(), policy())
    case_id = handle.id
    city = unit(e, "sfs")
    await complete(handle, e, "acceptance_decision", "county", "accept", ACCEPT)
    # 第三十四条: one extension with the leader's approval; the deadline moves by it.
    first = await open_task(e, case_id, "handling")
    extend = {"extension_days": 10, "reason": "需调取外省档案"}
    await complete(handle, e, "handling", "county", "request_extension", extend)
    asked = await open_task(e, case_id, "handling_extension")
    assert asked.context["days"] == 10
    await complete(handle, e, "handling_extension", "leader", "approved", {})
    second = await open_task(e, case_id, "handling")
    assert second.round == 2 and second.context["extended"] is True
    first_due = _utc(first.due_at)
    assert first_due is not None
    assert _utc(second.due_at) == first_due + timedelta(days=10)
    assert (
        await refused(
            complete(handle, e, "handling", "county", "request_extension", extend)
        )
        == "InvalidOutcome"
    )
    # No 复查 request before the written reply.
    assert (
        await refused(request(handle, e, "county", "review", "handling"))
        == "NotAwaitingRequest"
    )
    await complete(handle, e, "handling", "county", "supported", opinion("1"))
    accepted = await request(handle, e, "county", "review", "replied")
    assert (accepted.case_id, accepted.kind) == (case_id, "review")
    review = await open_task(e, case_id, "review")
    assert (review.org_unit_id, review.candidate_role) == (city.id, "city_staff")
    await complete(handle, e, "review", "city", "upheld", opinion("2"))
    await request(handle, e, "county", "recheck", "reviewed")
    # 第三十六条: a hearing's time is not counted; the 复核 deadline moves by it.
    before = await open_task(e, case_id, "recheck")
    assert before.org_unit_id == city.id
    hearing = {"reason": "事实争议较大，组织听证"}
    await complete(handle, e, "recheck", "city", "hearing", hearing)
    held_task = await open_task(e, case_id, "hearing")
    assert held_task.context["reason"] == hearing["reason"]
    await asyncio.sleep(1.2)
    held = {"held_on": TODAY.isoformat(), "summary": "听证会各方陈述意见"}
    await complete(handle, e, "hearing", "city", "held", held)
    after = await open_task(e, case_id, "recheck")
    paused = row(e, case_id).paused_seconds
    assert paused >= 1
    before_due, after_due = _utc(before.due_at), _utc(after.due_at)
    assert before_due is not None and after_due is not None
    moved = after_due - before_due
    assert timedelta(seconds=paused) <= moved < timedelta(seconds=paused + 1)
    await complete(handle, e, "recheck", "city", "upheld", opinion("3"))
    state = await handle.result()
    assert state.status == "closed"
    assert statuses(e, case_id) == [
        "acceptance",
        "handling",
        "extension",
        "handling",
        "replied",
        "review",
        "reviewed",
        "recheck",
        "hearing",
        "recheck",
        "concluded",
        "closed",
    ]
    done = row(e, case_id)
    assert (done.stage, done.final, done.extended_days) == ("concluded", True, 10)
    assert ledger_stages(e, case_id) == [
        "registered",
        "handling",
        "handling",
        "replied",
        "replied",
        "reviewed",
        "reviewed",
        "hearing",
        "recheck",
        "recheck",
        "concluded",
    ]
    return handle


async def received_before_national_day(
    client: Client, settings: Settings, e: Engine
) -> Handle:
    """第二十三条 under the standard profile: 15 days from 2026-09-28 are 15 calendar
    days, the National Day holiday included — not 15 working days."""
    data = petition(received_on="2026-09-28")
    handle = await start(client, settings, e, "sfx", data, complaint.STANDARD_POLICY)
    task = await open_task(e, handle.id, "acceptance_decision")
    end_of_13th = datetime(2026, 10, 14, tzinfo=TZ)  # 2026-10-13 24:00 in Shanghai
    assert _utc(task.due_at) == end_of_13th
    working = WorkCalendar().add_working_days(datetime(2026, 9, 28, tzinfo=TZ), 15)
    assert working.astimezone(TZ).date() == date(2026, 10, 23)
    assert working > end_of_13th
    await handle.terminate("the deadline is checked")
    return handle


async def request_window_passed(
    client: Client, settings: Settings, e: Engine
) -> Handle:
    """No 复查 request within the window: the case closes (not final: no 复核)."""
    handle = await start(client, settings, e, "sfx", petition(), policy(window=1.0))
    await complete(handle, e, "acceptance_decision", "county", "accept", ACCEPT)
    await complete(handle, e, "handling", "county", "explained", opinion("9"))
    state = await handle.result()
    assert state.status == "closed"
    assert statuses(e, handle.id) == [
        "acceptance",
        "handling",
        "replied",
        "concluded",
        "closed",
    ]
    done = row(e, handle.id)
    assert (done.stage, done.final) == ("concluded", False)
    assert not tasks(e, handle.id, step="review")
    return handle


@journey()
async def petitions_on_calendar_days_extended_reviewed_rechecked_or_closed(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    rechecked, holiday, lapsed = await asyncio.gather(
        petition_reviewed_and_rechecked(client, settings, e),
        received_before_national_day(client, settings, e),
        request_window_passed(client, settings, e),
    )
    await replays(client, rechecked, holiday, lapsed)
    await record_history(
        rechecked, "ComplaintWorkflow", "petition_extended_review_recheck_hearing"
    )
    await record_history(lapsed, "ComplaintWorkflow", "petition_request_window_passed")


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_a_bad_rating_rectified_twice_and_a_malicious_one_upheld_on_appeal(
    journeys: Journeys, backend: str
) -> None:
    await journeys(
        a_bad_rating_rectified_twice_and_a_malicious_one_upheld_on_appeal, backend
    )


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_petitions_on_calendar_days_extended_reviewed_rechecked_or_closed(
    journeys: Journeys, backend: str
) -> None:
    await journeys(
        petitions_on_calendar_days_extended_reviewed_rechecked_or_closed, backend
    )
