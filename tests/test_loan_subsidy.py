"""The interest subsidy (models/loan_subsidy.py) against cases computed by hand.

The rule: a period runs from the contract date (or the previous repayment) to a
repayment; only its days inside the window (contract date .. contract date + subsidy
years, exclusive) count. full: interest × days in window / days in period. half_lpr:
min(that, outstanding × 50 % × LPR % × days in window / 360). Each period rounded
half-up to the fen, then summed.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from models.loan_policy import QINGDAO_2024
from models.loan_subsidy import QuoteInput, compute_subsidy

D = Decimal


def quote(loan_type: str, **fields):
    product = QINGDAO_2024.products[loan_type]
    inp = QuoteInput(loan_type=loan_type, **fields)
    return compute_subsidy(
        inp, product.subsidy_rule, product.subsidy_years, QINGDAO_2024.version
    )


def test_full_subsidy_of_a_personal_loan_inside_its_window():
    q = quote(
        "personal",
        principal=D("100000.00"),
        annual_rate=D("4.35"),
        lpr=D("3.45"),
        contract_date=date(2024, 1, 1),
        repayments=[
            # 2024-01-01 → 2024-04-01: 31 + 29 (leap) + 31 = 91 days, all inside the
            # 3-year window (→ 2027-01-01): 1087.50 × 91/91 = 1087.50
            {"paid_on": "2024-04-01", "principal": "0", "interest": "1087.50"},
            # → 2024-07-01: 30 + 31 + 30 = 91 days: 1087.50
            {"paid_on": "2024-07-01", "principal": "50000", "interest": "1087.50"},
            # → 2025-01-01: 184 days, outstanding 50,000: 1100.00 × 184/184
            {"paid_on": "2025-01-01", "principal": "50000", "interest": "1100.00"},
        ],
    )
    assert (q.rule, q.subsidy_years, q.policy_version) == ("full", 3, "qingdao-2024")
    assert q.window_end == date(2027, 1, 1)
    assert [line.days_in_period for line in q.lines] == [91, 91, 184]
    assert [line.days_in_window for line in q.lines] == [91, 91, 184]
    assert [line.outstanding_principal for line in q.lines] == [
        D("100000.00"),
        D("100000.00"),
        D("50000.00"),
    ]
    assert [line.subsidy for line in q.lines] == [
        D("1087.50"),
        D("1087.50"),
        D("1100.00"),
    ]
    assert q.total == D("3275.00")  # 1087.50 + 1087.50 + 1100.00
    assert str(q.total) == "3275.00"
    assert all(line.lpr_cap is None for line in q.lines)
    assert "全额贴息" in q.rule_text


def test_full_subsidy_when_the_window_ends_inside_a_period():
    q = quote(
        "startup_sme",  # full interest for 2 years: window 2024-03-15 → 2026-03-15
        principal=D("200000.00"),
        annual_rate=D("4.00"),
        lpr=D("3.45"),
        contract_date=date(2024, 3, 15),
        repayments=[
            # 2024-03-15 → 2025-03-15: 365 days (29 Feb 2024 lies before), all in:
            # 5000.00 × 365/365 = 5000.00
            {"paid_on": "2025-03-15", "principal": "0", "interest": "5000.00"},
            # 2025-03-15 → 2026-06-15: 365 + 31 + 30 + 31 = 457 days, 365 inside:
            # 6250 × 365/457 = 2,281,250/457 = 4991.7943… → 4991.79
            {"paid_on": "2026-06-15", "principal": "100000", "interest": "6250.00"},
            # 2026-06-15 → 2026-09-15: 92 days, none inside: 0.00
            {"paid_on": "2026-09-15", "principal": "100000", "interest": "1250.00"},
        ],
    )
    assert q.window_end == date(2026, 3, 15)
    assert [(line.days_in_period, line.days_in_window) for line in q.lines] == [
        (365, 365),
        (457, 365),
        (92, 0),
    ]
    assert q.lines[1].interest_share == D("6250.00") * 365 / 457
    assert [line.subsidy for line in q.lines] == [D("5000.00"), D("4991.79"), D("0.00")]
    assert q.total == D("9991.79")  # 5000.00 + 4991.79 + 0.00


def test_half_lpr_subsidy_where_the_360_day_cap_binds_and_where_it_does_not():
    q = quote(
        "credit",  # 50 % × LPR for 2 years: window 2024-01-01 → 2026-01-01
        principal=D("1000000.00"),
        annual_rate=D("6.00"),
        lpr=D("3.45"),
        contract_date=date(2024, 1, 1),
        repayments=[
            # 182 days (Jan 31 + Feb 29 + Mar 31 + Apr 30 + May 31 + Jun 30).
            # share: 30000 × 182/182 = 30000
            # cap: 1,000,000 × 0.5 × 3.45 % × 182/360 = 17250 × 182/360
            #      = 3,139,500/360 = 8720.8333… → the cap binds: 8720.83
            {"paid_on": "2024-07-01", "principal": "0", "interest": "30000.00"},
            # 2024-07-01 → 2025-01-01: 184 days; cap 17250 × 184/360
            #      = 3,174,000/360 = 8816.6666… → 8816.67
            {"paid_on": "2025-01-01", "principal": "500000", "interest": "30000.00"},
            # 2025-01-01 → 2026-07-01: 365 + 181 = 546 days, 365 inside, outstanding
            # 500,000. share: 10000 × 365/546 = 6684.9816… ;
            # cap: 500,000 × 0.5 × 3.45 % × 365/360 = 8625 × 365/360 = 8744.7916…
            # → the share is the smaller: 6684.98
            {"paid_on": "2026-07-01", "principal": "500000", "interest": "10000.00"},
        ],
    )
    assert q.rule == "half_lpr" and q.subsidy_years == 2
    assert [(line.days_in_period, line.days_in_window) for line in q.lines] == [
        (182, 182),
        (184, 184),
        (546, 365),
    ]
    assert q.lines[0].lpr_cap == D("17250") * 182 / 360
    assert [line.subsidy for line in q.lines] == [
        D("8720.83"),
        D("8816.67"),
        D("6684.98"),
    ]
    assert q.total == D("24222.48")  # 8720.83 + 8816.67 + 6684.98
    assert "360" in q.rule_text


def test_each_period_is_rounded_half_up_at_half_a_fen():
    q = quote(
        "personal",  # window 2024-01-01 → 2027-01-01
        principal=D("50000.00"),
        annual_rate=D("4.35"),
        lpr=D("3.45"),
        contract_date=date(2024, 1, 1),
        repayments=[
            # 2024-01-01 → 2026-12-31: 366 + 365 + 364 = 1095 days, all inside
            {"paid_on": "2026-12-31", "principal": "0", "interest": "13045.00"},
            # 2026-12-31 → 2027-01-02: 2 days, 1 inside: 10.01 × 1/2 = 5.005
            # → 5.01 half-up (half-even would give 5.00)
            {"paid_on": "2027-01-02", "principal": "50000", "interest": "10.01"},
        ],
    )
    assert q.lines[0].days_in_period == 1095
    assert q.lines[1].interest_share == D("5.005")
    assert q.lines[1].subsidy == D("5.01")
    assert q.total == D("13050.01")  # 13045.00 + 5.01


def test_a_period_below_half_a_fen_rounds_down():
    q = quote(
        "personal",  # window 2024-01-01 → 2027-01-01
        principal=D("10000.00"),
        annual_rate=D("4.35"),
        lpr=D("3.45"),
        contract_date=date(2024, 1, 1),
        repayments=[
            # 1095 days, all inside, no interest: 0.00
            {"paid_on": "2026-12-31", "principal": "0", "interest": "0.00"},
            # 2026-12-31 → 2027-01-03: 3 days, 1 inside: 10.00 × 1/3 = 3.3333… → 3.33
            {"paid_on": "2027-01-03", "principal": "10000", "interest": "10.00"},
        ],
    )
    assert [(line.days_in_period, line.days_in_window) for line in q.lines] == [
        (1095, 1095),
        (3, 1),
    ]
    assert [line.subsidy for line in q.lines] == [D("0.00"), D("3.33")]
    assert q.total == D("3.33")


@pytest.mark.parametrize(
    ("repayments", "message"),
    [
        # On the contract date: a period of no days.
        (
            [{"paid_on": "2024-01-01", "principal": "0", "interest": "1"}],
            "repayments[0].paid_on",
        ),
        # Out of order.
        (
            [
                {"paid_on": "2024-06-01", "principal": "0", "interest": "1"},
                {"paid_on": "2024-03-01", "principal": "0", "interest": "1"},
            ],
            "repayments[1].paid_on",
        ),
        # The same day twice.
        (
            [
                {"paid_on": "2024-06-01", "principal": "0", "interest": "1"},
                {"paid_on": "2024-06-01", "principal": "0", "interest": "1"},
            ],
            "repayments[1].paid_on",
        ),
        # More principal back than lent (1000.00 + 0.01).
        (
            [
                {"paid_on": "2024-06-01", "principal": "1000.00", "interest": "1"},
                {"paid_on": "2024-07-01", "principal": "0.01", "interest": "1"},
            ],
            "more principal repaid than lent",
        ),
        # No repayment at all.
        ([], "at least 1"),
    ],
)
def test_repayments_out_of_order_or_over_repaid_are_refused(repayments, message):
    with pytest.raises(ValidationError) as exc:
        QuoteInput(
            loan_type="personal",
            principal=D("1000.00"),
            annual_rate=D("4.35"),
            lpr=D("3.45"),
            contract_date=date(2024, 1, 1),
            repayments=repayments,
        )
    assert message in str(exc.value)


def test_amounts_with_fractions_of_a_fen_are_refused():
    with pytest.raises(ValidationError):
        QuoteInput(
            loan_type="personal",
            principal=D("1000.005"),
            annual_rate=D("4.35"),
            lpr=D("3.45"),
            contract_date=date(2024, 1, 1),
            repayments=[{"paid_on": "2024-02-01", "principal": "0", "interest": "1"}],
        )
