"""Chinese working-day deadlines: statutory holidays, adjusted working weekends (调休),
admin overrides, and the weekends-only fallback for years without data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import structlog
from sqlmodel import Session

from models import workdays
from models.contracts import TaskPolicy
from models.tables import Holiday
from models.workdays import TZ, WorkCalendar, compute_due, load_overrides


def local(y, m, d, h=10, mi=0):
    return datetime(y, m, d, h, mi, tzinfo=TZ)


def test_national_day_is_skipped():
    # Received on 30 Sep 2026 (Wed); 1–7 Oct are holidays: one working day later is 8 Oct.
    due = WorkCalendar().add_working_days(local(2026, 9, 30), 1)
    assert due.astimezone(TZ) == local(2026, 10, 8, 17, 30)
    assert due.tzinfo is not None and due.utcoffset() == timedelta(0)


def test_friday_plus_one_is_monday_and_adjusted_saturday_counts():
    cal = WorkCalendar()
    assert cal.add_working_days(local(2026, 11, 20), 1).astimezone(TZ).date() == date(
        2026, 11, 23
    )
    # 10 Oct 2026 is a Saturday worked in lieu of the National Day holiday (调休).
    assert cal.is_workday(date(2026, 10, 10))
    assert cal.add_working_days(local(2026, 10, 9), 1).astimezone(TZ).date() == date(
        2026, 10, 10
    )


def test_admin_override_shifts_the_deadline():
    cal = WorkCalendar({date(2026, 11, 23): False})
    assert cal.add_working_days(local(2026, 11, 20), 1).astimezone(TZ).date() == date(
        2026, 11, 24
    )


def test_year_without_data_falls_back_to_weekends_and_warns_once():
    workdays._warned_years.discard(2031)
    cal = WorkCalendar()
    with structlog.testing.capture_logs() as logs:
        assert cal.is_workday(date(2031, 1, 3))  # a Friday
        assert not cal.is_workday(date(2031, 1, 4))  # a Saturday
        assert cal.add_working_days(local(2031, 1, 3), 1).astimezone(TZ).date() == date(
            2031, 1, 6
        )
    warnings = [e for e in logs if e["event"] == "workday_calendar_missing"]
    assert len(warnings) == 1 and warnings[0]["year"] == 2031


def test_compute_due_for_each_kind_of_policy():
    cal = WorkCalendar()
    start = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert compute_due(TaskPolicy(), start, cal) == (None, None)
    due, remind = compute_due(
        TaskPolicy(duration=timedelta(seconds=3), remind_before=timedelta(seconds=2)),
        start,
        cal,
    )
    assert due == start + timedelta(seconds=3) and remind == start + timedelta(
        seconds=1
    )
    due, remind = compute_due(
        TaskPolicy(working_days=5, remind_before=timedelta(days=1)), start, cal
    )
    assert due.astimezone(TZ) == local(
        2026, 11, 27, 17, 30
    ) and remind == due - timedelta(days=1)
    # 信访 deadlines count calendar days and are not moved off weekends.
    due, _ = compute_due(TaskPolicy(calendar_days=15), start, cal)
    assert due.astimezone(TZ) == local(2026, 12, 5, 17, 30)
    # A reminder that would fall before the start is dropped.
    _, remind = compute_due(
        TaskPolicy(duration=timedelta(seconds=1), remind_before=timedelta(seconds=5)),
        start,
        cal,
    )
    assert remind is None


def test_pay_date_moves_earlier_and_remaining_days_go_negative():
    cal = WorkCalendar()
    # 10 Oct 2026 is a working Saturday; 10 Jan 2026 is a Saturday off → Friday the 9th.
    assert cal.last_workday_on_or_before(date(2026, 1, 10)) == date(2026, 1, 9)
    assert cal.last_workday_on_or_before(date(2026, 10, 4)) == date(2026, 9, 30)
    assert cal.working_days_between(local(2026, 11, 20), local(2026, 11, 24)) == 2
    assert cal.working_days_between(local(2026, 11, 24), local(2026, 11, 20)) == -2


def test_load_overrides_reads_the_holiday_table(engine):
    with Session(engine) as s:
        s.add(Holiday(day=date(2027, 1, 1), workday=False, name="元旦"))
        s.add(Holiday(day=date(2027, 2, 20), workday=True, name="春节调休"))
        s.add(Holiday(day=date(2028, 1, 1), workday=False, name="元旦"))
        s.commit()
        got = load_overrides(s, date(2027, 1, 1), date(2027, 12, 31))
    assert got == {date(2027, 1, 1): False, date(2027, 2, 20): True}
    cal = WorkCalendar(got)
    assert not cal.is_workday(date(2027, 1, 1)) and cal.is_workday(date(2027, 2, 20))
