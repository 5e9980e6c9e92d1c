"""Chinese working-day deadlines.

Working days follow ``chinese-calendar`` (statutory holidays and the adjusted working
weekends, 调休), overridden by the admin-maintained ``holiday`` table. For a year that
neither source covers, the calendar falls back to weekends-only and logs one warning
per year — it never crashes.

Deadline semantics: the day of receipt does not count; "n working days" ends at office
close (17:30 Asia/Shanghai) of the n-th following working day; "n calendar days" ends at
17:30 of the date n days later (信访 deadlines count calendar days and are not moved).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import structlog
from sqlmodel import Session, col, select

from models.contracts import TaskPolicy
from models.tables import Holiday

log = structlog.get_logger(__name__)

TZ = ZoneInfo("Asia/Shanghai")
OFFICE_CLOSE = time(17, 30)
_warned_years: set[int] = set()


class WorkCalendar:
    """Is a day a working day: overrides first, then chinese-calendar, then weekends."""

    def __init__(self, overrides: Mapping[date, bool] | None = None) -> None:
        self.overrides = dict(overrides or {})

    def is_workday(self, d: date) -> bool:
        if d in self.overrides:
            return self.overrides[d]
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError:
            if d.year not in _warned_years:
                _warned_years.add(d.year)
                log.warning(
                    "workday_calendar_missing", year=d.year, fallback="weekends only"
                )
            return d.weekday() < 5

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """Office close of the n-th working day after ``start``'s local date."""
        d = start.astimezone(TZ).date()
        counted = 0
        while counted < n:
            d += timedelta(days=1)
            if self.is_workday(d):
                counted += 1
        return _close_of(d)

    def last_workday_on_or_before(self, d: date) -> date:
        """E.g. the monthly pay date: before the 10th, earlier on a holiday (000 §6.4.2)."""
        while not self.is_workday(d):
            d -= timedelta(days=1)
        return d

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days from ``start`` to ``end`` (negative when ``end`` is past)."""
        a, b = start.astimezone(TZ).date(), end.astimezone(TZ).date()
        sign = 1
        if b < a:
            a, b, sign = b, a, -1
        days = 0
        d = a
        while d < b:
            d += timedelta(days=1)
            if self.is_workday(d):
                days += 1
        return sign * days


def _close_of(d: date) -> datetime:
    return datetime.combine(d, OFFICE_CLOSE, tzinfo=TZ).astimezone(ZoneInfo("UTC"))


def compute_due(
    policy: TaskPolicy, start: datetime, cal: WorkCalendar
) -> tuple[datetime | None, datetime | None]:
    """(due_at, remind_at) of a task opened at ``start`` under ``policy``."""
    due: datetime | None
    if policy.due_at is not None:
        due = policy.due_at
    elif policy.duration is not None:
        due = start + policy.duration
    elif policy.working_days is not None:
        due = cal.add_working_days(start, policy.working_days)
    elif policy.calendar_days is not None:
        due = _close_of(
            start.astimezone(TZ).date() + timedelta(days=policy.calendar_days)
        )
    else:
        return None, None
    remind: datetime | None = None
    if policy.remind_before is not None and due - policy.remind_before > start:
        remind = due - policy.remind_before
    return due, remind


def escalation_times(
    policy: TaskPolicy, due: datetime | None, cal: WorkCalendar
) -> list[datetime]:
    """When each rung of ``policy``'s escalation ladder falls due: the due time plus
    its span, or office close of the n-th working day after the due date."""
    if due is None:
        return []
    times: list[datetime] = []
    for rung in policy.ladder():
        if rung.after is not None:
            at = due + rung.after
        elif rung.after_working_days:
            at = cal.add_working_days(due, rung.after_working_days)
        else:
            at = due
        times.append(max(at, times[-1]) if times else at)
    return times


def load_overrides(session: Session, start: date, end: date) -> dict[date, bool]:
    """Admin overrides (holidays, adjusted working days) between two dates."""
    rows = session.exec(
        select(Holiday).where(col(Holiday.day) >= start, col(Holiday.day) <= end)
    ).all()
    return {r.day: r.workday for r in rows}


def calendar_years_covered() -> tuple[int, int]:
    """The years chinese-calendar has data for (shown in health output and README)."""
    years = sorted({d.year for d in chinese_calendar.holidays})
    return years[0], years[-1]
