"""Engine 0.12 (workflows/human_task.py, ENGINE_0_12): a case's status changes and its
notices are written behind the process, and a case's closed status joins the batch of
the step that ends it.

A refusal ends a return-home case: the clerk's Update is answered after one local
activity (the review's closing, the refusal notice and the closed status, in one
``project_all``), then the rating link and the archive follow; if that batch fails, the
closed status waits for the others and is its own incident. A return for correction's
one-time notice goes out with the supplement tasks it names. A complaint's first status
goes out with its first step's opening; a status write refused for good is an incident on
``case_status`` while the case goes on, and a manager's retry writes it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from activities.cases import CaseActivities
from models.contracts import CaseStatusInput, RetryIncidentInput
from models.payload_codec import decode_history
from models.settings import Settings
from models.tables import AuditEvent, HistoryArchive, Notice, RatingLink
from tests.support import (
    actor,
    complete,
    incidents,
    notices,
    open_task,
    refusing,
    suite_codec,
    tasks,
    wait_for,
)
from tests.workflows.conftest import at_archive_review, decide_review
from tests.workflows.startup_loan_support import statuses
from tests.workflows.test_complaint import bad_rating, case_status, policy, start
from workflows.complaint import ComplaintWorkflow
from workflows.return_home import ReturnHomeWorkflow

LOCAL_MARKER = "core_local_activity"


def _marker(attrs: Any) -> bytes:
    """A local activity's marker as text: its metadata (the activity's name) and its
    result (a projection write's records name each write and its input)."""
    details = attrs.details
    parts = [p.data for p in details["data"].payloads]
    if "result" in details:
        parts += [p.data for p in details["result"].payloads]
    return b" ".join(parts)


async def _history(handle: Any) -> Any:
    """The case's history, its payloads decrypted."""
    return await decode_history(await handle.fetch_history(), suite_codec())


def _workflow_tasks_after(history: Any, update_id: str) -> list[list[bytes]]:
    """The local-activity markers of each workflow task from the one that accepted
    ``update_id`` on, one list per workflow task; the first ends where the Update's
    answer was recorded (WORKFLOW_EXECUTION_UPDATE_COMPLETED)."""
    events = list(history.events)
    start = next(
        i
        for i, ev in enumerate(events)
        if ev.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and ev.workflow_execution_update_accepted_event_attributes.protocol_instance_id
        == update_id
    )
    tasks: list[list[bytes]] = [[]]
    answered = False
    for ev in events[start:]:
        if ev.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            answered = True
        elif ev.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks.append([])
        attrs = ev.marker_recorded_event_attributes
        if ev.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and (
            attrs.marker_name == LOCAL_MARKER
        ):
            tasks[-1].append(_marker(attrs))
    assert answered
    return [markers for markers in tasks if markers] + [[]]


async def test_a_closing_step_is_answered_after_one_local_write_with_its_case_closed(
    client: Client, settings: Settings, demo_engine: Engine, worker: Worker
) -> None:
    e = demo_engine
    handle, review = await at_archive_review(client, settings, e)
    refusal = await decide_review(
        handle, e, review, "refuse", {"refusal_reason": "不属于本地安置对象"}
    )
    await refusal.result()
    # Answered with the case closed: its status was in the answer's transaction.
    assert case_status(e, handle.id) == "closed"
    state = await handle.result()
    assert state.status == "closed"

    history = await _history(handle)
    first, *_ = _workflow_tasks_after(history, refusal.id)
    # The Update's own workflow task: one local activity, the review's closing, the
    # refusal notice and the closed status, in that order.
    (answered,) = first
    assert b"project_all" in answered
    at = [answered.index(w) for w in (b"close_task", b"queue_notice", b'"closed"')]
    assert at == sorted(at)
    # After the answer: the rating link (a regular activity), then the archive.
    kinds = [
        ev.event_type
        for ev in history.events
        if ev.event_type
        in (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
            EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
        )
    ][-3:]
    assert kinds == [
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    ]

    # The projection: the refusal told, the rating offered, the case closed and
    # archived; the closed status after the review's closing in the audit trail.
    with Session(e) as s:
        kinds_sent = {
            n.kind for n in s.exec(select(Notice).where(Notice.case_id == handle.id))
        }
        assert {"refusal", "rating_invite"} <= kinds_sent
        assert s.exec(select(RatingLink).where(RatingLink.case_id == handle.id)).all()
        order = [
            (a.action, a.entity_id, (a.after or {}).get("status"))
            for a in s.exec(
                select(AuditEvent)
                .where(AuditEvent.case_id == handle.id)
                .order_by(col(AuditEvent.id))
            )
        ]
    assert order.index(("task_completed", review.id, "completed")) < order.index(
        ("case_status", handle.id, "closed")
    )
    assert statuses(e, handle.id)[-1] == "closed"
    await wait_for(lambda: _archived(e, handle.id))


async def test_a_return_is_told_and_its_supplement_opens_in_one_local_write(
    client: Client, settings: Settings, demo_engine: Engine, worker: Worker
) -> None:
    """003 §7.6: a return for correction tells the veteran everything at once; the
    one-time notice no longer holds the process up, so the supplement task and the
    file-gap request open in the same batch as the review's closing and the notice."""
    e = demo_engine
    handle, review = await at_archive_review(client, settings, e)
    gaps = {"missing_materials": ["户口本"], "file_gaps": ["入伍登记表"]}
    ret = await decide_review(handle, e, review, "return_for_correction", gaps)
    await ret.result()
    await open_task(e, handle.id, "supplement_materials")
    await open_task(e, handle.id, "file_gap_request")
    assert notices(e, handle.id, "correction_request")

    first, *_ = _workflow_tasks_after(await _history(handle), ret.id)
    (answered,) = first
    at = [
        answered.index(w)
        for w in (b"close_task", b"correction_request", b"supplement_materials")
    ]
    assert at == sorted(at) and b"file_gap_request" in answered
    await handle.terminate("test over")


def _archived(engine: Engine, case_id: str) -> bool:
    with Session(engine) as s:
        return s.get(HistoryArchive, case_id) is not None


@pytest.fixture
def refused_statuses() -> Iterator[set[tuple[str, str]]]:
    """While (case id, status) is in the set, that status's write is refused for good."""
    refused: set[tuple[str, str]] = set()

    def picks(inp: CaseStatusInput) -> bool:
        return (inp.case_id, inp.status) in refused

    with refusing(CaseActivities, "set_case_status", picks, "StatusRefused"):
        yield refused


async def test_a_status_goes_out_with_the_next_step_and_a_refused_one_is_an_incident(
    client: Client,
    settings: Settings,
    demo_engine: Engine,
    refused_statuses: set[tuple[str, str]],
    worker: Worker,
) -> None:
    e = demo_engine
    # A first complaint: "verifying" is written in the batch that opens "verify".
    first = await start(
        client, settings, e, "sfx-cgz-dgc", bad_rating(), policy(improve=60.0)
    )
    await open_task(e, first.id, "verify")
    await wait_for(lambda: case_status(e, first.id) == "verifying")
    # The row is committed before the workflow task that ran the write completes: a
    # query answers once it has, and its marker is in the history.
    await first.query(ComplaintWorkflow.get_state)
    markers = [
        _marker(ev.marker_recorded_event_attributes)
        for ev in (await _history(first)).events
        if ev.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and ev.marker_recorded_event_attributes.marker_name == LOCAL_MARKER
    ]
    (batch,) = [m for m in markers if b'"verifying"' in m]
    assert b"project_all" in batch and b"open_task" in batch
    await first.terminate("test over")

    # A second one whose "verifying" is refused: an incident on the case's status,
    # and the verification opens anyway.
    handle = await start(
        client, settings, e, "sfx-cgz-dgc", bad_rating(), policy(improve=60.0)
    )
    refused_statuses.add((handle.id, "verifying"))
    (incident,) = await wait_for(lambda: incidents(e, handle.id))
    assert (incident.step, incident.activity, incident.error_type) == (
        "case_status",
        "set_case_status",
        "StatusRefused",
    )
    await open_task(e, handle.id, "verify")
    assert case_status(e, handle.id) != "verifying"
    state = await handle.query(ComplaintWorkflow.get_state)
    assert state.open_incidents == [incident.id] and state.status == "verifying"

    refused_statuses.discard((handle.id, "verifying"))  # fixed; a manager retries
    await handle.execute_update(
        ComplaintWorkflow.retry_incident,
        RetryIncidentInput(incident_id=incident.id, actor=actor(e, "manager")),
    )
    await wait_for(lambda: case_status(e, handle.id) == "verifying")
    assert (await handle.query(ComplaintWorkflow.get_state)).open_incidents == []
    await handle.terminate("test over")


async def test_a_refused_closed_status_waits_for_its_retry(
    client: Client,
    settings: Settings,
    demo_engine: Engine,
    refused_statuses: set[tuple[str, str]],
    worker: Worker,
) -> None:
    """The closing's batch fails: its writes go again alone, the closed status (after
    the refusal notice is written) becomes an incident, and the case closes, offers its
    rating and ends on the manager's retry."""
    e = demo_engine
    handle, _ = await at_archive_review(client, settings, e)
    refused_statuses.add((handle.id, "closed"))
    await complete(
        handle,
        e,
        "archive_review",
        "county",
        "refuse",
        {"refusal_reason": "不属于本地安置对象"},
    )
    (incident,) = await wait_for(lambda: incidents(e, handle.id))
    assert (incident.step, incident.activity) == ("case_status", "set_case_status")
    with Session(e) as s:
        kinds = {
            n.kind for n in s.exec(select(Notice).where(Notice.case_id == handle.id))
        }
    assert "refusal" in kinds  # its batch failed; written again alone
    assert "rating_invite" not in kinds  # offered once the case is closed
    assert case_status(e, handle.id) != "closed"
    (review,) = [t for t in tasks(e, handle.id) if t.step == "archive_review"]
    assert review.status == "completed"

    refused_statuses.discard((handle.id, "closed"))
    await handle.execute_update(
        ReturnHomeWorkflow.retry_incident,
        RetryIncidentInput(incident_id=incident.id, actor=actor(e, "manager")),
    )
    state = await handle.result()
    assert state.status == "closed" and case_status(e, handle.id) == "closed"
    await wait_for(lambda: notices(e, handle.id, "rating_invite"))
