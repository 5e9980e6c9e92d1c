"""The split clock of a case: how long it lay with the agency, how long with the veteran.

A step whose definition says ``holder="veteran"`` (the annual review's 年度登记信息报送,
001 第九条) waits for the veteran, not for a clerk: the time such a task is open counts
for the veteran, the rest of the case's open time (started → closed, or now) for the
agency. So a county is measured on the days the work lay on its side only.

Two forms of the same rule: :func:`case_clock` for one case from its rows (the case
page), :func:`clock_subquery` as SQL for many cases at once (campaign totals), on
SQLite and PostgreSQL alike.

The end of a veteran's task: its completion; still open → now; withdrawn or cancelled
(the row keeps no closing time) → its due time, when the process withdraws a report the
veteran no longer owes at the window's end (the due time of round 1), bounded by the
case's end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Float,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery
from sqlmodel import col

from models.processes import SPEC_VERSIONS
from models.tables import Case, HumanTask

DAY_SECONDS = 86_400.0


def _veteran_steps() -> frozenset[tuple[str, str]]:
    """(process, step) of every step held by the veteran, in any version."""
    return frozenset(
        (process, step.key)
        for process, versions in SPEC_VERSIONS.items()
        for spec in versions.values()
        for step in spec.steps
        if step.holder == "veteran"
    )


VETERAN_STEPS = _veteran_steps()


@dataclass(frozen=True)
class CaseClock:
    """Seconds of a case's open time with the agency and with the veteran."""

    agency: timedelta
    veteran: timedelta

    @property
    def agency_days(self) -> float:
        return round(self.agency.total_seconds() / DAY_SECONDS, 2)

    @property
    def veteran_days(self) -> float:
        return round(self.veteran.total_seconds() / DAY_SECONDS, 2)


def _utc(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; everything is stored in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _task_end(task: HumanTask, case_end: datetime) -> datetime:
    if task.completed_at is not None:
        return _utc(task.completed_at)
    if task.status == "open" or task.due_at is None:
        return case_end
    return min(_utc(task.due_at), case_end)


def case_clock(case_row: Case, tasks: Iterable[HumanTask], now: datetime) -> CaseClock:
    """The split clock of one case from its task rows (any order)."""
    start = _utc(case_row.started_at)
    end = _utc(case_row.closed_at) if case_row.closed_at is not None else _utc(now)
    end = max(start, end)
    veteran = timedelta(0)
    for t in tasks:
        if (t.process, t.step) not in VETERAN_STEPS:
            continue
        t_start = max(start, _utc(t.created_at))
        t_end = min(end, _task_end(t, end))
        if t_end > t_start:
            veteran += t_end - t_start
    total = end - start
    veteran = min(veteran, total)
    return CaseClock(agency=total - veteran, veteran=veteran)


# --- the same in SQL ------------------------------------------------------------------


def _naive_utc(value: datetime) -> datetime:
    """Columns hold naive UTC (``timestamp without time zone`` on PostgreSQL)."""
    return _utc(value).replace(tzinfo=None)


def seconds_between(start: Any, end: Any, dialect: str) -> ColumnElement[float]:
    """``end - start`` in seconds, as a float expression of ``dialect``."""
    if dialect == "postgresql":
        return cast(extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * DAY_SECONDS


def _least(a: Any, b: Any, dialect: str) -> Any:
    return func.least(a, b) if dialect == "postgresql" else func.min(a, b)


def _greatest(a: Any, b: Any, dialect: str) -> Any:
    return func.greatest(a, b) if dialect == "postgresql" else func.max(a, b)


def _veteran_step_filter() -> ColumnElement[bool]:
    return or_(
        *[
            and_(col(HumanTask.process) == p, col(HumanTask.step) == s)
            for p, s in sorted(VETERAN_STEPS)
        ]
    )


def clock_subquery(
    now: datetime, dialect: str, *case_where: ColumnElement[bool]
) -> Subquery:
    """One row per case matching ``case_where`` (one pass: the case joined to its
    veteran-held tasks): ``case_id``, ``org_unit_id``, ``campaign_id``, ``status``,
    ``veteran_id``, ``open_seconds`` (started → closed or now) and
    ``veteran_seconds`` (the veteran's tasks' open time within it). Agency time =
    open_seconds - veteran_seconds."""
    now_v = literal(_naive_utc(now), DateTime())
    case_start = col(Case.started_at)
    case_end = _greatest(case_start, func.coalesce(col(Case.closed_at), now_v), dialect)
    task_end = case(
        (col(HumanTask.completed_at).is_not(None), col(HumanTask.completed_at)),
        (
            or_(col(HumanTask.status) == "open", col(HumanTask.due_at).is_(None)),
            case_end,
        ),
        else_=_least(col(HumanTask.due_at), case_end, dialect),
    )
    t_start = _greatest(col(HumanTask.created_at), case_start, dialect)
    t_end = _least(task_end, case_end, dialect)
    span = seconds_between(t_start, t_end, dialect)
    # Only the veteran's steps count; no task (the outer join's NULLs) or an empty
    # span adds nothing. (The step test stays out of the join, so the join is by
    # case id alone, an index lookup per case whatever the planner's statistics.)
    task_seconds = case((and_(_veteran_step_filter(), span > 0), span), else_=0.0)
    open_seconds = seconds_between(case_start, case_end, dialect)
    veteran_seconds = func.coalesce(func.sum(task_seconds), 0.0)
    return (
        select(
            col(Case.id).label("case_id"),
            col(Case.org_unit_id).label("org_unit_id"),
            col(Case.campaign_id).label("campaign_id"),
            col(Case.status).label("status"),
            col(Case.veteran_id).label("veteran_id"),
            open_seconds.label("open_seconds"),
            _least(veteran_seconds, open_seconds, dialect).label("veteran_seconds"),
        )
        .outerjoin(HumanTask, col(HumanTask.case_id) == col(Case.id))
        .where(*case_where)
        .group_by(
            col(Case.id),
            col(Case.org_unit_id),
            col(Case.campaign_id),
            col(Case.status),
            col(Case.veteran_id),
            col(Case.started_at),
            col(Case.closed_at),
        )
        .subquery("case_clock")
    )
