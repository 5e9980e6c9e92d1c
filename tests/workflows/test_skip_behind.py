"""Engine 0.11 (workflows/human_task.py, ENGINE_0_11): a step recorded as not
applicable is written behind the process. A non-party veteran's archive approval skips
the party transfer and opens the registration line in the same ``project_all`` as the
review's closing and the early steps, so the clerk's Update answers after one local
activity; a skip whose write fails for good becomes an incident on that step while the
case goes on, and the case closes only once a manager has retried it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from activities.human_tasks import HumanTaskActivities
from models.contracts import CompleteTaskInput, RetryIncidentInput, SkipTaskInput
from models.settings import Settings
from models.tables import AuditEvent
from tests.support import (
    actor,
    incidents,
    open_task,
    refusing,
    tasks,
    wait_for,
)
from tests.workflows.conftest import at_archive_review, decide_review
from workflows.return_home import ReturnHomeWorkflow


def _markers_of_update(history: Any, update_id: str) -> list[bytes]:
    """The local-activity markers of the workflow task that accepted ``update_id``."""
    events = list(history.events)
    start = next(
        i
        for i, ev in enumerate(events)
        if ev.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and ev.workflow_execution_update_accepted_event_attributes.protocol_instance_id
        == update_id
    )
    markers = []
    for ev in events[start:]:
        if ev.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            break
        attrs = ev.marker_recorded_event_attributes
        if attrs.marker_name == "core_local_activity":
            markers.append(attrs.details["data"].payloads[0].data)
    return markers


async def test_an_approval_that_skips_answers_after_one_local_write(
    client: Client, settings: Settings, demo_engine: Engine, worker: Worker
) -> None:
    e = demo_engine
    handle, review = await at_archive_review(client, settings, e)
    approval = await decide_review(handle, e, review, "approve", {})
    await approval.result()
    for step in ("registration", "welcome", "home_visit", "file_filing"):
        await open_task(e, handle.id, step)
    (skipped,) = tasks(e, handle.id, step="party_transfer")
    assert skipped.status == "skipped" and skipped.comment

    (marker,) = _markers_of_update(await handle.fetch_history(), approval.id)
    assert b"project_all" in marker
    # The skip is written in the order the process asked: before the registration.
    with Session(e) as s:
        order = [
            (a.action, a.entity_id)
            for a in s.exec(
                select(AuditEvent)
                .where(AuditEvent.case_id == handle.id)
                .order_by(AuditEvent.id)
            ).all()
        ]
    assert order.index(("step_skipped", f"{handle.id}.party_transfer.1")) < order.index(
        ("task_opened", f"{handle.id}.registration.1")
    )
    await handle.terminate("test over")


@pytest.fixture
def refused_skips() -> Iterator[set[str]]:
    """While a case id is in the set, its skips' writes are refused for good."""
    refused: set[str] = set()

    def picks(inp: SkipTaskInput) -> bool:
        return inp.task.case_id in refused

    with refusing(HumanTaskActivities, "record_skipped_step", picks, "SkipRefused"):
        yield refused


async def test_a_refused_skip_is_an_incident_and_the_case_goes_on(
    client: Client,
    settings: Settings,
    demo_engine: Engine,
    refused_skips: set[str],
    worker: Worker,
) -> None:
    e = demo_engine
    handle, review = await at_archive_review(client, settings, e)
    refused_skips.add(handle.id)
    # The approval answers although the skip's write failed: the process did not
    # wait for it, and the review's own closing was written.
    result = await asyncio.wait_for(
        handle.execute_update(
            ReturnHomeWorkflow.complete_task,
            CompleteTaskInput(
                task_id=review.id, actor=actor(e, "county"), outcome="approve", data={}
            ),
        ),
        timeout=30,
    )
    assert result.outcome == "approve"

    (incident,) = await wait_for(lambda: incidents(e, handle.id))
    assert (incident.step, incident.activity, incident.error_type) == (
        "party_transfer",
        "record_skipped_step",
        "SkipRefused",
    )
    await open_task(e, handle.id, "registration")  # the case went on
    assert not tasks(e, handle.id, step="party_transfer")
    state = await handle.query(ReturnHomeWorkflow.get_state)
    assert state.open_incidents == [incident.id]

    refused_skips.discard(handle.id)  # the cause fixed; a manager retries
    await handle.execute_update(
        ReturnHomeWorkflow.retry_incident,
        RetryIncidentInput(incident_id=incident.id, actor=actor(e, "manager")),
    )
    (skipped,) = await wait_for(lambda: tasks(e, handle.id, step="party_transfer"))
    assert skipped.status == "skipped"
    state = await handle.query(ReturnHomeWorkflow.get_state)
    assert state.open_incidents == [] and state.status != "closed"
    await handle.terminate("test over")
