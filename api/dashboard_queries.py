"""The manager dashboard's figures for an org subtree (read-side SQL over the projection).

Counts are aggregated in SQL; per-step duration percentiles are computed from the
completed tasks' durations (nearest rank).
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models.processes import PROCESSES
from models.tables import Case, HumanTask, OrgUnit

AGE_BUCKETS = (("<1天", 1), ("1-3天", 3), ("3-7天", 7), ("7-30天", 30), (">30天", None))


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


def _utc(value: datetime | None) -> datetime | None:
    return (
        value.replace(tzinfo=UTC)
        if value is not None and value.tzinfo is None
        else value
    )


def _title(process: str, step: str) -> str:
    spec = PROCESSES.get(process)
    try:
        return spec.step(step).title if spec else step
    except KeyError:
        return step


def nearest_rank(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def dashboard_stats(
    engine: Engine, org_path: str, now: datetime, at_risk_hours: float = 24.0
) -> DashboardStats:
    risk_until = now + timedelta(hours=at_risk_hours)
    with Session(engine) as s:
        in_tree = col(Case.org_path).startswith(org_path)
        open_cases = dict(
            s.exec(
                select(Case.process, func.count())
                .where(in_tree, Case.status != "closed")
                .group_by(Case.process)
            ).all()
        )
        closed = s.exec(
            select(func.count())
            .where(in_tree, Case.status == "closed")
            .select_from(Case)
        ).one()
        task_tree = col(HumanTask.org_path).startswith(org_path)
        open_rows = s.execute(
            sa_select(
                col(HumanTask.process),
                col(HumanTask.step),
                col(HumanTask.org_unit_id),
                col(HumanTask.overdue),
                col(HumanTask.due_at),
                col(HumanTask.created_at),
            ).where(task_tree, col(HumanTask.status) == "open")
        ).all()
        done_rows = s.execute(
            sa_select(
                col(HumanTask.process),
                col(HumanTask.step),
                col(HumanTask.created_at),
                col(HumanTask.completed_at),
                col(HumanTask.due_at),
            ).where(task_tree, col(HumanTask.status) == "completed")
        ).all()
        rounds = s.exec(
            select(HumanTask.case_id, func.max(HumanTask.round))
            .where(task_tree, HumanTask.step == "archive_review")
            .group_by(HumanTask.case_id)
        ).all()
        units = {
            u.id: u.name
            for u in s.exec(
                select(OrgUnit).where(col(OrgUnit.path).startswith(org_path))
            ).all()
        }

    by_step: dict[tuple[str, str], list[int]] = {}
    by_org: dict[int, list[int]] = {}
    ages: Counter[str] = Counter({label: 0 for label, _ in AGE_BUCKETS})
    overdue = at_risk = 0
    for process, step, unit_id, flag, due, created in open_rows:
        due_at = _utc(due)
        is_overdue = bool(flag) or (due_at is not None and due_at < now)
        is_risk = not is_overdue and due_at is not None and due_at <= risk_until
        overdue += is_overdue
        at_risk += is_risk
        step_c = by_step.setdefault((process, step), [0, 0, 0])
        step_c[0] += 1
        step_c[1] += is_overdue
        step_c[2] += is_risk
        org_c = by_org.setdefault(unit_id, [0, 0])
        org_c[0] += 1
        org_c[1] += is_overdue
        age_days = (now - (_utc(created) or now)).total_seconds() / 86400
        ages[
            next(
                label
                for label, limit in AGE_BUCKETS
                if limit is None or age_days < limit
            )
        ] += 1

    durations: dict[tuple[str, str], list[float]] = {}
    with_due = in_time = 0
    for process, step, created, completed, due in done_rows:
        start, end, due_at = _utc(created), _utc(completed), _utc(due)
        if start and end:
            durations.setdefault((process, step), []).append(
                (end - start).total_seconds() / 3600
            )
        if due_at is not None and end is not None:
            with_due += 1
            in_time += end <= due_at

    dist = Counter(max(0, int(r) - 1) for _, r in rounds)
    n_cases = sum(dist.values())
    return DashboardStats(
        open_cases_by_process={str(k): int(v) for k, v in open_cases.items()},
        closed_cases=int(closed),
        open_tasks=len(open_rows),
        overdue=overdue,
        at_risk=at_risk,
        on_time=len(open_rows) - overdue - at_risk,
        open_tasks_by_step=sorted(
            (
                StepCount(
                    process=p,
                    step=st,
                    title=_title(p, st),
                    count=c[0],
                    overdue=c[1],
                    at_risk=c[2],
                )
                for (p, st), c in by_step.items()
            ),
            key=lambda x: (-x.count, x.step),
        ),
        open_tasks_by_org_unit=sorted(
            (
                OrgCount(
                    org_unit_id=u,
                    org_unit_name=units.get(u, str(u)),
                    count=c[0],
                    overdue=c[1],
                )
                for u, c in by_org.items()
            ),
            key=lambda x: (-x.count, x.org_unit_name),
        ),
        backlog_age=dict(ages),
        on_time_rate=in_time / with_due if with_due else None,
        step_durations=[
            StepDuration(
                process=p,
                step=st,
                title=_title(p, st),
                completed=len(v),
                median_hours=round(nearest_rank(sorted(v), 50), 2),
                p90_hours=round(nearest_rank(sorted(v), 90), 2),
            )
            for (p, st), v in sorted(durations.items())
        ],
        correction_rounds=CorrectionRounds(
            avg=round(sum(k * v for k, v in dist.items()) / n_cases, 2)
            if n_cases
            else 0.0,
            max=max(dist) if dist else 0,
            distribution=dict(sorted(dist.items())),
        ),
    )
