"""The return-home process on a real Temporal dev server, driven as the API drives it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowUpdateFailedError

from models.contracts import (
    ClaimTaskInput,
    CompleteTaskInput,
    ProcessPolicy,
    ReassignTaskInput,
    TaskPolicy,
)
from models.processes.return_home import ONE_STOP_DESKS, ONE_STOP_KEYS
from models.settings import Settings
from models.tables import RatingLink
from tests.conftest import DB_BACKENDS
from tests.support import (
    actor,
    complete,
    desk_clerk,
    notices,
    open_task,
    record_history,
    set_absent,
    tasks,
    wait_for,
)
from tests.workflows.conftest import RecordingAdapter, start_case, veteran_id
from tests.workflows.journeys import Journeys, Registry
from workflows.return_home import ReturnHomeWorkflow

# Each test's case runs as a journey of its own (tests/workflows/journeys.py): all of
# them start with the module, side by side, each with its own database (on each
# backend), settings and worker, and each test awaits its own.
journey = Registry()


journeys = journey.fixture()


DESK_FORM = {"reference": "R-1"}
# Each one-stop desk is worked by its own department's clerk (003 §6.2.2).
DESK_ROLE = {key: role for key, _title, role in ONE_STOP_DESKS}


@journey()
async def full_case_with_correction_round_and_level_return(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    handle = await start_case(client, settings, veteran_id(e, party_member=True))
    # Archive review returns with the complete list at once (一次性告知, 003 §7.6).
    await complete(
        handle,
        e,
        "archive_review",
        "county",
        "return_for_correction",
        {
            "missing_materials": ["党组织关系介绍信", "户口簿"],
            "defective_materials": ["退出现役证件(复印件不清晰)"],
        },
    )
    supplement = await open_task(e, handle.id, "supplement_materials")
    assert supplement.context["requested_materials"] == [
        "党组织关系介绍信",
        "户口簿",
        "退出现役证件(复印件不清晰)",
    ]
    request = await wait_for(lambda: notices(e, handle.id, "correction_request"))
    assert request[0].recipient_type == "veteran"
    assert all(
        m in request[0].body for m in ["党组织关系介绍信", "户口簿", "退出现役证件"]
    )
    await complete(
        handle,
        e,
        "supplement_materials",
        "village",
        "submitted",
        {"received_materials": ["党组织关系介绍信", "户口簿", "退出现役证件"]},
    )
    second = await open_task(e, handle.id, "archive_review")
    assert (
        second.round == 2
        and second.context["received_materials"][0] == "党组织关系介绍信"
    )
    # First-handler responsibility (003 §7.8): the clerk who reviewed first holds round 2.
    assert second.assignee == "county"
    await complete(handle, e, "archive_review", "county", "approve", {})

    # Level-by-level review with one township return (003 §6.1.4).
    info = {"hukou_address": "示范县城关镇东关村1号", "education": "高中"}
    await complete(handle, e, "information_collection", "village", "submitted", info)
    await complete(
        handle,
        e,
        "township_review",
        "township",
        "return",
        {"reasons": ["学历证明缺失"]},
    )
    again = await open_task(e, handle.id, "information_collection")
    assert again.round == 2 and again.context["returned_reasons"] == ["学历证明缺失"]
    assert again.assignee == "village"
    await complete(
        handle,
        e,
        "information_collection",
        "village",
        "submitted",
        {**info, "education": "大专"},
    )
    await complete(handle, e, "township_review", "township", "approve", {})
    await complete(handle, e, "county_review", "county", "approve", {})

    # Party transfer strictly before registration (001 第七条).
    await open_task(e, handle.id, "party_transfer")
    assert tasks(e, handle.id, step="registration") == []
    await complete(
        handle,
        e,
        "party_transfer",
        desk_clerk("desk_party"),
        "done",
        {
            "receiving_organisation": "东关村党支部",
            "letter_number": "D-7",
            "transferred_on": "2026-11-20",
        },
    )
    await complete(
        handle,
        e,
        "registration",
        "county",
        "done",
        {"registration_number": "BD-1", "reported_on": "2026-11-21"},
    )

    # The one-stop desks are all open at the same time.
    open_desks = await wait_for(
        lambda: (
            [t for t in tasks(e, handle.id, status="open") if t.step in ONE_STOP_KEYS]
            if len(
                [
                    t
                    for t in tasks(e, handle.id, status="open")
                    if t.step in ONE_STOP_KEYS
                ]
            )
            == len(ONE_STOP_KEYS)
            else None
        )
    )
    assert {t.step for t in open_desks} == set(ONE_STOP_KEYS)
    for step in reversed(ONE_STOP_KEYS):
        outcome, data = (
            ("not_applicable", {"reason": "已一次性领取"})
            if step == "housing_fund"
            else ("done", DESK_FORM)
        )
        await complete(handle, e, step, desk_clerk(DESK_ROLE[step]), outcome, data)
    await complete(
        handle,
        e,
        "home_visit",
        "village",
        "done",
        {"visited_on": "2026-11-22", "contact_card_number": "LL-0001"},
    )

    state = await handle.result()
    assert state.status == "closed"
    assert (
        state.rounds["archive_review"] == 2
        and state.rounds["information_collection"] == 2
    )
    assert await wait_for(lambda: notices(e, handle.id, "case_summary"))
    assert all(t.status == "completed" for t in tasks(e, handle.id))
    # 好差评 (003 §9.1.3): the registration the veteran attended and the closed case
    # each offer one rating link, sent to the veteran; the links rate the unit and the
    # clerk that served.
    assert await wait_for(lambda: len(notices(e, handle.id, "rating_invite")) == 2)
    with Session(e) as s:
        links = {
            link.id: link
            for link in s.exec(
                select(RatingLink).where(RatingLink.case_id == handle.id)
            ).all()
        }
    registration = next(t for t in tasks(e, handle.id) if t.step == "registration")
    assert set(links) == {registration.id, f"{handle.id}:case"}
    assert links[registration.id].clerk == registration.completed_by
    assert links[registration.id].step_title == "退役报到"
    assert all(link.used_at is None and link.veteran_id for link in links.values())
    await record_history(handle, "ReturnHomeWorkflow", "correction_and_level_return")


@journey()
async def non_member_skips_party_transfer_with_reason(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    handle = await start_case(client, settings, veteran_id(e, party_member=False))
    await complete(handle, e, "archive_review", "county", "approve", {})
    await complete(
        handle,
        e,
        "information_collection",
        "village",
        "submitted",
        {"hukou_address": "东关村2号", "education": "本科"},
    )
    await complete(handle, e, "township_review", "township", "approve", {})
    await complete(handle, e, "county_review", "county", "approve", {})
    await open_task(e, handle.id, "registration")
    skipped = tasks(e, handle.id, step="party_transfer")
    assert (
        len(skipped) == 1
        and skipped[0].status == "skipped"
        and "001 第七条" in (skipped[0].comment or "")
    )
    await handle.terminate("test over")


@journey()
async def validators_reject_bad_input_at_once(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    handle = await start_case(client, settings, veteran_id(e, party_member=True))
    task = await open_task(e, handle.id, "archive_review")

    async def attempt(username, outcome, data):
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(
                ReturnHomeWorkflow.complete_task,
                CompleteTaskInput(
                    task_id=task.id,
                    actor=actor(e, username),
                    outcome=outcome,
                    data=data,
                ),
            )
        return err.value.cause

    assert (await attempt("county", "maybe", {})).type == "InvalidOutcome"
    form_error = await attempt("county", "return_for_correction", {})
    assert form_error.type == "InvalidForm" and "一次性" in str(form_error.details)
    assert (await attempt("village", "approve", {})).type == "NotAuthorized"
    assert (await attempt("county", "approve", {"unknown": 1})).type == "InvalidForm"
    # Nothing rejected reached the history.
    history = await handle.fetch_history()
    assert (
        sum(
            1
            for ev in history.events
            if ev.HasField("workflow_execution_update_accepted_event_attributes")
        )
        == 0
    )

    # Two clerks completing the same task at once: exactly one wins.
    results = await asyncio.gather(
        *(
            handle.execute_update(
                ReturnHomeWorkflow.complete_task,
                CompleteTaskInput(
                    task_id=task.id, actor=actor(e, u), outcome="approve", data={}
                ),
            )
            for u in ("county", "county2")
        ),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, WorkflowUpdateFailedError)]
    assert len(wins) == 1 and len(losses) == 1
    assert losses[0].cause.type in ("TaskNotOpen", "ClaimedByOther")
    await handle.terminate("test over")


@journey()
async def claim_unclaim_reassign(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    handle = await start_case(client, settings, veteran_id(e, party_member=True))
    task = await open_task(e, handle.id, "archive_review")
    view = await handle.execute_update(
        ReturnHomeWorkflow.claim_task,
        ClaimTaskInput(task_id=task.id, actor=actor(e, "county")),
    )
    assert view.assignee == "county"
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(
            ReturnHomeWorkflow.claim_task,
            ClaimTaskInput(task_id=task.id, actor=actor(e, "county2")),
        )
    assert err.value.cause.type == "ClaimedByOther" and "county" in str(err.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(
            ReturnHomeWorkflow.reassign_task,
            ReassignTaskInput(
                task_id=task.id,
                actor=actor(e, "county2"),
                target=actor(e, "county2"),
                reason="x",
            ),
        )
    assert err.value.cause.type == "NotAuthorized"
    view = await handle.execute_update(
        ReturnHomeWorkflow.reassign_task,
        ReassignTaskInput(
            task_id=task.id,
            actor=actor(e, "manager"),
            target=actor(e, "county2"),
            reason="county 外出培训",
        ),
    )
    assert view.assignee == "county2"
    assert await wait_for(
        lambda: tasks(e, handle.id, step="archive_review", assignee="county2")
    )
    view = await handle.execute_update(
        ReturnHomeWorkflow.unclaim_task,
        ClaimTaskInput(task_id=task.id, actor=actor(e, "county2")),
    )
    assert view.assignee is None
    await handle.terminate("test over")
    await record_history(handle, "ReturnHomeWorkflow", "claim_reassign_unclaim")


@journey()
async def deadline_reminds_escalates_and_routes_to_backup(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    policy = ProcessPolicy(
        name="test",
        default=TaskPolicy(duration=timedelta(minutes=10)),
        steps={
            "archive_review": TaskPolicy(
                duration=timedelta(seconds=3), remind_before=timedelta(seconds=2)
            )
        },
    )
    handle = await start_case(
        client, settings, veteran_id(e, party_member=True), policy=policy
    )
    task = await open_task(e, handle.id, "archive_review")
    await handle.execute_update(
        ReturnHomeWorkflow.claim_task,
        ClaimTaskInput(task_id=task.id, actor=actor(e, "county")),
    )
    set_absent(e, "county")  # A角 away: the B角 takes over at the due time (003 §7.7)
    reminder = await wait_for(lambda: notices(e, handle.id, "reminder"), timeout=15)
    # The holder is away, so the reminder reaches the B角 who stands in (003 §7.7.1).
    assert reminder[0].recipient == "county2"
    routed = await wait_for(
        lambda: tasks(
            e, handle.id, step="archive_review", overdue=True, assignee="county2"
        ),
        timeout=15,
    )
    assert routed[0].overdue
    overdue = await wait_for(lambda: notices(e, handle.id, "overdue"))
    assert {n.recipient for n in overdue} == {"manager"}
    backup = await wait_for(lambda: notices(e, handle.id, "backup_routed"))
    assert backup[0].recipient == "county2"
    # The backup can finish the step; the absent holder no longer can.
    await handle.execute_update(
        ReturnHomeWorkflow.complete_task,
        CompleteTaskInput(
            task_id=task.id, actor=actor(e, "county2"), outcome="approve", data={}
        ),
    )
    await open_task(e, handle.id, "information_collection")
    await handle.terminate("test over")
    await record_history(handle, "ReturnHomeWorkflow", "overdue_escalation_backup")


@journey()
async def village_steps_of_a_veteran_without_village_station_go_to_the_township(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    """黄建国 lives directly under 城关镇: the village-level steps are the township's (002 §3.2)."""
    from sqlmodel import Session, select

    from models.tables import Veteran

    with Session(e) as s:
        vid = s.exec(select(Veteran).where(Veteran.name == "黄建国")).one().id
    handle = await start_case(client, settings, vid)
    await complete(handle, e, "archive_review", "county", "approve", {})
    task = await open_task(e, handle.id, "information_collection")
    assert task.candidate_role == "township_staff"
    await complete(
        handle,
        e,
        "information_collection",
        "township",
        "submitted",
        {"hukou_address": "城关镇1号", "education": "中专"},
    )
    await open_task(e, handle.id, "township_review")
    await handle.terminate("test over")


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_full_case_with_correction_round_and_level_return(
    journeys: Journeys, backend: str
) -> None:
    await journeys(full_case_with_correction_round_and_level_return, backend)


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_non_member_skips_party_transfer_with_reason(
    journeys: Journeys, backend: str
) -> None:
    await journeys(non_member_skips_party_transfer_with_reason, backend)


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_validators_reject_bad_input_at_once(
    journeys: Journeys, backend: str
) -> None:
    await journeys(validators_reject_bad_input_at_once, backend)


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_claim_unclaim_reassign(journeys: Journeys, backend: str) -> None:
    await journeys(claim_unclaim_reassign, backend)


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_deadline_reminds_escalates_and_routes_to_backup(
    journeys: Journeys, backend: str
) -> None:
    await journeys(deadline_reminds_escalates_and_routes_to_backup, backend)


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_village_steps_of_a_veteran_without_village_station_go_to_the_township(
    journeys: Journeys, backend: str
) -> None:
    await journeys(
        village_steps_of_a_veteran_without_village_station_go_to_the_township, backend
    )
