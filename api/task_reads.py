"""Reading task data: the form data as the reader may see it.

A field the step's form marks sensitive (models/sensitive.py) is masked unless the
reader's role may see full ID numbers (``VETFLOW_UNMASK_ROLES``); every unmasked read
of such a field is audited (``unmask_task_data``), as unmasked ID numbers are
(``unmask_id_number``). The JSON API and the pages both read through here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine, Row
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.deps import AuthUser
from models.process_spec import StepSpec
from models.processes import SPEC_VERSIONS, spec_of
from models.public import TaskPublic
from models.sensitive import mask_data, mask_named, sensitive_names
from models.settings import Settings
from models.tables import AuditEvent, HumanTask

AUDIT_ACTION = "unmask_task_data"


@dataclass
class TaskData:
    """One task's data as shown to one reader."""

    data: dict[str, Any]
    masked: list[str] = field(default_factory=list)  # hidden from this reader
    revealed: list[str] = field(default_factory=list)  # sensitive, shown in full


def step_spec(process: str, step: str, version: int | None = None) -> StepSpec | None:
    """The definition of ``step``: of the case's version when given, else of the
    newest version that has it."""
    specs = [spec_of(process, version)] if version is not None else []
    specs += [
        v for _, v in sorted(SPEC_VERSIONS.get(process, {}).items(), reverse=True)
    ]
    support = spec_of(process)
    for spec in [*specs, support]:
        if spec is None:
            continue
        try:
            return spec.step(step)
        except KeyError:
            continue
    return None


def holder_of(task: HumanTask, version: int | None = None) -> str:
    return step_holder(task.process, task.step, version)


def step_holder(process: str, step: str, version: int | None = None) -> str:
    """Who holds the step: ``agency`` (clerks) or ``veteran``."""
    found = step_spec(process, step, version)
    return found.holder if found else "agency"


# A task as read: its ORM object, or a row of all its columns (the task list).
TaskRead = HumanTask | Row[Any]


def task_data(task: TaskRead, unmask: bool) -> TaskData:
    masked, paths = mask_data(task.form_schema, task.result)
    if unmask:
        return TaskData(dict(task.result or {}), revealed=paths)
    return TaskData(masked, masked=paths)


def audit_revealed(
    engine: Engine, user: AuthUser, reads: Iterable[tuple[TaskRead, TaskData]]
) -> None:
    """One audit row per task whose sensitive fields the reader was shown in full."""
    shown = [(t, d) for t, d in reads if d.revealed]
    if not shown:
        return
    with Session(engine) as s:
        for task, data in shown:
            record_audit(
                s,
                actor=user.username,
                action=AUDIT_ACTION,
                entity_type="task",
                entity_id=task.id,
                case_id=task.case_id,
                after={"fields": data.revealed},
            )
        s.commit()


# TaskPublic's fields that come from the task's own columns.
_TASK_COLUMNS = tuple(
    name
    for name in TaskPublic.model_fields
    if name not in ("result", "masked_fields", "holder")
)
_TASK_LIST = TypeAdapter(list[TaskPublic])


def _columns(
    task: TaskRead, getters: dict[int, Callable[[Any], Any]]
) -> dict[str, Any]:
    """The task's values of ``_TASK_COLUMNS``. Of a row, read by position with one
    ``itemgetter`` made once per result in ``getters`` (``Row._asdict`` lists the
    result's keys again for every row); of an ORM object, those it loaded straight
    from its state (an instrumented attribute read costs ~0.5 µs a column), the others
    through the attribute."""
    if isinstance(task, Row):
        get = getters.get(id(task._parent))
        if get is None:
            fields = task._fields
            get = itemgetter(*(fields.index(name) for name in _TASK_COLUMNS))
            getters[id(task._parent)] = get
        return dict(zip(_TASK_COLUMNS, get(task), strict=True))
    loaded = sa_inspect(task).dict
    return {
        name: loaded[name] if name in loaded else getattr(task, name)
        for name in _TASK_COLUMNS
    }


def read_tasks(
    engine: Engine, settings: Settings, user: AuthUser, tasks: Sequence[TaskRead]
) -> list[TaskPublic]:
    """The tasks as the API answers them to ``user`` (sync: run in a thread)."""
    unmask = user.can_unmask(settings)
    reads = [(t, task_data(t, unmask)) for t in tasks]
    audit_revealed(engine, user, reads)
    holders: dict[tuple[str, str], str] = {}  # a list's tasks share a few steps
    # By id of the rows' result metadata, which the rows keep alive during the call.
    getters: dict[int, Callable[[Any], Any]] = {}
    listed = []
    for t, d in reads:
        step = (t.process, t.step)
        holder = holders.get(step)
        if holder is None:
            holder = holders[step] = step_holder(*step)
        values = _columns(t, getters)
        values["result"] = d.data
        values["masked_fields"] = d.masked
        values["holder"] = holder
        listed.append(values)
    return _TASK_LIST.validate_python(listed)


async def read_task(
    engine: Engine, settings: Settings, user: AuthUser, task: TaskRead
) -> TaskPublic:
    """One task as :func:`read_tasks` answers it, from the event loop: in the
    threadpool only when the read writes (an unmasked read of sensitive fields is
    audited), else at once."""
    if user.can_unmask(settings):
        (public,) = await run_in_threadpool(read_tasks, engine, settings, user, [task])
    else:
        (public,) = read_tasks(engine, settings, user, [task])
    return public


def process_sensitive_names(process: str) -> frozenset[str]:
    """Names of the fields any form of ``process`` (any version) marks sensitive."""
    names: set[str] = set()
    for spec in SPEC_VERSIONS.get(process, {}).values():
        for step in spec.steps:
            names |= sensitive_names(step.form.model_json_schema())
    return frozenset(names)


def _mask_payload(
    payload: dict[str, Any], names: frozenset[str], found: list[str]
) -> dict[str, Any]:
    try:
        encoding = base64.b64decode(payload.get("metadata", {}).get("encoding", ""))
        if encoding != b"json/plain":
            return payload
        value = json.loads(base64.b64decode(payload.get("data", "")))
    except (ValueError, TypeError):
        return payload
    before = len(found)
    masked = mask_named(value, names, found)
    if len(found) == before:
        return payload
    data = json.dumps(masked, ensure_ascii=False, separators=(",", ":")).encode()
    return {**payload, "data": base64.b64encode(data).decode()}


def mask_history(history: dict[str, Any], process: str) -> tuple[dict[str, Any], bool]:
    """A decoded history (``WorkflowHistory.to_json`` as a dict) with the sensitive
    fields of the process's forms masked inside every JSON payload, and whether any
    was. For showing the raw events; replays and exports use the history itself."""
    names = process_sensitive_names(process)
    if not names:
        return history, False
    found: list[str] = []

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "data" in node and "metadata" in node and isinstance(node["data"], str):
                return _mask_payload(node, names, found)
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    masked = walk(history)
    return masked, bool(found)


@dataclass
class TrailRow:
    """An audit row as the reader may see it (a task's data masked)."""

    row: AuditEvent
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)


def read_trail(
    engine: Engine, settings: Settings, user: AuthUser, rows: list[AuditEvent]
) -> list[TrailRow]:
    """Audit rows with the form data they carry (a task's completion records it)
    masked by the task's form schema, unless the reader's role may see it (then the
    read is audited like any other unmasked read)."""
    task_ids = {
        r.entity_id
        for r in rows
        if r.entity_type == "task" and _carries_data(r.before, r.after)
    }
    with Session(engine) as s:
        tasks = (
            {
                t.id: t
                for t in s.exec(
                    select(HumanTask).where(col(HumanTask.id).in_(task_ids))
                ).all()
            }
            if task_ids
            else {}
        )
    unmask = user.can_unmask(settings)
    out: list[TrailRow] = []
    revealed: list[tuple[HumanTask, TaskData]] = []
    for r in rows:
        task = tasks.get(r.entity_id) if r.entity_type == "task" else None
        if task is None:
            out.append(TrailRow(r, r.before, r.after))
            continue
        sides: list[dict[str, Any] | None] = []
        for side in (r.before, r.after):
            if isinstance(side, dict) and isinstance(side.get("data"), dict):
                masked, found = mask_data(task.form_schema, side["data"])
                if found and unmask:
                    revealed.append((task, TaskData(side["data"], revealed=found)))
                sides.append(side if unmask else {**side, "data": masked})
            else:
                sides.append(side)
        out.append(TrailRow(r, sides[0], sides[1]))
    audit_revealed(engine, user, revealed)
    return out


def _carries_data(*sides: dict[str, Any] | None) -> bool:
    return any(isinstance(s, dict) and isinstance(s.get("data"), dict) for s in sides)
