"""A year of the annual registration review (001 第九条) on the real dev server: the
campaign opens one case per veteran on monthly pay; one passes on a clerk's 帮办 report,
one corrects and resubmits online, one is interviewed, one never reports and reaches
the non-submission decision after reminders; a veteran registered during the window
joins; the 台账 holds one line per veteran and year."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from models.contracts import (
    Actor,
    CampaignInput,
    CampaignProgress,
    CaseState,
    CompleteTaskInput,
    OpenCampaignInput,
    ProcessPolicy,
    TaskPolicy,
    TaskResult,
)
from models.idnumber import make_id_number
from models.processes import annual_review
from models.settings import Settings
from models.tables import AnnualReviewLedger, Campaign, Case, OrgUnit, Veteran
from tests.support import (
    actor,
    notices,
    open_task,
    record_history,
    tasks,
    wait_for,
)
from tests.workflows.conftest import RecordingAdapter
from tests.workflows.journeys import Journeys, Registry

# SQLite only (README, Testing): the review's SQL runs on both databases in the
# activity, API and page tests; here the subject is the workflows and their timers.
pytestmark = pytest.mark.asyncio(loop_scope="session")

# The journeys of this file wait on their timers (report windows of seconds): they run
# side by side, each with its own database, settings and worker
# (tests/workflows/journeys.py).
journey = Registry()


journeys = journey.fixture()


REPORT = {
    "party_life": "按时参加社区党支部组织生活",
    "associations": ["示范县退役军人志愿者协会"],
    "travel_abroad": [
        {
            "departed_on": "2026-05-01",
            "returned_on": "2026-05-08",
            "destination": "泰国",
        }
    ],
    "rewards_punishments": "无",
    "declaration": True,
}


def review_policy(window: float) -> ProcessPolicy:
    """Seconds instead of months: the window, reminders, the party opinion's wait."""
    return ProcessPolicy(
        name="test",
        default=TaskPolicy(duration=timedelta(minutes=10)),
        timers={
            "window": timedelta(seconds=window),
            "party_opinion_wait": timedelta(seconds=2),
            "link_ttl": timedelta(hours=1),
            "rescan": timedelta(seconds=2),
        },
        reminder_offsets=[
            timedelta(seconds=window * 0.6),
            timedelta(seconds=window * 0.3),
        ],
    )


def add_veteran(engine: Engine, name: str, seq: str, *, party: bool = False) -> int:
    with Session(engine) as s:
        village = s.exec(select(OrgUnit).where(OrgUnit.level == "village")).first()
        assert village is not None
        v = Veteran(
            name=name,
            id_number=make_id_number("370102", date(1980, 1, 1), seq),
            gender="男",
            phone="13900000000",
            category=annual_review.CATEGORY,
            party_member=party,
            org_unit_id=village.id or 0,
        )
        s.add(v)
        s.commit()
        return v.id or 0


def county_actor(engine: Engine, username: str, roles: list[str]) -> Actor:
    with Session(engine) as s:
        county = s.exec(select(OrgUnit).where(OrgUnit.level == "county")).one()
        return Actor(
            username=username,
            roles=roles,
            org_unit_id=county.id or 0,
            org_path=county.path,
        )


async def finish(
    client: Client,
    engine: Engine,
    case_id: str,
    step: str,
    who: Actor,
    outcome: str,
    data: dict[str, Any],
) -> TaskResult:
    task = await open_task(engine, case_id, step, timeout=30)
    handle = client.get_workflow_handle(case_id)
    return await handle.execute_update(
        "complete_task",
        CompleteTaskInput(task_id=task.id, actor=who, outcome=outcome, data=data),
        result_type=TaskResult,
    )


def ledger(engine: Engine, vid: int) -> AnnualReviewLedger | None:
    with Session(engine) as s:
        return s.exec(
            select(AnnualReviewLedger).where(AnnualReviewLedger.veteran_id == vid)
        ).first()


async def open_campaign(
    client: Client, settings: Settings, year: int, window: float
) -> WorkflowHandle[Any, Any]:
    cid = annual_review.campaign_id(year, settings.case_id_prefix)
    return await client.start_workflow(
        "AnnualReviewCampaignWorkflow",
        CampaignInput(
            campaign_id=cid,
            year=year,
            opened_by="manager",
            case_id_prefix=settings.case_id_prefix,
            policy=review_policy(window),
            batch_size=2,
        ),
        id=cid,
        task_queue=settings.task_queue,
    )


@journey()
async def a_year_of_reviews(
    client: Client,
    settings: Settings,
    demo_engine: Engine,
    adapter: RecordingAdapter,
) -> None:
    engine = demo_engine
    with Session(engine) as s:
        liu = s.exec(select(Veteran).where(Veteran.name == "刘洋")).one().id or 0
    online = add_veteran(engine, "孙在线", "101")
    talk = add_veteran(engine, "周约谈", "102", party=True)
    silent = add_veteran(engine, "吴未报", "103")
    year = 2031
    campaign = await open_campaign(client, settings, year, window=24)

    def case_of(vid: int) -> str:
        return annual_review.review_case_id(year, vid, settings.case_id_prefix)

    # Batches of two: four veterans, every case opened, each with its link notice.
    for vid in (liu, online, talk, silent):
        await open_task(engine, case_of(vid), "submit_report", timeout=30)

    async def opened() -> int:
        progress = await campaign.query("progress", result_type=CampaignProgress)
        return progress.opened

    for _ in range(100):  # the last batch's count lands just after its cases start
        if await opened() == 4:
            break
        await asyncio.sleep(0.1)
    assert await opened() == 4

    def row_counts_four() -> Campaign | None:
        with Session(engine) as s:
            row = s.get(Campaign, campaign.id)
            return row if row is not None and row.cases_opened == 4 else None

    await wait_for(row_counts_four)
    with Session(engine) as s:
        case = s.get(Case, case_of(liu))
        assert case is not None and case.campaign_id == campaign.id
        assert case.status == "awaiting_submission"
    await wait_for(lambda: notices(engine, case_of(online), "annual_review_link"))

    # A veteran registered during the window joins at the next look (signal: at once).
    late = add_veteran(engine, "郑新增", "104")
    await campaign.signal("rescan")
    await open_task(engine, case_of(late), "submit_report", timeout=30)

    village = actor(engine, "village")
    county = actor(engine, "county")
    leader = county_actor(engine, "leader_t", ["leader"])

    # 1. 刘洋: the village clerk reports for him (帮办); the county passes it.
    done = await finish(
        client, engine, case_of(liu), "submit_report", village, "submitted", REPORT
    )
    assert done.completed_by == "village"
    review = await open_task(engine, case_of(liu), "county_review")
    assert review.context["travel_abroad_count"] == 1
    assert "travel_abroad" not in review.context  # 出入境 stays in the report task
    await finish(client, engine, case_of(liu), "county_review", county, "pass", {})

    # 2. 孙在线: reports online; the review lists every defect at once; the second
    # round goes back to the veteran with a new link; the corrected report passes.
    me = Actor(username=f"veteran:{online}", roles=["veteran"], org_path="/")
    await finish(
        client, engine, case_of(online), "submit_report", me, "submitted", REPORT
    )
    await finish(
        client,
        engine,
        case_of(online),
        "county_review",
        county,
        "correct",
        {"defects": ["出入境记录缺少返回日期的证明", "奖惩情况须写明年度"]},
    )
    second = await open_task(engine, case_of(online), "submit_report")
    assert second.round == 2 and second.context["defects"][0].startswith("出入境")
    await wait_for(lambda: notices(engine, case_of(online), "annual_review_correction"))
    # Another veteran's link cannot submit this report.
    other = Actor(username=f"veteran:{liu}", roles=["veteran"], org_path="/")
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await finish(
            client, engine, case_of(online), "submit_report", other, "submitted", REPORT
        )
    assert "该链接不能办理" in str(refused.value.cause)
    await finish(
        client, engine, case_of(online), "submit_report", me, "submitted", REPORT
    )
    await finish(client, engine, case_of(online), "county_review", county, "pass", {})

    # 3. 周约谈 (a party member): the review does not wait past the opinion's wait;
    # a 苗头性问题 leads to an interview by the centre's leader, then review again.
    await finish(
        client, engine, case_of(talk), "submit_report", village, "submitted", REPORT
    )
    await finish(
        client,
        engine,
        case_of(talk),
        "county_review",
        county,
        "interview",
        {"concerns": "多次出境未按规定报告"},
    )
    await finish(
        client,
        engine,
        case_of(talk),
        "interview",
        leader,
        "done",
        {"held_on": "2031-02-01", "interviewer": "王主任", "record": "已约谈提醒"},
    )
    await finish(client, engine, case_of(talk), "county_review", county, "pass", {})

    scenarios = {liu: "assisted_pass", online: "online_correction", talk: "interview"}
    for vid in (liu, online, talk):
        handle = client.get_workflow_handle(case_of(vid))
        state = CaseState.model_validate(await handle.result())
        await record_history(handle, "AnnualReviewWorkflow", scenarios[vid])
        assert state.status == "closed"
        line = ledger(engine, vid)
        assert line is not None and line.result == "passed" and line.year == year
    corrected = ledger(engine, online)
    assert corrected is not None and corrected.rounds == 2
    party = tasks(engine, case_of(talk), step="party_opinion")
    assert party and party[0].status == "withdrawn"  # never given: not waited for

    # 4. 吴未报: reminders before the window's end, then overdue and a decision task.
    decision = await open_task(engine, case_of(silent), "non_submission", timeout=40)
    assert decision.candidate_role == "county_staff"
    reminders = await wait_for(
        lambda: [
            n
            for n in [notices(engine, case_of(silent), "annual_review_reminder")]
            if len(n) == 2
        ]
    )
    assert len(reminders[0]) == 2
    with Session(engine) as s:
        case = s.get(Case, case_of(silent))
        assert case is not None and case.status == "overdue"
    # The overdue mark (the engine's escalation at the due time) lands beside it.
    await wait_for(
        lambda: tasks(engine, case_of(silent), step="submit_report")[0].overdue
    )
    await finish(
        client,
        engine,
        case_of(silent),
        "non_submission",
        county,
        "record_non_submission",
        {"reason": "多次联系未果"},
    )
    state = CaseState.model_validate(
        await client.get_workflow_handle(case_of(silent)).result()
    )
    assert state.status == "closed"
    assert tasks(engine, case_of(silent), step="submit_report")[0].status == "withdrawn"
    await record_history(
        client.get_workflow_handle(case_of(silent)),
        "AnnualReviewWorkflow",
        "non_submission_recorded",
    )
    line = ledger(engine, silent)
    assert line is not None and line.result == "non_submission"
    assert line.recorded_by == "county"

    # The campaign closes at the window's end; the late veteran's case stays open.
    final = CampaignProgress.model_validate(await campaign.result())
    assert final.status == "closed" and final.opened == 5
    await record_history(campaign, "AnnualReviewCampaignWorkflow", "campaign_rescan")


@journey()
async def extension_moves_the_deadline(
    client: Client,
    settings: Settings,
    demo_engine: Engine,
    adapter: RecordingAdapter,
) -> None:
    """Extend with a date: the report is due then, no longer overdue; a report that
    comes while a decision is pending withdraws the decision."""
    engine = demo_engine
    vid = add_veteran(engine, "钱延期", "201")
    with Session(engine) as s:  # only this veteran in the category for this test
        for v in s.exec(select(Veteran).where(Veteran.id != vid)).all():
            v.category = "自主就业退役士兵"
            s.add(v)
        s.commit()
    year = 2032
    await open_campaign(client, settings, year, window=4)
    case_id = annual_review.review_case_id(year, vid, settings.case_id_prefix)
    county = actor(engine, "county")
    await finish(
        client,
        engine,
        case_id,
        "non_submission",
        county,
        "extend",
        {"extend_until": "2099-12-31"},
    )

    def moved() -> bool:
        # The new due time and the overdue mark lifted (the escalation that set the
        # mark may land after the clerk's decision: wait for both).
        (report,) = tasks(engine, case_id, step="submit_report")
        return (
            report.due_at is not None
            and report.due_at.year == 2099
            and (not report.overdue)
        )

    assert await wait_for(moved)

    def case_status() -> str | None:
        with Session(engine) as s:
            case = s.get(Case, case_id)
            return case.status if case else None

    # The status row and the new due time are written by different activities (a
    # local write and the recompute): wait for each rather than read one after the other.
    assert await wait_for(lambda: case_status() == "awaiting_submission")
    village = actor(engine, "village")
    await finish(client, engine, case_id, "submit_report", village, "submitted", REPORT)
    await finish(
        client, engine, case_id, "county_review", actor(engine, "county"), "pass", {}
    )
    handle = client.get_workflow_handle(case_id)
    await handle.result()
    await record_history(handle, "AnnualReviewWorkflow", "extended_then_passed")


@journey()
async def the_opener_opens_one_campaign(
    client: Client,
    settings: Settings,
    demo_engine: Engine,
    adapter: RecordingAdapter,
) -> None:
    """The schedule's action, run twice for the same year, opens one campaign."""
    policy = review_policy(3)
    runs = []
    for i in range(2):
        opener = await client.start_workflow(
            "OpenAnnualReviewCampaignWorkflow",
            OpenCampaignInput(
                year=2033, case_id_prefix=settings.case_id_prefix, policy=policy
            ),
            id=f"{settings.case_id_prefix}open-annual-review-{i}",
            task_queue=settings.task_queue,
        )
        runs.append(await opener.result())
        if i == 0:
            await record_history(
                opener, "OpenAnnualReviewCampaignWorkflow", "opens_the_year"
            )
    cid = annual_review.campaign_id(2033, settings.case_id_prefix)
    assert runs == [cid, cid]

    def campaigns() -> list[Campaign]:
        with Session(demo_engine) as s:
            return list(s.exec(select(Campaign).where(Campaign.year == 2033)).all())

    rows = await wait_for(campaigns)
    assert [r.id for r in rows] == [cid]


async def test_a_year_of_reviews(journeys: Journeys) -> None:
    await journeys(a_year_of_reviews)


async def test_extension_moves_the_deadline(journeys: Journeys) -> None:
    await journeys(extension_moves_the_deadline)


async def test_the_opener_opens_one_campaign(journeys: Journeys) -> None:
    await journeys(the_opener_opens_one_campaign)
