"""Read-side SQL of the satisfaction report: ratings, bad-review rectification, reopens
and the petition clocks of an org unit's subtree, per unit and per month.

Sync functions (callers use ``run_in_threadpool``); nothing here writes. Each figure
is one GROUP BY (org path, month) over its table, SQLite and PostgreSQL alike: the
month is a CASE over the period's Asia/Shanghai month boundaries, bound as aware UTC
instants. The rows are then rolled up in Python to the chosen unit's direct children.

Definitions (README "Satisfaction report"):

- ratings (003 §9.1.3): ``rating`` rows by ``rated_at``, ``counted`` only; the
  satisfaction rate is (非常满意 + 满意 + 基本满意) / counted ratings, against the goal
  ≥ 90 % of 000 §4.1.5; bad reviews are the counted 不满意 / 非常不满意
  (``complaint.BAD_GRADES``); appeals upheld are the rows an upheld appeal uncounted
  (``counted`` False, 003 §9.2.1 误评 / 恶意差评). A rating counts at the unit it rates.
- rectification on time (003 §9.2.1 反馈整改): completed ``rectify`` tasks of
  ``complaint`` cases with a due time, by ``completed_at``, on time when completed at
  or before ``due_at``. A ``complex`` answer only asks for a new deadline: the task
  that then rectifies, by the approved deadline, is the one counted.
- reopen rate (003 §7.4.2 再推动): ``rating`` / ``window`` complaint cases concluded
  (closed after a satisfied 回访 and 改进提升: every one reached follow-up) in the
  period, by ``closed_at``; reopened when ``reopens`` > 0. Cases closed by an upheld
  appeal never reached 回访 and are not in it.
- petition on time per stage (信访工作条例 第二十三、三十四—三十六条): completed
  ``acceptance_decision`` / ``handling`` / ``review`` / ``recheck`` tasks with a due
  time, by ``completed_at``; a ``handling`` answer that only requests the extension
  and a ``recheck`` answer that calls a hearing are not counted (the task after it,
  with the extended or moved due time, is). Tasks count at the unit that held
  them (复查 at the unit above, 复核 two above).

A case kept from the caller (``api.case_queries.not_excluded``: the reported unit
of a 检举控告, 信访工作条例 第三十条, or a rated clerk) adds nothing to the caller's
complaint and task figures; ratings are not case reads and count for everyone.

Never here: raters, complainants, rated case ids, comments, or clerks. The per-clerk
breakdown is deliberately not part of this report: with a handful of ratings a
month, a clerk's own figures would let raters be inferred (003 §9.1.3: the rated
clerk never sees who rated).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col
from sqlmodel import select as sqlmodel_select

from api.case_queries import not_excluded
from models.processes.complaint import BAD_GRADES, GRADES, PROCESS_KEY, TZ
from models.satisfaction_public import (
    PETITION_STAGES,
    SATISFACTION_GOAL,
    GradeCounts,
    MonthFigures,
    PetitionOnTime,
    SatisfactionFigures,
    SatisfactionReport,
    StageOnTime,
    UnitFigures,
)
from models.tables import Complaint, HumanTask, OrgUnit, Rating

# The longest period one report covers (one CASE branch per month).
MAX_MONTHS = 36
# Answers that only ask for more time or pause the clock: the step's real answer
# comes in a later task, by the new due time (a complex rectification's approved
# deadline, the extended handling, the 复核 clock moved by the hearing, 第三十六条).
INTERIM_OUTCOMES = ("complex", "request_extension", "hearing")
TIMED_STEPS = ("rectify", *PETITION_STAGES)
GOOD_GRADES = tuple(g for g in GRADES if g not in BAD_GRADES)

Counts = dict[str, int]
# The exclusion predicate on a case id column (api.case_queries.not_excluded).
Visible = Callable[[Any], ColumnElement[bool]]


@dataclass(frozen=True)
class Period:
    """Asia/Shanghai calendar days ``first`` to ``last``, both included."""

    first: date
    last: date

    def start(self) -> datetime:
        return _instant(self.first)

    def end(self) -> datetime:
        return _instant(self.last + timedelta(days=1))

    def months(self) -> list[tuple[str, datetime, datetime]]:
        """(YYYY-MM, start, end) of each month the period touches, clipped to it."""
        out = []
        year, month = self.first.year, self.first.month
        while date(year, month, 1) <= self.last:
            nyear, nmonth = (year + 1, 1) if month == 12 else (year, month + 1)
            lo = max(self.start(), _instant(date(year, month, 1)))
            hi = min(self.end(), _instant(date(nyear, nmonth, 1)))
            out.append((f"{year:04d}-{month:02d}", lo, hi))
            year, month = nyear, nmonth
        return out


def _instant(day: date) -> datetime:
    """Midnight of ``day`` in Asia/Shanghai as aware UTC (binds right on both DBs)."""
    return datetime.combine(day, time(0), tzinfo=TZ).astimezone(UTC)


def month_count(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month + 1


def default_period(now: datetime) -> Period:
    """The current Asia/Shanghai month to date."""
    today = now.astimezone(TZ).date()
    return Period(today.replace(day=1), today)


def _month_of(ts: Any, period: Period) -> ColumnElement[Any]:
    return case(
        *[(and_(ts >= lo, ts < hi), label) for label, lo, hi in period.months()],
        else_="",
    )


def _rating_rows(conn: Connection, path: str, period: Period) -> Iterable[Any]:
    ts = col(Rating.rated_at)
    month = _month_of(ts, period).label("month")
    return conn.execute(
        select(
            col(Rating.org_path),
            month,
            col(Rating.counted),
            col(Rating.grade),
            func.count().label("n"),
        )
        .where(
            col(Rating.org_path).startswith(path),
            ts >= period.start(),
            ts < period.end(),
        )
        .group_by(col(Rating.org_path), month, col(Rating.counted), col(Rating.grade))
    ).all()


def _task_rows(
    conn: Connection, path: str, period: Period, visible: Visible
) -> Iterable[Any]:
    done, due = col(HumanTask.completed_at), col(HumanTask.due_at)
    month = _month_of(done, period).label("month")
    where = [
        col(HumanTask.org_path).startswith(path),
        col(HumanTask.process) == PROCESS_KEY,
        col(HumanTask.step).in_(TIMED_STEPS),
        col(HumanTask.status) == "completed",
        due.is_not(None),
        done >= period.start(),
        done < period.end(),
        or_(
            col(HumanTask.outcome).is_(None),
            col(HumanTask.outcome).not_in(INTERIM_OUTCOMES),
        ),
    ]
    where.append(visible(col(HumanTask.case_id)))
    return conn.execute(
        select(
            col(HumanTask.org_path),
            month,
            col(HumanTask.step),
            func.count().label("n"),
            func.sum(case((done <= due, 1), else_=0)).label("on_time"),
        )
        .where(*where)
        .group_by(col(HumanTask.org_path), month, col(HumanTask.step))
    ).all()


def _complaint_rows(
    conn: Connection, path: str, period: Period, visible: Visible
) -> Iterable[Any]:
    closed = col(Complaint.closed_at)
    month = _month_of(closed, period).label("month")
    where = [
        col(Complaint.org_path).startswith(path),
        col(Complaint.channel).in_(("rating", "window")),
        col(Complaint.stage) == "concluded",
        closed >= period.start(),
        closed < period.end(),
    ]
    where.append(visible(col(Complaint.case_id)))
    return conn.execute(
        select(
            col(Complaint.org_path),
            month,
            func.count().label("n"),
            func.sum(case((col(Complaint.reopens) > 0, 1), else_=0)).label("reopened"),
        )
        .where(*where)
        .group_by(col(Complaint.org_path), month)
    ).all()


def _raw_counts(
    conn: Connection, path: str, period: Period, visible: Visible
) -> list[tuple[str, str, Counts]]:
    """(org path, month, counters) of every group that has something."""
    out: list[tuple[str, str, Counts]] = []
    for r in _rating_rows(conn, path, period):
        key = f"grade:{r.grade}" if r.counted else "appeals_upheld"
        out.append((r.org_path, r.month, {key: int(r.n)}))
    for r in _task_rows(conn, path, period, visible):
        counts = {f"{r.step}:done": int(r.n), f"{r.step}:on_time": int(r.on_time or 0)}
        out.append((r.org_path, r.month, counts))
    for r in _complaint_rows(conn, path, period, visible):
        counts = {"concluded": int(r.n), "reopened": int(r.reopened or 0)}
        out.append((r.org_path, r.month, counts))
    return out


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _stage(c: Counts, step: str) -> StageOnTime:
    done, on_time = c.get(f"{step}:done", 0), c.get(f"{step}:on_time", 0)
    return StageOnTime(
        completed=done, on_time=on_time, on_time_rate=_rate(on_time, done)
    )


def figures(c: Counts) -> dict[str, Any]:
    """The figures of summed counters (the fields of SatisfactionFigures)."""
    grades = {g: c.get(f"grade:{g}", 0) for g in GRADES}
    ratings = sum(grades.values())
    satisfied = sum(grades[g] for g in GOOD_GRADES)
    rate = _rate(satisfied, ratings)
    rectify = _stage(c, "rectify")
    return {
        "ratings": ratings,
        "grades": GradeCounts(**grades),
        "satisfied": satisfied,
        "satisfaction_rate": rate,
        "goal": SATISFACTION_GOAL,
        "meets_goal": None if rate is None else rate >= SATISFACTION_GOAL,
        "bad_reviews": sum(grades[g] for g in BAD_GRADES),
        "appeals_upheld": c.get("appeals_upheld", 0),
        "rectify_completed": rectify.completed,
        "rectify_on_time": rectify.on_time,
        "rectify_on_time_rate": rectify.on_time_rate,
        "complaints_concluded": c.get("concluded", 0),
        "complaints_reopened": c.get("reopened", 0),
        "reopen_rate": _rate(c.get("reopened", 0), c.get("concluded", 0)),
        "petition": PetitionOnTime(**{s: _stage(c, s) for s in PETITION_STAGES}),
    }


def _add(into: Counts, counts: Counts) -> None:
    for k, v in counts.items():
        into[k] = into.get(k, 0) + v


def org_unit(engine: Engine, unit_id: int) -> OrgUnit | None:
    with Session(engine) as s:
        return s.get(OrgUnit, unit_id)


def satisfaction_report(
    engine: Engine, unit: OrgUnit, period: Period, username: str, caller_path: str
) -> SatisfactionReport:
    """The report of ``unit``'s subtree over ``period`` for the caller (whose
    exclusions apply): totals, the unit itself and each direct child rolled up, and
    each month of the period (months without anything included, as zeros)."""
    with Session(engine) as s:
        children = list(
            s.exec(
                sqlmodel_select(OrgUnit)
                .where(col(OrgUnit.parent_id) == unit.id)
                .order_by(col(OrgUnit.path), col(OrgUnit.id))
            ).all()
        )
        conn = s.connection()
        raw = _raw_counts(
            conn,
            unit.path,
            period,
            lambda case_id: not_excluded(username, caller_path, case_id),
        )
    total: Counts = {}
    by_unit: dict[int, Counts] = defaultdict(dict)
    by_month: dict[str, Counts] = defaultdict(dict)
    for path, month, counts in raw:
        _add(total, counts)
        _add(by_month[month], counts)
        holder = next((u for u in children if path.startswith(u.path)), unit)
        _add(by_unit[holder.id or 0], counts)
    units = [
        UnitFigures(
            org_unit_id=u.id or 0,
            org_unit_name=u.name,
            org_path=u.path,
            rolled_up=u is not unit,
            **figures(by_unit.get(u.id or 0, {})),
        )
        for u in [unit, *children]
    ]
    months = [
        MonthFigures(month=label, **figures(by_month.get(label, {})))
        for label, _, _ in period.months()
    ]
    return SatisfactionReport(
        org_unit_id=unit.id or 0,
        org_unit_name=unit.name,
        date_from=period.first,
        date_to=period.last,
        totals=SatisfactionFigures(**figures(total)),
        units=units,
        months=months,
    )
