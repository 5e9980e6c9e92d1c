"""The interest subsidy (贴息) of a veteran's startup loan, computed to the fen.

003_f9c5147b9b40820b.txt §6.3.2.7: after the loan is used up the county bureau checks
the subsidy eligibility against the bank's approval papers and the record of principal
and interest repaid, proposes a subsidy plan and pays it. The parameters are local
(domain.md §3, Qingdao): full interest (全额贴息) for up to 3 or 2 years, or 50 % of
the 1-year LPR at the contract date (50% × LPR) for up to 2 years.

The rule, the same in the API's quote, the workflow and README:

- A period runs from the contract date (or the previous repayment date) to a
  repayment date. Only the days inside the subsidy window (contract date to contract
  date + the product's subsidy years) count.
- ``full``: subsidy = interest paid in the period × days in window / days in period.
- ``half_lpr``: subsidy = min(interest paid in the period × days in window / days in
  period, outstanding principal × 50 % × LPR × days in window / 360), the 360-day year
  of the PBoC's 日利率 = 年利率 ÷ 360.
- Each period is rounded to the fen half-up (ROUND_HALF_UP), then the periods summed.

``Decimal`` only, never float; rates are percentages ("3.45" is 3.45 % a year).
Pure and deterministic: the workflow sandbox imports it.
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator

FEN = Decimal("0.01")
HUNDRED = Decimal(100)
DAYS_PER_YEAR = Decimal(360)  # PBoC: 日利率 = 年利率 ÷ 360
HALF = Decimal("0.5")

SubsidyRule = Literal["full", "half_lpr"]

RULE_TEXT = {
    "full": (
        "全额贴息: 每期贴息 = 该期实付利息 × 贴息期内天数 ÷ 该期天数, "
        "每期按四舍五入保留到分后合计 (full interest: interest paid in the period × "
        "days in the window / days in the period, each period rounded half-up to "
        "the fen, then summed)"
    ),
    "half_lpr": (
        "50%×LPR贴息: 每期贴息 = min(该期实付利息 × 贴息期内天数 ÷ 该期天数, "
        "未还本金 × 50% × LPR × 贴息期内天数 ÷ 360), 每期按四舍五入保留到分后合计 "
        "(min(interest paid × days in window / days in period, outstanding "
        "principal × 50 % × LPR × days in window / 360), each period rounded "
        "half-up to the fen, then summed)"
    ),
}


def fen(value: Decimal) -> Decimal:
    """Rounded to the fen, half-up."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def add_months(day: date, months: int) -> date:
    """``day`` plus whole calendar months; the 31st becomes the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


class Repayment(BaseModel):
    """One repayment as paid (本息还清记录): its date, principal and interest in 元."""

    paid_on: date = Field(title="还款日期")
    principal: Decimal = Field(ge=0, max_digits=12, decimal_places=2, title="本金")
    interest: Decimal = Field(ge=0, max_digits=12, decimal_places=2, title="利息")


class QuoteInput(BaseModel):
    """What a subsidy quote needs (POST /api/loan-subsidy/quote)."""

    loan_type: Literal["personal", "startup_sme", "credit", "mortgage"] = Field(
        title="贷款类型"
    )
    principal: Decimal = Field(gt=0, max_digits=12, decimal_places=2, title="贷款本金")
    annual_rate: Decimal = Field(
        ge=0, le=36, max_digits=7, decimal_places=4, title="合同年利率(%)"
    )
    lpr: Decimal = Field(
        ge=0, le=20, max_digits=7, decimal_places=4, title="合同签订日1年期LPR(%)"
    )
    contract_date: date = Field(title="合同签订日")
    repayments: list[Repayment] = Field(
        min_length=1, max_length=600, title="还款记录(实际)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> QuoteInput:
        previous = self.contract_date
        for i, r in enumerate(self.repayments):
            if r.paid_on <= previous:
                raise ValueError(
                    f"repayments[{i}].paid_on: 还款日期须晚于合同签订日且逐笔递增 "
                    "(each repayment after the contract date and the one before)"
                )
            previous = r.paid_on
        repaid = sum((r.principal for r in self.repayments), Decimal(0))
        if repaid > self.principal:
            raise ValueError(
                "repayments: 偿还本金合计超过贷款本金 (more principal repaid than lent)"
            )
        return self


class SubsidyLine(BaseModel):
    """One period of the computation, with every figure an auditor recomputes."""

    period: int
    start: date
    end: date
    days_in_period: int
    days_in_window: int
    interest_paid: Decimal
    outstanding_principal: Decimal
    interest_share: Decimal  # interest × days in window / days in period (unrounded)
    lpr_cap: Decimal | None  # half_lpr only (unrounded)
    subsidy: Decimal  # rounded to the fen


class SubsidyQuote(BaseModel):
    loan_type: str
    rule: SubsidyRule
    rule_text: str
    subsidy_years: int
    window_start: date
    window_end: date  # exclusive: the first day no longer subsidised
    policy_version: str
    lines: list[SubsidyLine]
    total: Decimal


def compute_subsidy(
    inp: QuoteInput, rule: SubsidyRule, subsidy_years: int, policy_version: str
) -> SubsidyQuote:
    """The subsidy of a loan repaid as ``inp.repayments`` under ``rule``."""
    window_start = inp.contract_date
    window_end = add_months(inp.contract_date, 12 * subsidy_years)
    outstanding = inp.principal
    start = inp.contract_date
    lines: list[SubsidyLine] = []
    for n, repayment in enumerate(inp.repayments, start=1):
        end = repayment.paid_on
        days = (end - start).days
        inside = max(0, (min(end, window_end) - max(start, window_start)).days)
        share = repayment.interest * Decimal(inside) / Decimal(days)
        cap: Decimal | None = None
        if rule == "half_lpr":
            cap = (
                outstanding * HALF * inp.lpr / HUNDRED * Decimal(inside) / DAYS_PER_YEAR
            )
            amount = min(share, cap)
        else:
            amount = share
        lines.append(
            SubsidyLine(
                period=n,
                start=start,
                end=end,
                days_in_period=days,
                days_in_window=inside,
                interest_paid=fen(repayment.interest),
                outstanding_principal=fen(outstanding),
                interest_share=share,
                lpr_cap=cap,
                subsidy=fen(amount),
            )
        )
        outstanding -= repayment.principal
        start = end
    return SubsidyQuote(
        loan_type=inp.loan_type,
        rule=rule,
        rule_text=RULE_TEXT[rule],
        subsidy_years=subsidy_years,
        window_start=window_start,
        window_end=window_end,
        policy_version=policy_version,
        lines=lines,
        total=sum((line.subsidy for line in lines), Decimal("0.00")),
    )
