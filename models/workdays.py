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
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar
import structlog
from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from models.contracts import SHANGHAI, TaskPolicy
from models.db import core_connection
from models.tables import Holiday

log = structlog.get_logger(__name__)

TZ = SHANGHAI
OFFICE_CLOSE = time(17, 30)
_warned_years: set[int] = set()


@lru_cache(maxsize=4096)
def _statutory_workday(d: date) -> bool:
    """chinese-calendar's answer for ``d`` (fixed data: cached; a year it lacks raises
    NotImplementedError, which is not cached)."""
    return bool(chinese_calendar.is_workday(d))


class WorkCalendar:
    """Is a day a working day: overrides first, then chinese-calendar, then weekends."""

    def __init__(self, overrides: Mapping[date, bool] | None = None) -> None:
        self.overrides = dict(overrides or {})

    def is_workday(self, d: date) -> bool:
        if d in self.overrides:
            return self.overrides[d]
        try:
            return _statutory_workday(d)
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


_HOLIDAYS = Holiday.__table__  # type: ignore[attr-defined]
# Built once: every task's opening reads the overrides around its start.
_OVERRIDES = core_select(_HOLIDAYS.c.day, _HOLIDAYS.c.workday).where(
    _HOLIDAYS.c.day >= bindparam("start"), _HOLIDAYS.c.day <= bindparam("end")
)


def load_overrides(session: Session, start: date, end: date) -> dict[date, bool]:
    """Admin overrides (holidays, adjusted working days) between two dates."""
    rows = core_connection(session).execute(_OVERRIDES, {"start": start, "end": end})
    return {row.day: row.workday for row in rows}


def calendar_years_covered() -> tuple[int, int]:
    """The years chinese-calendar has data for (shown in health output and README)."""
    years = sorted({d.year for d in chinese_calendar.holidays})
    return years[0], years[-1]


# --- the monthly pay date ------------------------------------------------------------

# 000 §6.4.2 "退役金发放时间一般为每月10日前。遇国家法定节假日，应当提前发放" (001 第十条:
# the department pays the 退役金): the 10th, or the last working day before it.
PAY_DAY = 10
HOLIDAY_NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}
# Which calendar decided a pay date.
PaySource = Literal["admin", "chinese_calendar", "weekends_only"]
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def pay_date(year: int, month: int, cal: WorkCalendar) -> date:
    """The month's pay date: the 10th, or the last working day before it when the
    10th is not a working day (a 调休 Saturday counts as one) (000 §6.4.2; 001 第十条)."""
    return cal.last_workday_on_or_before(date(year, month, PAY_DAY))


def working_days_before(d: date, n: int, cal: WorkCalendar) -> date:
    """The n-th working day before ``d`` (e.g. approve the payroll two working days
    before the pay date)."""
    counted = 0
    while counted < n:
        d -= timedelta(days=1)
        if cal.is_workday(d):
            counted += 1
    return d


def office_close(d: date) -> datetime:
    """17:30 Asia/Shanghai of ``d``, in UTC (a deadline on that day)."""
    return _close_of(d)


def statutory_calendar_covers(year: int) -> bool:
    """True when ``chinese-calendar`` has the State Council's holidays of ``year``."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@dataclass(frozen=True)
class PayDateExplained:
    """The pay date of one month and why: moved or not, the reason, and which calendar
    decided (``admin`` table, ``chinese_calendar``, or the ``weekends_only`` fallback
    with a warning for a year neither covers)."""

    month: int
    nominal: date
    pay_date: date
    reason: str
    source: PaySource
    warning: str | None = None

    @property
    def moved(self) -> bool:
        return self.pay_date != self.nominal


def _why_not_working(d: date, cal: WorkCalendar, names: Mapping[date, str]) -> str:
    if d in cal.overrides:
        label = names.get(d, "")
        return f"节假日表登记为休息日{f'({label})' if label else ''}"
    try:
        _, name = chinese_calendar.get_holiday_detail(d)
    except NotImplementedError:
        name = None
    if name:
        return f"法定节假日({HOLIDAY_NAMES_ZH.get(str(name), str(name))})"
    return f"{WEEKDAYS_ZH[d.weekday()]}休息日"


def explain_pay_date(
    year: int,
    month: int,
    cal: WorkCalendar,
    names: Mapping[date, str] | None = None,
) -> PayDateExplained:
    """:func:`pay_date` with its reason and source. ``names``: the admin table's
    names of its days (e.g. 春节), quoted in the reason."""
    nominal = date(year, month, PAY_DAY)
    pay = pay_date(year, month, cal)
    examined = [pay + timedelta(days=i) for i in range((nominal - pay).days + 1)]
    covered = statutory_calendar_covers(year)
    warning: str | None = None
    source: PaySource
    if any(d in cal.overrides for d in examined):
        source = "admin"
    elif covered:
        source = "chinese_calendar"
    else:
        source = "weekends_only"
        warning = (
            f"chinese-calendar 无 {year} 年法定节假日数据，节假日表也未登记这些日期："
            "按周末计算，请管理员录入国务院公布的节假日安排 (no holiday data for "
            f"{year}: weekends only)"
        )
    if pay == nominal:
        kind = "工作日" if nominal.weekday() < 5 else "调休工作日"
        reason = f"{nominal.month}月10日为{kind}，当日发放"
    else:
        why = _why_not_working(nominal, cal, names or {})
        reason = (
            f"{nominal.month}月10日为{why}，提前至最近的工作日"
            f"{pay.month}月{pay.day}日({WEEKDAYS_ZH[pay.weekday()]})发放 (000 §6.4.2)"
        )
    return PayDateExplained(month, nominal, pay, reason, source, warning)


def pay_calendar_of(
    session: Session, year: int
) -> tuple[WorkCalendar, dict[date, str]]:
    """The working-day calendar the pay dates of ``year`` are computed on (the admin
    table's overrides from the December before on), and the names of its days."""
    rows = session.exec(
        select(Holiday).where(
            col(Holiday.day) >= date(year - 1, 12, 1),
            col(Holiday.day) <= date(year, 12, 31),
        )
    ).all()
    cal = WorkCalendar({r.day: r.workday for r in rows})
    return cal, {r.day: r.name for r in rows}
