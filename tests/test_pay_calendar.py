"""The monthly pay date (000 §6.4.2: the 10th, earlier when it is not a working day):
checked against chinese-calendar walked independently here, against dates known by
hand (调休 Saturdays included), and against the admin holiday table for a year
chinese-calendar does not cover."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest
from sqlmodel import Session

from models.tables import Holiday
from models.workdays import (
    TZ,
    WorkCalendar,
    explain_pay_date,
    office_close,
    pay_calendar_of,
    pay_date,
    statutory_calendar_covers,
    working_days_before,
)


def statutory_pay_date(year: int, month: int) -> date:
    """Walk back from the 10th on chinese-calendar alone."""
    d = date(year, month, 10)
    while not chinese_calendar.is_workday(d):
        d -= timedelta(days=1)
    return d


@pytest.mark.parametrize("year", [2025, 2026])
def test_every_month_matches_chinese_calendar(year):
    cal = WorkCalendar()
    for month in range(1, 13):
        expected = statutory_pay_date(year, month)
        explained = explain_pay_date(year, month, cal)
        assert pay_date(year, month, cal) == expected == explained.pay_date
        assert explained.moved == (expected != date(year, month, 10))
        assert explained.source == "chinese_calendar"
        assert explained.warning is None
        assert expected <= date(year, month, 10)


@pytest.mark.parametrize(
    ("year", "month", "expected", "why"),
    [
        # A plain working Friday: paid on the 10th.
        (2025, 10, date(2025, 10, 10), "工作日"),
        # The 10th a Saturday / Sunday: the Friday before.
        (2025, 5, date(2025, 5, 9), "周六"),
        (2025, 8, date(2025, 8, 8), "周日"),
        (2026, 1, date(2026, 1, 9), "周六"),
        # Spring Festival 2026 begins on the 15th: the 10th (Tuesday) is worked.
        (2026, 2, date(2026, 2, 10), "工作日"),
        # 10 May 2026 is a Sunday; 9 May is a Saturday worked for Labour Day (调休).
        (2026, 5, date(2026, 5, 9), "周日"),
        # 10 Oct 2026 is a Saturday worked for National Day (调休): paid that day.
        (2026, 10, date(2026, 10, 10), "调休工作日"),
    ],
)
def test_dates_known_by_hand(year, month, expected, why):
    explained = explain_pay_date(year, month, WorkCalendar())
    assert explained.pay_date == expected
    assert why in explained.reason
    if explained.moved:
        assert f"{expected.month}月{expected.day}日" in explained.reason
        assert "000 §6.4.2" in explained.reason


def test_an_adjusted_saturday_counts_as_a_working_day():
    assert date(2026, 5, 9).weekday() == 5
    assert chinese_calendar.is_workday(date(2026, 5, 9))
    assert pay_date(2026, 5, WorkCalendar()) == date(2026, 5, 9)


def test_deadlines_before_the_pay_date_count_working_days():
    cal = WorkCalendar()
    # Paid Saturday 10 Oct 2026 (调休): the second working day before it, walked on
    # chinese-calendar alone.
    pay = pay_date(2026, 10, cal)
    counted, d = 0, pay
    while counted < 2:
        d -= timedelta(days=1)
        if chinese_calendar.is_workday(d):
            counted += 1
    assert working_days_before(pay, 2, cal) == d
    # The approve-by date of May 2026 skips the Labour Day holiday (1–5 May).
    assert working_days_before(date(2026, 5, 9), 2, cal) == date(2026, 5, 7)
    close = office_close(date(2026, 5, 7)).astimezone(TZ)
    assert (close.date(), close.hour, close.minute) == (date(2026, 5, 7), 17, 30)


def test_a_year_without_statutory_data_falls_back_to_weekends_with_a_warning():
    assert statutory_calendar_covers(2026)
    assert not statutory_calendar_covers(2027)
    explained = explain_pay_date(2027, 1, WorkCalendar())
    # 10 January 2027 is a Sunday: Friday the 8th.
    assert explained.pay_date == date(2027, 1, 8)
    assert explained.source == "weekends_only"
    assert explained.warning and "2027" in explained.warning


def test_2027_follows_the_admin_holiday_table(engine):
    """The admin enters 2027's Spring Festival: 8–12 February off, Saturday 6
    February worked in lieu; and Saturday 9 January worked."""
    with Session(engine) as s:
        for d in range(8, 13):
            s.add(Holiday(day=date(2027, 2, d), workday=False, name="春节"))
        s.add(Holiday(day=date(2027, 2, 6), workday=True, name="春节调休"))
        s.add(Holiday(day=date(2027, 1, 9), workday=True, name="元旦调休"))
        s.commit()
        cal, names = pay_calendar_of(s, 2027)
    feb = explain_pay_date(2027, 2, cal, names)
    assert feb.pay_date == date(2027, 2, 6)  # the adjusted Saturday
    assert feb.moved and feb.source == "admin" and feb.warning is None
    assert "节假日表" in feb.reason and "春节" in feb.reason
    jan = explain_pay_date(2027, 1, cal, names)
    assert jan.pay_date == date(2027, 1, 9) and jan.source == "admin"
    # A month the table does not touch: weekends only, with the warning.
    may = explain_pay_date(2027, 5, cal, names)
    assert may.pay_date == date(2027, 5, 10) and may.source == "weekends_only"
    assert may.warning
    # The approve-by date of February skips back over the weekend before the Saturday.
    assert working_days_before(feb.pay_date, 2, cal) == date(2027, 2, 4)
