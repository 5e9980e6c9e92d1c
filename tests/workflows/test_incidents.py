"""A failure that needs a person becomes an incident, and the projection can be
rebuilt from the histories (`vetflow projection rebuild`)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError

from activities.projection import rebuild_projection
from models.contracts import (
    ClaimTaskInput,
    CompleteTaskInput,
    ReassignTaskInput,
    RetryIncidentInput,
)
from models.settings import Settings
from models.tables import Case, HumanTask
from tests.conftest import DB_BACKENDS
from tests.return_home_forms import RECEIPT
from tests.support import (
    actor,
    complete,
    incidents,
    open_task,
    record_history,
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


def snapshot(engine, case_id: str) -> tuple[dict, list[dict]]:
    with Session(engine) as s:
        case = s.get(Case, case_id).model_dump()
        rows = [
            t.model_dump()
            for t in s.exec(
                select(HumanTask)
                .where(HumanTask.case_id == case_id)
                .order_by(HumanTask.id)
            ).all()
        ]
    return case, rows


def drop_projection(engine, case_id: str) -> None:
    with Session(engine) as s:
        s.exec(delete(HumanTask).where(HumanTask.case_id == case_id))
        s.exec(delete(Case).where(Case.id == case_id))
        s.commit()


@journey()
async def rebuild_writes_the_same_rows_again(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    handle = await start_case(client, settings, veteran_id(e, party_member=True))
    await complete(
        handle,
        e,
        "archive_review",
        "county",
        "return_for_correction",
        {"missing_materials": ["户口簿"]},
    )
    await complete(
        handle,
        e,
        "supplement_materials",
        "village",
        "submitted",
        {"received_materials": ["户口簿"]},
    )
    second = await open_task(e, handle.id, "archive_review")
    await handle.execute_update(
        ReturnHomeWorkflow.reassign_task,
        ReassignTaskInput(
            task_id=second.id,
            actor=actor(e, "manager"),
            target=actor(e, "county2"),
            reason="A角 请假",
        ),
    )
    await wait_for(lambda: tasks(e, handle.id, assignee="county2"))
    before = snapshot(e, handle.id)
    drop_projection(e, handle.id)
    report = await rebuild_projection(e, client, settings.task_queue, handle.id)
    assert report.workflows >= 1 and report.writes >= 6
    assert snapshot(e, handle.id) == before
    # Rebuilding again changes nothing (every write is idempotent and ordered).
    await rebuild_projection(e, client, settings.task_queue, handle.id)
    assert snapshot(e, handle.id) == before
    await handle.terminate("test over")


@journey()
async def a_lost_row_becomes_an_incident_that_a_manager_retries(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    handle = await start_case(client, settings, veteran_id(e, party_member=True))
    task = await open_task(e, handle.id, "archive_review")
    await handle.execute_update(
        ReturnHomeWorkflow.claim_task,
        ClaimTaskInput(task_id=task.id, actor=actor(e, "county")),
    )
    await wait_for(lambda: tasks(e, handle.id, assignee="county"))
    drop_projection(e, handle.id)  # e.g. a botched restore of the app database

    # The completion is accepted; its projection write fails for good → incident.
    completing = asyncio.create_task(
        handle.execute_update(
            ReturnHomeWorkflow.complete_task,
            CompleteTaskInput(
                task_id=task.id, actor=actor(e, "county"), outcome="approve", data={}
            ),
        )
    )
    (incident,) = await wait_for(lambda: incidents(e, handle.id))
    assert (incident.step, incident.activity, incident.error_type) == (
        "archive_review",
        "close_task",
        "TaskRowMissing",
    )
    assert incident.org_path.count("/") >= 3  # visible in the case's subtree
    state = await handle.query(ReturnHomeWorkflow.get_state)
    assert state.open_incidents == [incident.id]
    assert not completing.done()  # the case waits; it neither fails nor moves on

    # A clerk may not retry; the manager may, once the cause is fixed.
    from temporalio.client import WorkflowUpdateFailedError

    try:
        await handle.execute_update(
            ReturnHomeWorkflow.retry_incident,
            RetryIncidentInput(incident_id=incident.id, actor=actor(e, "county")),
        )
        raise AssertionError("a clerk retried an incident")
    except WorkflowUpdateFailedError as refused:
        assert refused.cause.type == "NotAuthorized"
    await rebuild_projection(e, client, settings.task_queue, handle.id)
    await handle.execute_update(
        ReturnHomeWorkflow.retry_incident,
        RetryIncidentInput(incident_id=incident.id, actor=actor(e, "manager")),
    )
    result = await asyncio.wait_for(completing, timeout=20)
    assert result.outcome == "approve"
    await open_task(e, handle.id, "information_collection")
    (done,) = await wait_for(lambda: incidents(e, handle.id, "resolved"))
    assert done.retried_by == "manager"
    (row,) = tasks(e, handle.id, step="archive_review")
    assert (row.status, row.completed_by) == ("completed", "county")
    await handle.terminate("test over")
    await record_history(handle, "ReturnHomeWorkflow", "incident_retried")


@journey()
async def a_batch_with_one_bad_write_opens_one_incident(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    """Engine 0.10: an approval's closing and the four steps it starts go out as one
    project_all; when the closing fails for good, every write runs again on its own,
    the steps open, and the one incident names the closing."""
    handle = await start_case(
        client, settings, veteran_id(e, party_member=False), version=2
    )
    await complete(handle, e, "file_receipt", "county", "received", RECEIPT)
    review = await open_task(e, handle.id, "archive_review")
    with Session(e) as s:  # the review's row alone is lost
        s.exec(delete(HumanTask).where(HumanTask.id == review.id))
        s.commit()
    completing = asyncio.create_task(
        handle.execute_update(
            ReturnHomeWorkflow.complete_task,
            CompleteTaskInput(
                task_id=review.id,
                actor=actor(e, "county"),
                outcome="approve",
                data={},
            ),
        )
    )
    (incident,) = await wait_for(lambda: incidents(e, handle.id))
    assert (incident.step, incident.activity, incident.error_type) == (
        "archive_review",
        "close_task",
        "TaskRowMissing",
    )
    for step in ("registration", "welcome", "home_visit", "file_filing"):
        await open_task(e, handle.id, step)
    (skipped,) = tasks(e, handle.id, step="party_transfer")
    assert skipped.status == "skipped" and skipped.comment  # with its reason
    history = await handle.fetch_history()
    kinds = [
        ev.marker_recorded_event_attributes.details["data"].payloads[0].data
        for ev in history.events
        if ev.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    assert any(b"project_all" in k for k in kinds)  # the batch went out (and failed)
    assert not completing.done()  # the completion waits for the incident's retry
    completing.cancel()
    await handle.terminate("test over")
    with contextlib.suppress(
        asyncio.CancelledError, WorkflowUpdateRPCTimeoutOrCancelledError
    ):
        await completing


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_a_batch_with_one_bad_write_opens_one_incident(
    journeys: Journeys, backend: str
) -> None:
    await journeys(a_batch_with_one_bad_write_opens_one_incident, backend)


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_rebuild_writes_the_same_rows_again(
    journeys: Journeys, backend: str
) -> None:
    await journeys(rebuild_writes_the_same_rows_again, backend)


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_a_lost_row_becomes_an_incident_that_a_manager_retries(
    journeys: Journeys, backend: str
) -> None:
    await journeys(a_lost_row_becomes_an_incident_that_a_manager_retries, backend)
