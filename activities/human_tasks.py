"""Activities that write the human-task projection: open, assign, close, escalate.

Every write is idempotent (keyed by the task id the workflow chose), so a retried
activity or a replayed worker never duplicates a row, an audit record or a routing.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Insert, bindparam, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.engine import Engine, Row
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notifications import NotificationActivities
from models.audit import add_audit_event
from models.contracts import (
    AssignTaskInput,
    CloseTaskInput,
    DeliverNoticeInput,
    EscalateTaskInput,
    EscalateTaskResult,
    OpenTaskInput,
    OpenTaskResult,
    RecomputeDueInput,
    RecomputeDueResult,
    SkipTaskInput,
    TaskRecipientsInput,
    task_notice,
)
from models.db import InsertOnce, core_connection, read_once, session_scope
from models.processes import spec_of
from models.tables import Account, HumanTask, OrgUnit, aware
from models.task_completion import completed_values
from models.workdays import (
    WorkCalendar,
    compute_due,
    escalation_times,
    load_overrides,
)

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


def form_schema_of(
    process: str, step: str, version: int | None = None
) -> dict[str, Any]:
    """The step form's JSON Schema, from the process definition the case runs (kept
    out of the workflow history, where it would repeat with every task). A released
    definition version never changes, so its schema is generated once per process
    and handed out as a copy."""
    return copy.deepcopy(_form_schema(process, step, version))


@functools.lru_cache(maxsize=512)
def _form_schema(process: str, step: str, version: int | None) -> dict[str, Any]:
    spec = spec_of(process, version)
    return spec.step(step).form.model_json_schema() if spec else {}


_ACCOUNTS = Account.__table__  # type: ignore[attr-defined]
_TASKS = HumanTask.__table__  # type: ignore[attr-defined]
_UNITS = OrgUnit.__table__  # type: ignore[attr-defined]
# The hot projection statements, built once and run on the session's connection
# (Core: no identity map or unit of work for rows the transaction never reads back).
_ACCOUNT = core_select(
    _ACCOUNTS.c.username,
    _ACCOUNTS.c.active,
    _ACCOUNTS.c.absent,
    _ACCOUNTS.c.backup_username,
).where(_ACCOUNTS.c.username == bindparam("username"))
_UNIT_PATH = core_select(_UNITS.c.path).where(_UNITS.c.id == bindparam("unit_id"))
_TASK_OPENED = core_select(
    _TASKS.c.id,
    _TASKS.c.assignee,
    _TASKS.c.due_at,
    _TASKS.c.remind_at,
    _TASKS.c.org_path,
).where(_TASKS.c.id == bindparam("task_id"))
_TASK_STATE = core_select(
    _TASKS.c.status, _TASKS.c.seq, _TASKS.c.assignee, _TASKS.c.due_at
).where(_TASKS.c.id == bindparam("task_id"))
_INSERT_TASK = insert(_TASKS)
_INSERT_TASK_ONCE = InsertOnce(_TASKS, _TASKS.c.id, tell=True)
# Built once: the SET clause is the columns named in the parameters (compiled once
# per set of names, then cached).
_UPDATE_TASK = update(_TASKS).where(_TASKS.c.id == bindparam("task_key"))


def available_assignee(
    session: Session, username: str | None, excluded: Sequence[str] = ()
) -> str | None:
    """The clerk who should hold a task: the preferred one, or their B角 when they are
    absent (003 §7.7.1); None when neither is available, or the one available is
    recused from the case (``excluded``: the task then waits in the unit's queue)."""
    if not username or username in excluded:
        return None
    conn = core_connection(session)
    acc = conn.execute(_ACCOUNT, {"username": username}).first()
    if acc is None or not acc.active:
        return None
    if not acc.absent:
        return str(acc.username)
    if acc.backup_username:
        backup = conn.execute(_ACCOUNT, {"username": acc.backup_username}).first()
        if (
            backup is not None
            and backup.active
            and not backup.absent
            and backup.username not in excluded
        ):
            return str(backup.username)
    return None


def _missing(task_id: str) -> ApplicationError:
    """A projection write found no row: permanent until the projection is rebuilt
    (`vetflow projection rebuild`), so the case raises an incident."""
    return ApplicationError(
        f"task {task_id} has no row (rebuild the projection)",
        type="TaskRowMissing",
        non_retryable=True,
    )


def _newer(row: HumanTask | Row[Any], seq: int) -> bool:
    """Apply a write only when it is newer than the row's last (0: before sequences)."""
    return seq == 0 or seq > row.seq


def calendar_around(session: Session, start: datetime) -> WorkCalendar:
    """The working-day calendar from the day before ``start`` for 400 days (read once
    per write batch: a step that opens several tasks reads the holiday table once)."""
    day = start.date()
    overrides = read_once(
        session,
        ("holidays", day),
        lambda: load_overrides(
            session, day - timedelta(days=1), day + timedelta(days=400)
        ),
    )
    return WorkCalendar(overrides)


def unit_path(session: Session, unit_id: int | None) -> str | None:
    """The org unit's path (read once per write batch)."""
    conn = core_connection(session)
    return read_once(
        session,
        ("unit_path", unit_id),
        lambda: conn.execute(_UNIT_PATH, {"unit_id": unit_id}).scalar(),
    )


class HumanTaskActivities:
    """Owns the `human_task` rows. Deadlines are computed here (they need the holiday table)."""

    def __init__(
        self, engine: Engine, notices: NotificationActivities | None = None
    ) -> None:
        self.engine = engine
        # The outbox a task's opening queues its announcement in (engine 0.9).
        self.notices = notices

    @activity.defn
    def open_task(self, inp: OpenTaskInput) -> OpenTaskResult:
        """Create the task row (once), with its due time in working days and its first
        holder. With ``inp.announce`` (engine 0.9) the holder's notice is queued in
        the same transaction as the row, so it is queued once: a retry finds the row
        and queues nothing (its result then names nobody as ``announced``). A task
        with no holder waits in its unit's queue, announced to nobody."""
        with session_scope(self.engine) as session:
            conn = core_connection(session)
            cal = calendar_around(session, inp.created_at)
            insert_once = _INSERT_TASK_ONCE.on(conn)
            existing = (
                None  # the insert below finds out, in the same statement
                if insert_once is not None
                else conn.execute(_TASK_OPENED, {"task_id": inp.task_id}).first()
            )
            if existing is None:
                due_at, remind_at = compute_due(inp.policy, inp.created_at, cal)
                result = OpenTaskResult(
                    task_id=inp.task_id,
                    assignee=available_assignee(
                        session, inp.preferred_assignee, inp.excluded
                    ),
                    due_at=due_at,
                    remind_at=remind_at,
                    escalate_at=escalation_times(inp.policy, due_at, cal),
                )
                path = _insert_open(
                    session, inp, result, exists=False, insert=insert_once
                )
                if path is None:  # a retry: the row is there
                    existing = conn.execute(
                        _TASK_OPENED, {"task_id": inp.task_id}
                    ).first()
                else:
                    result.org_path = path
            if existing is not None:
                return OpenTaskResult(
                    task_id=existing.id,
                    assignee=existing.assignee,
                    due_at=existing.due_at,
                    remind_at=existing.remind_at,
                    org_path=existing.org_path,
                    escalate_at=escalation_times(inp.policy, existing.due_at, cal),
                )
            if inp.announce is not None and result.assignee:
                result.announced = self._announce(session, inp, result)
        if result.announced and self.notices is not None:
            self.notices.wake()
        _log().info(
            "task_opened",
            task_id=inp.task_id,
            case_id=inp.case_id,
            assignee=result.assignee,
        )
        return result

    def _announce(
        self, session: Session, inp: OpenTaskInput, result: OpenTaskResult
    ) -> str | None:
        """Queue the opening's announcement to the task's holder in ``session``."""
        announce, holder = inp.announce, result.assignee
        if announce is None or holder is None:
            return None
        if self.notices is None:
            raise ApplicationError(
                "this worker's task activities have no notice outbox",
                type="NoNoticeOutbox",
                non_retryable=True,
            )
        self.notices.queue_in(
            session,
            DeliverNoticeInput(
                notice=task_notice(
                    task_id=inp.task_id,
                    case_id=inp.case_id,
                    title=inp.title,
                    due_at=result.due_at,
                    kind=announce.template,
                    username=holder,
                    reasons=announce.reasons,
                ),
                policy=announce.policy,
                attempts=announce.attempts,
                max_interval=announce.max_interval,
            ),
        )
        return holder

    @activity.defn
    def record_skipped_step(self, inp: SkipTaskInput) -> None:
        """Record a step that does not apply, with the reason, so the case shows why."""
        with session_scope(self.engine) as session:
            apply_skip(session, inp)
        _log().info("step_skipped", task_id=inp.task.task_id, case_id=inp.task.case_id)

    @activity.defn
    def assign_task(self, inp: AssignTaskInput) -> None:
        """Record a claim, unclaim, reassignment or backup routing of a task."""
        with session_scope(self.engine) as session:
            apply_assign(session, inp)
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
            apply_close(session, inp)
        _log().info(
            "task_closed", task_id=inp.task_id, case_id=inp.case_id, status=inp.status
        )

    @activity.defn
    def escalate_task(self, inp: EscalateTaskInput) -> EscalateTaskResult:
        """A rung of the escalation ladder (003 §7.9): mark the task overdue (and the
        rung reached), find who to tell, and route the task to the B角 if the holder
        is absent (003 §7.7). A task already completed, or a write older than the
        row's, changes nothing and tells nobody (``stale``)."""
        with session_scope(self.engine) as session:
            row = session.get(HumanTask, inp.task_id)
            if row is None:
                raise _missing(inp.task_id)
            if row.status != "open" or not _newer(row, inp.seq):
                result = EscalateTaskResult(stale=True)
            else:
                routed = (
                    available_assignee(session, inp.assignee, inp.excluded)
                    if inp.assignee
                    else None
                )
                result = EscalateTaskResult(
                    supervisors=[
                        u
                        for u in recipients_of_rung(
                            session, inp.org_unit_id, inp.notify
                        )
                        if u not in inp.excluded
                    ],
                    new_assignee=routed if routed and routed != inp.assignee else None,
                )
                apply_escalate(session, inp, result)
        _log().info(
            "task_overdue",
            task_id=inp.task_id,
            rung=inp.rung,
            stale=result.stale,
            supervisors=result.supervisors,
            new_assignee=result.new_assignee,
        )
        return result

    @activity.defn
    def recompute_due(self, inp: RecomputeDueInput) -> RecomputeDueResult:
        """Due, reminder and ladder times of an open task under today's holiday table;
        the row and the audit trail record a change."""
        with session_scope(self.engine) as session:
            row = session.get(HumanTask, inp.task_id)
            if row is None:
                raise _missing(inp.task_id)
            cal = calendar_around(session, inp.created_at)
            due_at, remind_at = compute_due(inp.policy, inp.created_at, cal)
            result = RecomputeDueResult(
                due_at=due_at,
                remind_at=remind_at,
                escalate_at=escalation_times(inp.policy, due_at, cal),
                changed=aware(due_at) != aware(row.due_at),
            )
            apply_recompute(session, inp, result)
        return result

    @activity.defn
    def task_recipients(self, inp: TaskRecipientsInput) -> list[str]:
        """Who a reminder goes to: the holder (or their B角), else every clerk of the
        task's unit who holds its role and is at work (the candidate group)."""
        with session_scope(self.engine) as session:
            holder = available_assignee(session, inp.assignee, inp.excluded)
            if holder:
                return [holder]
            accounts = session.exec(
                select(Account).where(
                    Account.org_unit_id == inp.org_unit_id, Account.active
                )
            ).all()
            return sorted(
                a.username
                for a in accounts
                if inp.candidate_role in a.roles
                and not a.absent
                and a.username not in inp.excluded
            )


# --- the writes themselves (also replayed by `vetflow projection rebuild`) ---------


def _row(inp: OpenTaskInput, org_path: str, **fields: Any) -> dict[str, Any]:
    """The task row the workflow described in ``inp``, plus what differs by kind: every
    column's value (a Core insert applies none of the model's defaults)."""
    return {
        "id": inp.task_id,
        "case_id": inp.case_id,
        "workflow_id": inp.workflow_id,
        "process": inp.process,
        "step": inp.step,
        "title": inp.title,
        "regulation": inp.regulation,
        "candidate_role": inp.candidate_role,
        "org_unit_id": inp.org_unit_id,
        "org_path": org_path,
        "created_at": inp.created_at,
        "outcomes": inp.outcomes,
        "seq": inp.seq,
        "assignee": None,
        "status": "open",
        "overdue": False,
        "escalation_level": 0,
        "round": 1,
        "due_at": None,
        "remind_at": None,
        "form_schema": {},
        "context": {},
        "outcome": None,
        "result": {},
        "comment": None,
        "completed_by": None,
        "completed_at": None,
        **fields,
    }


def _task_exists(session: Session, task_id: str) -> bool:
    return (
        core_connection(session).execute(_TASK_OPENED, {"task_id": task_id}).first()
        is not None
    )


def apply_open(session: Session, inp: OpenTaskInput, result: OpenTaskResult) -> str:
    """Insert the task row as the workflow opened it, unless it exists; returns the
    unit's path."""
    path = _insert_open(session, inp, result, exists=_task_exists(session, inp.task_id))
    assert path is not None  # noqa: S101 (a plain insert, the row known absent)
    return path


def _insert_open(
    session: Session,
    inp: OpenTaskInput,
    result: OpenTaskResult,
    *,
    exists: bool,
    insert: Insert | None = None,
) -> str | None:
    """:func:`apply_open` once the row's existence is known, or with ``insert`` (an
    ``INSERT … ON CONFLICT DO NOTHING``, ``open_task``) finding it out: the unit's
    path, or None when that insert found the row there (nothing written)."""
    conn = core_connection(session)
    path = unit_path(session, inp.org_unit_id)
    if path is None:
        raise ApplicationError(
            f"org unit {inp.org_unit_id} does not exist",
            type="UnknownOrgUnit",
            non_retryable=True,
        )
    if exists:
        return str(path)
    written = conn.execute(
        _INSERT_TASK if insert is None else insert,
        _row(
            inp,
            path,
            assignee=result.assignee,
            status="open",
            round=inp.round,
            due_at=result.due_at,
            remind_at=result.remind_at,
            # The cached schema itself: the insert serializes it, nothing mutates it.
            form_schema=inp.form_schema
            or _form_schema(inp.process, inp.step, inp.spec_version),
            context=inp.context,
        ),
    )
    if insert is not None and written.first() is None:
        return None  # the row was there: nothing written
    add_audit_event(
        session,
        actor="system",
        action="task_opened",
        entity_type="task",
        entity_id=inp.task_id,
        case_id=inp.case_id,
        after={
            "step": inp.step,
            "assignee": result.assignee,
            "due_at": _iso(result.due_at),
        },
        dedupe_key=f"task_opened:{inp.task_id}",
    )
    return str(path)


def apply_skip(session: Session, inp: SkipTaskInput) -> None:
    t = inp.task
    if _task_exists(session, t.task_id):
        return
    conn = core_connection(session)
    path = unit_path(session, t.org_unit_id)
    conn.execute(
        _INSERT_TASK,
        _row(
            t,
            path or "/",
            status="skipped",
            comment=inp.reason,
            completed_by="system",
            completed_at=t.created_at,
        ),
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


def apply_assign(session: Session, inp: AssignTaskInput) -> None:
    row = session.get(HumanTask, inp.task_id)
    if row is None:
        raise _missing(inp.task_id)
    if not _newer(row, inp.seq):
        return  # a late retry: a newer write already stands
    before = row.assignee
    row.assignee = inp.assignee
    row.seq = max(row.seq, inp.seq)
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


def apply_close(session: Session, inp: CloseTaskInput) -> None:
    conn = core_connection(session)
    row = conn.execute(_TASK_STATE, {"task_id": inp.task_id}).first()
    if row is None:
        raise _missing(inp.task_id)
    if row.status == inp.status or not _newer(row, inp.seq):
        return
    before = {"status": row.status, "assignee": row.assignee}
    values: dict[str, Any] = {"status": inp.status, "seq": max(row.seq, inp.seq)}
    if inp.result is not None:
        # A write without a sequence number (before engine versions had them)
        # leaves overdue as it stands.
        values.update(
            completed_values(inp.result, row.due_at, judge_overdue=bool(inp.seq))
        )
    elif inp.at is not None:
        values["completed_at"] = inp.at  # withdrawn: when the process stopped waiting
    conn.execute(_UPDATE_TASK, {"task_key": inp.task_id, **values})
    loaded = session.identity_map.get(identity_key(HumanTask, inp.task_id))
    if loaded is not None:  # the ORM's copy, if a caller holds one, is now stale
        session.expire(loaded)
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


def apply_escalate(
    session: Session, inp: EscalateTaskInput, result: EscalateTaskResult
) -> None:
    row = session.get(HumanTask, inp.task_id)
    if row is None or result.stale or row.status != "open" or not _newer(row, inp.seq):
        return
    row.overdue = True
    row.escalation_level = max(row.escalation_level, inp.rung)
    row.seq = max(row.seq, inp.seq)
    if result.new_assignee:
        row.assignee = result.new_assignee
    session.add(row)
    first = inp.rung == 1
    add_audit_event(
        session,
        actor="system",
        action="task_overdue" if first else "task_escalated",
        entity_type="task",
        entity_id=inp.task_id,
        case_id=inp.case_id,
        before={"assignee": inp.assignee},
        after={
            "assignee": row.assignee,
            "rung": inp.rung,
            "notify": inp.notify,
            "notified": result.supervisors,
        },
        dedupe_key=f"task_overdue:{inp.task_id}"
        if first
        else f"task_escalated:{inp.task_id}:{inp.rung}",
    )


def apply_recompute(
    session: Session, inp: RecomputeDueInput, result: RecomputeDueResult
) -> None:
    row = session.get(HumanTask, inp.task_id)
    if row is None or not result.changed or not _newer(row, inp.seq):
        return
    before = {"due_at": _iso(row.due_at), "remind_at": _iso(row.remind_at)}
    row.due_at, row.remind_at = result.due_at, result.remind_at
    row.seq = max(row.seq, inp.seq)
    due = aware(result.due_at)
    now = aware(inp.at) or datetime.now(UTC)
    if inp.moved and due is not None and due > now:
        # A deadline the process moved (an extension): no longer overdue.
        row.overdue, row.escalation_level = False, 0
    session.add(row)
    add_audit_event(
        session,
        actor="system",
        action="task_due_recomputed",
        entity_type="task",
        entity_id=inp.task_id,
        case_id=inp.case_id,
        before=before,
        after={"due_at": _iso(result.due_at), "remind_at": _iso(result.remind_at)},
        dedupe_key=f"task_due_recomputed:{inp.task_id}:{inp.seq}",
    )


def recipients_of_rung(session: Session, org_unit_id: int, notify: str) -> list[str]:
    """Who a rung of the ladder tells: ``supervisor`` (see supervisors_of),
    ``unit_above`` (the same, starting one unit higher), ``county_leader`` (the
    county centre's managers). A rung that finds nobody goes to the county leaders."""
    unit = session.get(OrgUnit, org_unit_id)
    if unit is None:
        return []
    found: list[str] = []
    if notify == "supervisor":
        found = supervisors_of(session, org_unit_id)
    elif notify == "unit_above" and unit.parent_id is not None:
        found = supervisors_of(session, unit.parent_id)
    return found or county_leaders(session, unit)


def county_leaders(session: Session, unit: OrgUnit) -> list[str]:
    """The managers of the county centre at or above ``unit``."""
    current: OrgUnit | None = unit
    while current is not None and current.level != "county":
        current = session.get(OrgUnit, current.parent_id) if current.parent_id else None
    if current is None:
        return []
    accounts = session.exec(
        select(Account).where(Account.org_unit_id == current.id, Account.active)
    ).all()
    return sorted(a.username for a in accounts if "manager" in a.roles)


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
