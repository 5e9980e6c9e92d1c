"""The death benefits of a retired cadre (models/aftercare_benefit.py) against cases
computed by hand (军人抚恤优待条例 第十五、十六条).

一次性抚恤金: 病故 2 × / 因公牺牲、烈士 20 × the national urban per-capita disposable
income of the year before the death, + 40 × the monthly base pay (at least the 少尉
standard); then the single highest honour's increment; Decimal in 元, rounded half-up
to the fen once, at the end. The pension stops from the month after the death.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from models.aftercare_benefit import (
    ENSIGN_BASE_PAY,
    FUNERAL_GRANT,
    HONOUR_INCREMENTS,
    NATIONAL_INCOME,
    BenefitQuoteInput,
    Figure,
    lump_sum,
    months_overpaid,
    overpayment,
    total_of,
)

D = Decimal
INCOME_2024 = Figure(kind=NATIONAL_INCOME, value=D("54188.00"), year=2024)
ENSIGN = Figure(
    kind=ENSIGN_BASE_PAY, value=D("3500.00"), effective_from=date(2020, 1, 1)
)


def quote(
    cause: str = "illness",
    base_pay: str = "8000.00",
    honours: list[str] | None = None,
    income: Figure = INCOME_2024,
    ensign: Figure = ENSIGN,
):
    inp = BenefitQuoteInput.model_validate(
        {
            "cause": cause,
            "death_date": "2025-03-10",
            "monthly_base_pay": base_pay,
            "honours": honours or [],
        }
    )
    return lump_sum(inp, income, ensign)


def test_the_issues_hand_example_illness_with_a_second_class_merit():
    # The issue's "second-class merit" is 立三等战功或二等功 (第十六条: 15 %):
    # 2 × 54,188 + 40 × 8,000 = 108,376 + 320,000 = 428,376.00; × 1.15 = 492,632.40.
    q = quote(honours=["third_class_war_merit_or_second_class_merit"])
    assert q.income_year == 2024
    assert q.income_multiplier == 2
    assert q.income_part == D("108376.00")
    assert q.base_pay_part == D("320000.00")
    assert q.subtotal == D("428376.00")
    assert q.increment_rate == D("0.15")
    assert q.increment == D("64256.40")
    assert q.amount == D("492632.40")
    assert str(q.amount) == "492632.40"
    assert not q.floor_applied
    assert [f.kind for f in q.figures] == [NATIONAL_INCOME, ENSIGN_BASE_PAY]


def test_without_honours_the_subtotal_is_the_amount():
    q = quote()
    assert q.honour is None and q.increment_rate == 0
    assert q.amount == D("428376.00")


@pytest.mark.parametrize("cause", ["line_of_duty", "martyr"])
def test_line_of_duty_and_martyr_take_twenty_times_the_income(cause):
    # 20 × 54,188 + 40 × 8,000 = 1,083,760 + 320,000 = 1,403,760.00
    q = quote(cause=cause)
    assert q.income_multiplier == 20
    assert q.income_part == D("1083760.00")
    assert q.amount == D("1403760.00")


def test_a_base_pay_below_the_ensign_standard_counts_as_that_standard():
    # 2 × 54,188 + 40 × 3,500 (not 40 × 2,000) = 108,376 + 140,000 = 248,376.00
    q = quote(base_pay="2000.00")
    assert q.floor_applied
    assert q.monthly_base_pay == D("2000.00")
    assert q.base_pay_used == D("3500.00")
    assert q.base_pay_part == D("140000.00")
    assert q.amount == D("248376.00")


def test_a_base_pay_equal_to_the_standard_is_not_floored():
    q = quote(base_pay="3500.00")
    assert not q.floor_applied and q.base_pay_used == D("3500.00")


def test_only_the_single_highest_honour_counts():
    # 25 % and 5 % and 15 % held: 25 % only, not 45 %. 428,376 × 1.25 = 535,470.00
    q = quote(
        honours=[
            "fourth_class_war_merit_or_third_class_merit",
            "second_class_war_merit_or_first_class_merit",
            "third_class_war_merit_or_second_class_merit",
        ]
    )
    assert q.honour == "second_class_war_merit_or_first_class_merit"
    assert q.increment_rate == D("0.25")
    assert q.amount == D("535470.00")


@pytest.mark.parametrize(
    ("honour", "rate"),
    [
        ("medal_or_national_title", "0.40"),
        ("central_or_cmc_title", "0.35"),
        ("first_class_war_merit", "0.30"),
        ("second_class_war_merit_or_first_class_merit", "0.25"),
        ("third_class_war_merit_or_second_class_merit", "0.15"),
        ("fourth_class_war_merit_or_third_class_merit", "0.05"),
    ],
)
def test_the_increments_of_article_16(honour, rate):
    assert HONOUR_INCREMENTS[honour] == D(rate)
    assert quote(honours=[honour]).increment_rate == D(rate)


def test_rounded_once_at_the_end_half_up():
    # Income 50,000.01 → 2 × = 100,000.02; base pay 8,000.01 → 40 × = 320,000.40;
    # subtotal 420,000.42 × 1.05 = 441,000.441 → 441,000.44.
    # 420,000.50 × 1.05 = 441,000.525: the increment is kept unrounded and the sum
    # rounded half-up (441,000.53; banker's rounding would give .52).
    income = Figure(kind=NATIONAL_INCOME, value=D("50000.01"), year=2024)
    q = quote(
        base_pay="8000.01",
        honours=["fourth_class_war_merit_or_third_class_merit"],
        income=income,
    )
    assert q.subtotal == D("420000.42")
    assert q.amount == D("441000.44")
    income = Figure(kind=NATIONAL_INCOME, value=D("50000.25"), year=2024)
    q = quote(
        base_pay="8000.00",
        honours=["fourth_class_war_merit_or_third_class_merit"],
        income=income,
    )
    assert q.subtotal == D("420000.50")
    assert q.increment == D("21000.0250")  # kept unrounded
    assert q.amount == D("441000.53")


def test_the_total_adds_the_funeral_grant_and_takes_the_offset_once():
    q = quote(honours=["third_class_war_merit_or_second_class_merit"])
    funeral = Figure(
        kind=FUNERAL_GRANT, value=D("20000.00"), effective_from=date(2020, 1, 1)
    )
    assert total_of(q, funeral, D("0")) == D("512632.40")
    assert total_of(q, funeral, D("9000.00")) == D("503632.40")


def test_the_input_refuses_a_zero_pay_and_an_unknown_honour():
    with pytest.raises(ValidationError):
        BenefitQuoteInput.model_validate(
            {"cause": "illness", "death_date": "2025-03-10", "monthly_base_pay": "0"}
        )
    with pytest.raises(ValidationError):
        BenefitQuoteInput.model_validate(
            {
                "cause": "illness",
                "death_date": "2025-03-10",
                "monthly_base_pay": "8000",
                "honours": ["gold_star"],
            }
        )


# --- the pension stops from the month after the death -----------------------------


@pytest.mark.parametrize(
    ("died_on", "paid_through", "months"),
    [
        (date(2025, 3, 10), date(2025, 3, 31), 0),  # paid for the month of death only
        (date(2025, 3, 10), date(2025, 5, 31), 2),  # April and May overpaid
        (date(2025, 11, 30), date(2026, 2, 28), 3),  # across the year
        (date(2025, 3, 10), date(2025, 1, 31), 0),  # paid through an earlier month
    ],
)
def test_months_overpaid_count_from_the_month_after_the_death(
    died_on, paid_through, months
):
    assert months_overpaid(died_on, paid_through) == months


def test_the_overpayment_is_pension_and_nursing_fee_of_those_months():
    # April and May: 2 × (6,123.45 + 800.00) = 13,846.90
    assert overpayment(
        date(2025, 3, 10), date(2025, 5, 31), D("6123.45"), D("800.00")
    ) == D("13846.90")
    assert overpayment(date(2025, 3, 10), date(2025, 3, 31), D("6123.45"), D("0")) == D(
        "0.00"
    )
