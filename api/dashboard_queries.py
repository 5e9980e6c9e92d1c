"""The manager dashboard's figures for an org subtree (read-side SQL over the projection).

Task figures cover the tasks whose ``org_path`` lies in the subtree, case figures the
cases whose ``org_path`` does. Counts are aggregated in SQL (GROUP BY); duration
percentiles need every duration, so they are computed here from the completed tasks.
Overdue / at risk follow the inbox's colours (``api.inbox_queries.urgency``).
Open incidents count those whose ``org_path`` lies in the subtree.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col

from api.case_queries import not_excluded
from models.tables import Case, HumanTask, Incident, OrgUnit

# Backlog age buckets: label and exclusive upper bound in days (None = unbounded).
AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("<1天", 1),
    ("1-3天", 3),
    ("3-7天", 7),
    ("7-30天", 30),
    (">30天", None),
)
CORRECTION_STEP = "archive_review"  # 一次性告知 then 补正 rounds (003 §7.6)
# Work items of a notice that could not be delivered (DeliverNoticeWorkflow).
NOTICE_FAILED_STEPS = ("notice_failed", "staff_notice_failed")
ESCALATION_RUNGS = (1, 2, 3)  # open tasks with escalation_level >= each


class StepCount(BaseModel):
    process: str
    step: str
    title: str
    count: int
    overdue: int
    at_risk: int


class OrgCount(BaseModel):
    org_unit_id: int
    org_unit_name: str
    count: int
    overdue: int


class StepDuration(BaseModel):
    process: str
    step: str
    title: str
    completed: int
    median_hours: float
    p90_hours: float


class CorrectionRounds(BaseModel):
    """Correction rounds per case: 0 = archive review approved the first time."""

    avg: float
    max: int
    distribution: dict[int, int]


class DashboardStats(BaseModel):
    open_cases_by_process: dict[str, int]
    closed_cases: int
    open_tasks: int
    overdue: int
    at_risk: int
    on_time: int
    open_tasks_by_step: list[StepCount]
    open_tasks_by_org_unit: list[OrgCount]
    backlog_age: dict[str, int]
    on_time_rate: float | None
    step_durations: list[StepDuration]
    correction_rounds: CorrectionRounds
    open_incidents: int
    failed_notices: int  # open notice_failed / staff_notice_failed tasks
    # Open tasks that reached at least rung n of their escalation ladder, n = 1, 2, 3.
    escalated: dict[int, int]


def _utc(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; everything is stored in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def nearest_rank(sorted_values: list[float], pct: float) -> float:
    """The ``pct`` percentile by the nearest-rank method (a value that occurred)."""
    return sorted_values[max(1, math.ceil(pct / 100 * len(sorted_values))) - 1]


def late_and_at_risk(now: datetime, risk_until: datetime) -> tuple[Any, Any]:
    """SQL conditions on a task: overdue (flagged, or due before ``now``) and at risk
    (not overdue, due between ``now`` and ``risk_until``). The dashboard and /metrics
    count with these, so their figures agree."""
    due = col(HumanTask.due_at)
    late = or_(col(HumanTask.overdue), due < now)
    risk = and_(~col(HumanTask.overdue), due >= now, due <= risk_until)
    return late, risk


def _open_tasks(
    conn: Connection, in_tree: Any, now: datetime, risk_until: datetime
) -> tuple[list[Any], list[Any], dict[str, int]]:
    """Open tasks counted by step, by org unit and by age bucket, with late/at risk."""
    created = col(HumanTask.created_at)
    late, risk = late_and_at_risk(now, risk_until)
    age = case(
        *[(created > now - timedelta(days=d), k) for k, d in AGE_BUCKETS if d],
        else_=AGE_BUCKETS[-1][0],
    )
    # Flags per task in a subquery, GROUP BY on its columns: PostgreSQL cannot match
    # a CASE with bound parameters between SELECT and GROUP BY.
    t = (
        select(
            col(HumanTask.process),
            col(HumanTask.step),
            col(HumanTask.title),
            col(HumanTask.org_unit_id),
            case((late, 1), else_=0).label("late"),
            case((risk, 1), else_=0).label("risk"),
            age.label("age"),
        )
        .where(in_tree, col(HumanTask.status) == "open")
        .subquery()
    )
    tally = (func.count(), func.sum(t.c.late), func.sum(t.c.risk))
    steps = conn.execute(
        select(t.c.process, t.c.step, func.max(t.c.title), *tally).group_by(
            t.c.process, t.c.step
        )
    ).all()
    orgs = conn.execute(
        select(t.c.org_unit_id, col(OrgUnit.name), *tally[:2])
        .join(OrgUnit, col(OrgUnit.id) == t.c.org_unit_id)
        .group_by(t.c.org_unit_id, col(OrgUnit.name))
    ).all()
    ages = conn.execute(select(t.c.age, func.count()).group_by(t.c.age)).all()
    return list(steps), list(orgs), {str(k): int(n) for k, n in ages}


def _step_durations(rows: list[Any]) -> list[StepDuration]:
    """Median and p90 hours (created → completed) of each step's completed tasks."""
    hours: dict[tuple[str, str], list[float]] = {}
    titles: dict[tuple[str, str], str] = {}
    for process, step, title, created, completed in rows:
        delta = _utc(completed) - _utc(created)
        hours.setdefault((process, step), []).append(delta.total_seconds() / 3600)
        titles[(process, step)] = title
    return [
        StepDuration(
            process=p,
            step=st,
            title=titles[(p, st)],
            completed=len(v),
            median_hours=round(statistics.median(v), 2),
            p90_hours=round(nearest_rank(sorted(v), 90), 2),
        )
        for (p, st), v in sorted(hours.items())
    ]


def dashboard_stats(
    engine: Engine,
    org_path: str,
    now: datetime,
    at_risk_hours: float = 24.0,
    *,
    username: str,
) -> DashboardStats:
    """Where the subtree's cases stand, what is late and how long steps take; cases
    kept from the viewer (``not_excluded``) and their tasks are not counted."""
    now = _utc(now)  # aware UTC binds compare right on both (SQLite drops the zone)
    in_tree = and_(
        col(HumanTask.org_path).startswith(org_path),
        not_excluded(username, org_path, col(HumanTask.case_id)),
    )
    case_tree = and_(
        col(Case.org_path).startswith(org_path), not_excluded(username, org_path)
    )
    done = [
        in_tree,
        col(HumanTask.status) == "completed",
        col(HumanTask.completed_at).is_not(None),
    ]
    with engine.connect() as conn:
        risk_until = now + timedelta(hours=at_risk_hours)
        steps, orgs, ages = _open_tasks(conn, in_tree, now, risk_until)
        cases = conn.execute(
            select(col(Case.process), col(Case.status), func.count())
            .where(case_tree)
            .group_by(col(Case.process), col(Case.status))
        ).all()
        in_time = case(
            (col(HumanTask.completed_at) <= col(HumanTask.due_at), 1), else_=0
        )
        with_due, n_in_time = conn.execute(
            select(func.count(), func.sum(in_time)).where(
                *done, col(HumanTask.due_at).is_not(None)
            )
        ).one()
        durations = conn.execute(
            select(
                col(HumanTask.process),
                col(HumanTask.step),
                col(HumanTask.title),
                col(HumanTask.created_at),
                col(HumanTask.completed_at),
            ).where(*done)
        ).all()
        is_open = col(HumanTask.status) == "open"
        failed_notices, *escalated = conn.execute(
            select(
                func.sum(
                    case((col(HumanTask.step).in_(NOTICE_FAILED_STEPS), 1), else_=0)
                ),
                *(
                    func.sum(case((col(HumanTask.escalation_level) >= n, 1), else_=0))
                    for n in ESCALATION_RUNGS
                ),
            ).where(in_tree, is_open)
        ).one()
        open_incidents = conn.execute(
            select(func.count()).where(
                col(Incident.org_path).startswith(org_path),
                col(Incident.status) == "open",
            )
        ).scalar_one()
        # Per case, so by the case's subtree: the review itself sits at the county
        # centre, outside a township's task subtree.
        rounds = conn.execute(
            select(func.max(HumanTask.round))
            .join(Case, col(Case.id) == HumanTask.case_id)
            .where(case_tree, col(HumanTask.step) == CORRECTION_STEP)
            .group_by(col(HumanTask.case_id))
        ).all()

    open_cases: Counter[str] = Counter()
    for process, status, n in cases:
        if status != "closed":
            open_cases[process] += int(n)
    dist = Counter(max(0, int(r) - 1) for (r,) in rounds)
    n_open, n_late, n_risk = (sum(int(row[i] or 0) for row in steps) for i in (3, 4, 5))
    return DashboardStats(
        open_cases_by_process=dict(sorted(open_cases.items())),
        closed_cases=sum(int(n) for _, status, n in cases if status == "closed"),
        open_tasks=n_open,
        overdue=n_late,
        at_risk=n_risk,
        on_time=n_open - n_late - n_risk,
        open_tasks_by_step=sorted(
            (
                StepCount(process=p, step=st, title=ti, count=n, overdue=o, at_risk=r)
                for p, st, ti, n, o, r in steps
            ),
            key=lambda x: (-x.count, x.process, x.step),
        ),
        open_tasks_by_org_unit=sorted(
            (
                OrgCount(org_unit_id=u, org_unit_name=name, count=n, overdue=o)
                for u, name, n, o in orgs
            ),
            key=lambda x: (-x.count, x.org_unit_name),
        ),
        backlog_age={label: ages.get(label, 0) for label, _ in AGE_BUCKETS},
        on_time_rate=int(n_in_time or 0) / with_due if with_due else None,
        step_durations=_step_durations(list(durations)),
        correction_rounds=CorrectionRounds(
            avg=round(sum(dist.elements()) / len(rounds), 2) if rounds else 0.0,
            max=max(dist, default=0),
            distribution=dict(sorted(dist.items())),
        ),
        open_incidents=int(open_incidents),
        failed_notices=int(failed_notices or 0),
        escalated={
            n: int(v or 0) for n, v in zip(ESCALATION_RUNGS, escalated, strict=True)
        },
    )
