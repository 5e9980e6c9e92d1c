"""Activities that write the human-task projection: open, assign, close, escalate.

Every write is idempotent (keyed by the task id the workflow chose), so a retried
activity or a replayed worker never duplicates a row, an audit record or a routing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity

from models.audit import add_audit_event
from models.contracts import (
    AssignTaskInput,
    CloseTaskInput,
    EscalateTaskInput,
    EscalateTaskResult,
    OpenTaskInput,
    OpenTaskResult,
    SkipTaskInput,
)
from models.db import session_scope
from models.processes import PROCESSES
from models.tables import Account, HumanTask, OrgUnit
from models.workdays import WorkCalendar, compute_due, load_overrides

log = structlog.get_logger(__name__)

STAFF_LEVEL_ROLE = {
    "village": "village_staff",
    "township": "township_staff",
    "county": "county_staff",
}


def _log() -> Any:
    if activity.in_activity():
        info = activity.info()
        return log.bind(workflow_id=info.workflow_id, activity=info.activity_type)
    return log


def form_schema_of(process: str, step: str) -> dict[str, Any]:
    """The step form's JSON Schema, from the process definition (kept out of the
    workflow history, where it would repeat with every task)."""
    spec = PROCESSES.get(process)
    return spec.step(step).form.model_json_schema() if spec else {}


def available_assignee(session: Session, username: str | None) -> str | None:
    """The clerk who should hold a task: the preferred one, or their B角 when they are
    absent (003 §7.7.1); None when neither is available."""
    if not username:
        return None
    acc = session.exec(select(Account).where(Account.username == username)).first()
    if acc is None or not acc.active:
        return None
    if not acc.absent:
        return acc.username
    if acc.backup_username:
        backup = session.exec(
            select(Account).where(Account.username == acc.backup_username)
        ).first()
        if backup is not None and backup.active and not backup.absent:
            return backup.username
    return None


class HumanTaskActivities:
    """Owns the `human_task` rows. Deadlines are computed here (they need the holiday table)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def open_task(self, inp: OpenTaskInput) -> OpenTaskResult:
        """Create the task row (once), with its due time in working days and its first holder."""
        with session_scope(self.engine) as session:
            existing = session.get(HumanTask, inp.task_id)
            if existing is not None:
                return OpenTaskResult(
                    task_id=existing.id,
                    assignee=existing.assignee,
                    due_at=existing.due_at,
                    remind_at=existing.remind_at,
                    org_path=existing.org_path,
                )
            unit = session.get(OrgUnit, inp.org_unit_id)
            if unit is None:
                raise ValueError(f"org unit {inp.org_unit_id} does not exist")
            start = inp.created_at
            overrides = load_overrides(
                session,
                start.date() - timedelta(days=1),
                start.date() + timedelta(days=400),
            )
            due_at, remind_at = compute_due(inp.policy, start, WorkCalendar(overrides))
            assignee = available_assignee(session, inp.preferred_assignee)
            row = HumanTask(
                id=inp.task_id,
                case_id=inp.case_id,
                workflow_id=inp.workflow_id,
                process=inp.process,
                step=inp.step,
                title=inp.title,
                regulation=inp.regulation,
                candidate_role=inp.candidate_role,
                org_unit_id=inp.org_unit_id,
                org_path=unit.path,
                assignee=assignee,
                status="open",
                round=inp.round,
                created_at=start,
                due_at=due_at,
                remind_at=remind_at,
                outcomes=inp.outcomes,
                form_schema=inp.form_schema or form_schema_of(inp.process, inp.step),
                context=inp.context,
            )
            session.add(row)
            add_audit_event(
                session,
                actor="system",
                action="task_opened",
                entity_type="task",
                entity_id=inp.task_id,
                case_id=inp.case_id,
                after={"step": inp.step, "assignee": assignee, "due_at": _iso(due_at)},
                dedupe_key=f"task_opened:{inp.task_id}",
            )
        _log().info(
            "task_opened", task_id=inp.task_id, case_id=inp.case_id, assignee=assignee
        )
        return OpenTaskResult(
            task_id=inp.task_id,
            assignee=assignee,
            due_at=due_at,
            remind_at=remind_at,
            org_path=unit.path,
        )

    @activity.defn
    def record_skipped_step(self, inp: SkipTaskInput) -> None:
        """Record a step that does not apply, with the reason, so the case shows why."""
        t = inp.task
        with session_scope(self.engine) as session:
            if session.get(HumanTask, t.task_id) is not None:
                return
            unit = session.get(OrgUnit, t.org_unit_id)
            session.add(
                HumanTask(
                    id=t.task_id,
                    case_id=t.case_id,
                    workflow_id=t.workflow_id,
                    process=t.process,
                    step=t.step,
                    title=t.title,
                    regulation=t.regulation,
                    candidate_role=t.candidate_role,
                    org_unit_id=t.org_unit_id,
                    org_path=unit.path if unit else "/",
                    status="skipped",
                    created_at=t.created_at,
                    outcomes=t.outcomes,
                    comment=inp.reason,
                    completed_by="system",
                    completed_at=t.created_at,
                )
            )
            add_audit_event(
                session,
                actor="system",
                action="step_skipped",
                entity_type="task",
                entity_id=t.task_id,
                case_id=t.case_id,
                after={"reason": inp.reason},
                dedupe_key=f"step_skipped:{t.task_id}",
            )
        _log().info("step_skipped", task_id=t.task_id, case_id=t.case_id)

    @activity.defn
    def assign_task(self, inp: AssignTaskInput) -> None:
        """Record a claim, unclaim, reassignment or backup routing of a task."""
        with session_scope(self.engine) as session:
            row = session.get(HumanTask, inp.task_id)
            if row is None:
                raise ValueError(f"task {inp.task_id} has no row")
            before = row.assignee
            row.assignee = inp.assignee
            session.add(row)
            add_audit_event(
                session,
                actor=inp.actor,
                action=f"task_{inp.action}",
                entity_type="task",
                entity_id=inp.task_id,
                case_id=inp.case_id,
                before={"assignee": before},
                after={"assignee": inp.assignee, "reason": inp.reason},
                dedupe_key=f"task_{inp.action}:{inp.task_id}:{inp.at.isoformat()}",
            )
        _log().info(
            "task_assigned",
            task_id=inp.task_id,
            action=inp.action,
            assignee=inp.assignee,
        )

    @activity.defn
    def close_task(self, inp: CloseTaskInput) -> None:
        """Mark a task completed (with the submitted form and outcome) or cancelled."""
        with session_scope(self.engine) as session:
            row = session.get(HumanTask, inp.task_id)
            if row is None:
                raise ValueError(f"task {inp.task_id} has no row")
            if row.status == inp.status:
                return
            before = {"status": row.status, "assignee": row.assignee}
            row.status = inp.status
            if inp.result is not None:
                row.outcome = inp.result.outcome
                row.result = inp.result.data
                row.comment = inp.result.comment
                row.completed_by = inp.result.completed_by
                row.completed_at = inp.result.completed_at
                row.assignee = inp.result.completed_by
            session.add(row)
            add_audit_event(
                session,
                actor=inp.result.completed_by if inp.result else "system",
                action=f"task_{inp.status}",
                entity_type="task",
                entity_id=inp.task_id,
                case_id=inp.case_id,
                before=before,
                after={
                    "status": inp.status,
                    "outcome": inp.result.outcome if inp.result else None,
                    "data": inp.result.data if inp.result else None,
                    "comment": inp.result.comment if inp.result else None,
                },
                dedupe_key=f"task_{inp.status}:{inp.task_id}",
            )
        _log().info(
            "task_closed", task_id=inp.task_id, case_id=inp.case_id, status=inp.status
        )

    @activity.defn
    def escalate_task(self, inp: EscalateTaskInput) -> EscalateTaskResult:
        """At the due time: mark the task overdue, find the supervisors to notify (the unit
        above: its managers, or else its staff), and route the task to the B角 if the
        holder is absent (003 §7.7, §7.9)."""
        with session_scope(self.engine) as session:
            row = session.get(HumanTask, inp.task_id)
            if row is None:
                raise ValueError(f"task {inp.task_id} has no row")
            first_time = not row.overdue
            row.overdue = True
            new_assignee: str | None = None
            if inp.assignee:
                routed = available_assignee(session, inp.assignee)
                if routed and routed != inp.assignee:
                    new_assignee = routed
                    row.assignee = routed
            session.add(row)
            supervisors = supervisors_of(session, inp.org_unit_id)
            if first_time:
                add_audit_event(
                    session,
                    actor="system",
                    action="task_overdue",
                    entity_type="task",
                    entity_id=inp.task_id,
                    case_id=inp.case_id,
                    before={"assignee": inp.assignee},
                    after={"assignee": row.assignee, "notified": supervisors},
                    dedupe_key=f"task_overdue:{inp.task_id}",
                )
        _log().info(
            "task_overdue",
            task_id=inp.task_id,
            supervisors=supervisors,
            new_assignee=new_assignee,
        )
        return EscalateTaskResult(supervisors=supervisors, new_assignee=new_assignee)


def supervisors_of(session: Session, org_unit_id: int) -> list[str]:
    """Who hears about an overdue task: walking up from the unit above, the first unit
    with managers gives its managers; a unit without managers gives its staff of that
    level. With nobody above, the managers of the unit itself."""
    unit = session.get(OrgUnit, org_unit_id)
    if unit is None:
        return []
    parent_id = unit.parent_id
    while parent_id is not None:
        parent = session.get(OrgUnit, parent_id)
        if parent is None:
            break
        accounts = session.exec(
            select(Account).where(Account.org_unit_id == parent.id, Account.active)
        ).all()
        managers = sorted(a.username for a in accounts if "manager" in a.roles)
        if managers:
            return managers
        staff_role = STAFF_LEVEL_ROLE.get(str(parent.level))
        staff = sorted(
            a.username for a in accounts if staff_role and staff_role in a.roles
        )
        if staff:
            return staff
        parent_id = parent.parent_id
    own = session.exec(
        select(Account).where(Account.org_unit_id == unit.id, Account.active)
    ).all()
    return sorted(a.username for a in own if "manager" in a.roles)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
