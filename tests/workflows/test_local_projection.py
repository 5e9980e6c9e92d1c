"""The projection writes on a clerk's path run as local activities for cases started
after the patch ``local-projection``: markers in the history instead of activity
tasks, the writes still rebuildable from it, still idempotent when run again (a local
activity is at least once: a worker that dies before its workflow task completes runs
it again), and a permanent failure still an incident."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.testing import ActivityEnvironment

from activities.cases import CaseActivities
from activities.human_tasks import HumanTaskActivities
from activities.projection import (
    LOCAL_ACTIVITY_MARKER,
    ProjectionActivities,
    recorded_writes,
)
from models.contracts import (
    ClaimTaskInput,
    CloseTaskInput,
    ProjectionCall,
    TaskResult,
)
from models.payload_codec import decode_history
from models.tables import AuditEvent, HumanTask
from tests.support import (
    actor,
    complete,
    incidents,
    open_task,
    suite_codec,
    tasks,
    wait_for,
)
from tests.workflows.conftest import start_case, veteran_id
from tests.workflows.test_incidents import drop_projection
from tests.workflows.test_races import T0, opened
from workflows.human_task import LOCAL_WRITES
from workflows.return_home import ReturnHomeWorkflow


async def test_a_new_case_writes_its_projection_in_local_activity_markers(
    client, settings, demo_engine, worker
):
    e = demo_engine
    handle = await start_case(client, settings, veteran_id(e, party_member=True))
    await complete(handle, e, "archive_review", "county", "approve", {})
    await open_task(e, handle.id, "information_collection")
    history = await handle.fetch_history()
    scheduled = [
        ev.activity_task_scheduled_event_attributes.activity_type.name
        for ev in history.events
        if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert not set(scheduled) & set(LOCAL_WRITES), scheduled
    markers = [
        ev.marker_recorded_event_attributes.marker_name
        for ev in history.events
        if ev.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    assert "core_patch" in markers  # the patches, local-projection among them
    # The case's row, the first opening, then (engine 0.10) the completion's closing
    # and the opening it leads to in one project_all.
    assert markers.count(LOCAL_ACTIVITY_MARKER) >= 3
    # The markers record each write with its input: the projection can be rebuilt.
    writes = recorded_writes(await decode_history(history, suite_codec()))
    names = [name for name, _, _ in writes]
    assert names[:2] == ["register_case", "open_task"]
    assert names.count("open_task") >= 2 and "close_task" in names
    opening = next(inp for name, inp, _ in writes if name == "open_task")
    assert opening.step == "archive_review"
    await handle.terminate("test over")


def test_a_local_write_run_again_changes_nothing(demo_engine):
    """The same ``project`` call twice (the worker died after the write, before the
    workflow task completed): one row state, one audit record per write."""
    e = demo_engine
    acts, task_id = opened(e)
    project = ProjectionActivities(CaseActivities(e), acts).project
    close = ProjectionCall(
        activity="close_task",
        input=CloseTaskInput(
            task_id=task_id,
            case_id="c-1",
            status="completed",
            seq=2,
            result=TaskResult(
                task_id=task_id,
                step="archive_review",
                outcome="approve",
                completed_by="county",
                completed_at=T0 + timedelta(minutes=5),
            ),
        ),
    )

    def state() -> tuple[tuple[str, str | None, int], list[str]]:
        with Session(e) as s:
            row = s.get(HumanTask, task_id)
            assert row is not None
            actions = [
                a.action
                for a in s.exec(
                    select(AuditEvent).where(AuditEvent.entity_id == task_id)
                ).all()
            ]
        return (row.status, row.completed_by, row.seq), sorted(actions)

    first = ActivityEnvironment().run(project, close)
    after_first = state()
    again = ActivityEnvironment().run(project, close)
    assert (
        state()
        == after_first
        == (
            ("completed", "county", 2),
            ["task_completed", "task_opened"],
        )
    )
    assert first == again and first.activity == "close_task"


def test_a_local_write_of_an_unknown_kind_is_refused(demo_engine):
    project = ProjectionActivities(
        CaseActivities(demo_engine), HumanTaskActivities(demo_engine)
    ).project
    try:
        ActivityEnvironment().run(
            project, ProjectionCall(activity="escalate_task", input={})
        )
        raise AssertionError("an unknown write ran")
    except Exception as refused:  # the activity's ApplicationError
        assert "not a local projection write" in str(refused)


async def test_a_local_write_that_fails_for_good_opens_an_incident(
    client, settings, demo_engine, worker
):
    """Mirrors tests/workflows/test_incidents.py on the local path: the claim's write
    finds no row, the case raises an incident naming the write, and waits."""
    e = demo_engine
    handle = await start_case(client, settings, veteran_id(e, party_member=True))
    task = await open_task(e, handle.id, "archive_review")
    drop_projection(e, handle.id)
    claiming = asyncio.create_task(
        handle.execute_update(
            ReturnHomeWorkflow.claim_task,
            ClaimTaskInput(task_id=task.id, actor=actor(e, "county")),
        )
    )

    (incident,) = await wait_for(lambda: incidents(e, handle.id))
    assert (incident.step, incident.activity, incident.error_type) == (
        "archive_review",
        "assign_task",
        "TaskRowMissing",
    )
    state = await handle.query(ReturnHomeWorkflow.get_state)
    assert state.open_incidents == [incident.id]
    assert not claiming.done()
    history = await handle.fetch_history()
    assert not [
        ev
        for ev in history.events
        if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and ev.activity_task_scheduled_event_attributes.activity_type.name
        == "assign_task"
    ]
    assert tasks(e, handle.id) == []
    await handle.terminate("test over")
    claiming.cancel()
