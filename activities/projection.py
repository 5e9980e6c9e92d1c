"""`vetflow projection rebuild`: the case and task tables are a projection of the
workflows' histories, so they can be written again from them.

Every projection write a workflow makes is an activity whose input (and result) the
history records: a regular activity's scheduled and completed events, or, for a write
run as a local activity (``project``), its marker, whose result carries the input. Rebuilding applies those recorded writes again, in history order,
through the same functions the activities use: rows come back as they were, and the
audit trail (deduplicated by key) gains nothing twice. The history comes from Temporal
while it has the execution, else from the app's history archive (closed cases); its
payloads are decrypted with the client's payload codec before they are read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.cases import CaseActivities, apply_register, apply_status
from activities.human_tasks import (
    HumanTaskActivities,
    apply_assign,
    apply_close,
    apply_escalate,
    apply_open,
    apply_recompute,
    apply_skip,
)
from activities.notifications import NotificationActivities
from models.contracts import (
    PROJECT,
    PROJECT_ALL,
    AssignTaskInput,
    CaseStatusInput,
    CloseTaskInput,
    DeliverNoticeInput,
    EscalateTaskInput,
    EscalateTaskResult,
    OpenTaskInput,
    OpenTaskResult,
    ProjectionCall,
    ProjectionCalls,
    ProjectionRecord,
    ProjectionRecords,
    RecomputeDueInput,
    RecomputeDueResult,
    RegisterCaseInput,
    SkipTaskInput,
)
from models.db import session_scope, write_batch
from models.payload_codec import decode_history
from models.processes import SPEC_VERSIONS, SUPPORT_SPECS
from models.tables import Case, HistoryArchive, OrgUnit, Veteran

log = structlog.get_logger(__name__)


def _register(session: Session, inp: RegisterCaseInput, _: Any) -> None:
    veteran = session.get(Veteran, inp.veteran_id) if inp.veteran_id else None
    # A case about an org unit (veteran_id 0) is registered at that unit.
    home_id = veteran.org_unit_id if veteran else inp.org_unit_id
    home = session.get(OrgUnit, home_id) if home_id else None
    if home is not None:
        apply_register(session, inp, home)


# activity name → (input type, result type or None, how to apply it)
WRITES: dict[
    str,
    tuple[type[BaseModel], type[BaseModel] | None, Callable[[Session, Any, Any], Any]],
] = {
    "register_case": (RegisterCaseInput, None, _register),
    "set_case_status": (CaseStatusInput, None, lambda s, i, _: apply_status(s, i)),
    "open_task": (OpenTaskInput, OpenTaskResult, apply_open),
    "record_skipped_step": (SkipTaskInput, None, lambda s, i, _: apply_skip(s, i)),
    "assign_task": (AssignTaskInput, None, lambda s, i, _: apply_assign(s, i)),
    "close_task": (CloseTaskInput, None, lambda s, i, _: apply_close(s, i)),
    "escalate_task": (EscalateTaskInput, EscalateTaskResult, apply_escalate),
    "recompute_due": (RecomputeDueInput, RecomputeDueResult, apply_recompute),
}


# The core SDK's marker of a local activity (its details: "data", "result").
LOCAL_ACTIVITY_MARKER = "core_local_activity"


class ProjectionActivities:
    """The projection writes a case makes on a clerk's path, as one local activity
    type (``project``, run by the worker that runs the workflow): the same functions
    as the regular activities of those names, at least once, idempotent as they are
    (the case and task ids, the task's write sequence, the audit dedupe keys). The
    result carries the input, so the history's marker records the write."""

    def __init__(
        self,
        cases: CaseActivities,
        tasks: HumanTaskActivities,
        notices: NotificationActivities | None = None,
    ) -> None:
        # One engine for all: a project_all's writes join its batch by engine.
        if cases.engine is not tasks.engine or (
            notices is not None and notices.engine is not tasks.engine
        ):
            raise ValueError("the projection's activities must share one engine")
        self.engine = tasks.engine
        self.calls: dict[str, tuple[type[BaseModel], Callable[[Any], Any]]] = {
            "register_case": (RegisterCaseInput, cases.register_case),
            "set_case_status": (CaseStatusInput, cases.set_case_status),
            "open_task": (OpenTaskInput, tasks.open_task),
            "record_skipped_step": (SkipTaskInput, tasks.record_skipped_step),
            "assign_task": (AssignTaskInput, tasks.assign_task),
            "close_task": (CloseTaskInput, tasks.close_task),
        }
        if notices is not None:
            # The outbox write (engine NOTICE_OUTBOX); not a projection: a rebuild
            # never queues a notice again.
            self.calls["queue_notice"] = (DeliverNoticeInput, notices.queue_notice)

    @activity.defn(name=PROJECT)
    def project(self, call: ProjectionCall) -> ProjectionRecord:
        found = self.calls.get(call.activity)
        if found is None:
            raise ApplicationError(
                f"{call.activity} is not a local projection write",
                type="UnknownProjectionWrite",
                non_retryable=True,
            )
        kind, run = found
        inp = kind.model_validate(call.input)
        return ProjectionRecord(activity=call.activity, input=inp, result=run(inp))

    @activity.defn(name=PROJECT_ALL)
    def project_all(self, calls: ProjectionCalls) -> ProjectionRecords:
        """Several writes of one workflow activation (engine 0.10), in their order,
        in one transaction (``write_batch``): they land together or not at all, and a
        retry runs them all again (each is idempotent). Each write sees the ones
        before it, as it did when each committed on its own, and starts with none of
        their ORM objects in the session (a later write reads rows afresh)."""
        records = []
        with write_batch(self.engine) as session:
            for call in calls.calls:
                records.append(self.project(call))
                session.flush()
                session.expunge_all()
        return ProjectionRecords(records=records)


@dataclass
class RebuildReport:
    workflows: int = 0
    writes: int = 0
    missing: list[str] = field(default_factory=list)


def recorded_writes(history: WorkflowHistory) -> list[tuple[str, Any, Any]]:
    """The projection writes a history records, in order: (activity, input, result),
    for each activity that completed. ``history``'s payloads must be decoded already
    (:func:`models.payload_codec.decode_history`)."""
    convert = pydantic_data_converter.payload_converter
    scheduled: dict[int, tuple[str, Any]] = {}
    writes: list[tuple[str, Any, Any]] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            writes += _local_writes(event.marker_recorded_event_attributes)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            name = attrs.activity_type.name
            if name in WRITES:
                (inp,) = convert.from_payloads(attrs.input.payloads, [WRITES[name][0]])
                scheduled[event.event_id] = (name, inp)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            found = scheduled.get(done.scheduled_event_id)
            if found is None:
                continue
            name, inp = found
            result_type = WRITES[name][1]
            result = None
            if result_type is not None and done.result.payloads:
                (result,) = convert.from_payloads(done.result.payloads, [result_type])
            writes.append((name, inp, result))
    return writes


def _local_writes(marker: Any) -> list[tuple[str, Any, Any]]:
    """The projection writes a local activity's marker records (a completed
    ``project``, or the several of a ``project_all``), in order."""
    if marker.marker_name != LOCAL_ACTIVITY_MARKER or "result" not in marker.details:
        return []
    convert = pydantic_data_converter.payload_converter
    data = marker.details.get("data")
    if data is None or not data.payloads or not marker.details["result"].payloads:
        return []
    (meta,) = convert.from_payloads(data.payloads[:1], [dict])
    result = marker.details["result"].payloads
    if meta.get("activity_type") == PROJECT:
        records = convert.from_payloads(result, [ProjectionRecord])
    elif meta.get("activity_type") == PROJECT_ALL:
        (batch,) = convert.from_payloads(result, [ProjectionRecords])
        records = batch.records
    else:
        return []
    writes = []
    for record in records:
        if record.activity not in WRITES:
            continue
        kind, result_type, _ = WRITES[record.activity]
        writes.append(
            (
                record.activity,
                kind.model_validate(record.input),
                result_type.model_validate(record.result)
                if result_type is not None and record.result is not None
                else None,
            )
        )
    return writes


def workflow_types() -> set[str]:
    return {
        spec.workflow
        for versions in SPEC_VERSIONS.values()
        for spec in versions.values()
    } | {spec.workflow for spec in SUPPORT_SPECS.values()}


async def rebuild_projection(
    engine: Engine, client: Client, task_queue: str, case_id: str | None = None
) -> RebuildReport:
    """Write the case and task rows of one case (``case_id``: the case's own workflow
    and the notice workflows about it) or of every case again from their histories."""
    report = RebuildReport()
    for workflow_id in await _workflow_ids(engine, client, task_queue, case_id):
        history = await _history(engine, client, workflow_id)
        if history is None:
            report.missing.append(workflow_id)
            continue
        decoded = await decode_history(history, client.data_converter.payload_codec)
        writes = recorded_writes(decoded)
        with session_scope(engine) as session:
            for name, inp, result in writes:
                WRITES[name][2](session, inp, result)
                session.flush()
        report.workflows += 1
        report.writes += len(writes)
        log.info("projection_rebuilt", workflow_id=workflow_id, writes=len(writes))
    return report


async def _workflow_ids(
    engine: Engine, client: Client, task_queue: str, case_id: str | None
) -> list[str]:
    types = " OR ".join(f'WorkflowType = "{t}"' for t in sorted(workflow_types()))
    query = f'TaskQueue = "{task_queue}" AND ({types})'
    ids: list[str] = []
    async for wf in client.list_workflows(query):
        if wf.id not in ids:
            ids.append(wf.id)
    with Session(engine) as s:
        archived = [a.workflow_id for a in s.exec(select(HistoryArchive)).all()]
        cases = [c.workflow_id for c in s.exec(select(Case)).all()]
    for wid in [*archived, *cases]:
        if wid not in ids:
            ids.append(wid)
    if case_id is None:
        # Case workflows first: a notice's task rows need their case row.
        return sorted(ids, key=lambda w: w.startswith("notice-"))
    own = [w for w in ids if w == case_id]
    notices = [
        w for w in ids if w.startswith((f"notice-{case_id}:", f"notice-{case_id}."))
    ]
    return (own or [case_id]) + notices


async def _history(
    engine: Engine, client: Client, workflow_id: str
) -> WorkflowHistory | None:
    try:
        return await client.get_workflow_handle(workflow_id).fetch_history()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    with Session(engine) as s:
        row = s.get(HistoryArchive, workflow_id)
    if row is None:
        return None
    return WorkflowHistory.from_json(workflow_id, row.history_json)
