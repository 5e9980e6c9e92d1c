"""The benefits of a retired cadre's death, computed so an auditor can recompute them.

军人抚恤优待条例 第十五条: 一次性抚恤金 — 病故: 2 × the national urban per-capita
disposable income of the year before the death + 40 × the monthly base pay; 因公牺牲 and
烈士: 20 × that income + 40 × the monthly base pay; a base pay below the 少尉 standard
counts as that standard. 第十六条: one increment for the single highest honour (40 %,
35 %, 30 %, 25 %, 15 %, 5 %). 第六十一条 applies the rules to 军队离休退休干部
(004_e39f325d814e467f.txt §6.10 的善后, domain.md §4 d).

``Decimal`` in 元, rounded to the fen half-up once, at the end. The figures (the
national income of each year, the 少尉 base pay, the funeral grant and the survivors'
allowance) come from reference tables that admins keep with their source; a figure
that is missing is an error naming it, never a guess. Pure: the workflow imports it.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import BaseModel, Field

FEN = Decimal("0.01")

Cause = Literal["illness", "line_of_duty", "martyr"]
CAUSE_LABELS = {"illness": "病故", "line_of_duty": "因公牺牲", "martyr": "烈士"}
# 第十五条: how many times the year-before income.
INCOME_MULTIPLIER = {"illness": 2, "line_of_duty": 20, "martyr": 20}
BASE_PAY_MONTHS = 40

Honour = Literal[
    "medal_or_national_title",
    "central_or_cmc_title",
    "first_class_war_merit",
    "second_class_war_merit_or_first_class_merit",
    "third_class_war_merit_or_second_class_merit",
    "fourth_class_war_merit_or_third_class_merit",
]
# 第十六条: the increment of each honour; only the single highest applies.
HONOUR_INCREMENTS: dict[str, Decimal] = {
    "medal_or_national_title": Decimal("0.40"),
    "central_or_cmc_title": Decimal("0.35"),
    "first_class_war_merit": Decimal("0.30"),
    "second_class_war_merit_or_first_class_merit": Decimal("0.25"),
    "third_class_war_merit_or_second_class_merit": Decimal("0.15"),
    "fourth_class_war_merit_or_third_class_merit": Decimal("0.05"),
}
HONOUR_LABELS = {
    "medal_or_national_title": "获得勋章或国家荣誉称号",
    "central_or_cmc_title": "获得中央军委或党中央、国务院授予的荣誉称号",
    "first_class_war_merit": "立一等战功或获一级表彰",
    "second_class_war_merit_or_first_class_merit": "立二等战功或一等功",
    "third_class_war_merit_or_second_class_merit": "立三等战功或二等功",
    "fourth_class_war_merit_or_third_class_merit": "立四等战功或三等功",
}

# Kinds of reference figures (table ``aftercare_figure``).
NATIONAL_INCOME = "national_income"  # by year: 全国城镇居民人均可支配收入
ENSIGN_BASE_PAY = "ensign_base_pay"  # 少尉 monthly base pay, by effective date
FUNERAL_GRANT = "funeral_grant"  # 丧葬费, by effective date
SURVIVOR_ALLOWANCE = "survivor_allowance"  # 遗属生活补助 per month, by effective date
FIGURE_KINDS = (NATIONAL_INCOME, ENSIGN_BASE_PAY, FUNERAL_GRANT, SURVIVOR_ALLOWANCE)


def fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


class Figure(BaseModel):
    """One reference figure as used: its value, the year or date it is for, the
    version (table row id) and its source."""

    kind: str
    value: Decimal
    year: int | None = None
    effective_from: date | None = None
    version: str = ""
    source: str = ""


class MissingFigure(ValueError):
    """A reference figure the computation needs is not in the table."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class BenefitQuoteInput(BaseModel):
    """``POST /api/aftercare/benefit-quote``."""

    cause: Cause = Field(title="死亡性质")
    death_date: date = Field(title="死亡日期")
    monthly_base_pay: Decimal = Field(
        gt=0, max_digits=10, decimal_places=2, title="本人月基本工资(元)"
    )
    honours: list[Honour] = Field(default_factory=list, max_length=20, title="荣誉")


class LumpSumQuote(BaseModel):
    """一次性抚恤金 with every component."""

    cause: str
    income_year: int
    income: Decimal
    income_multiplier: int
    income_part: Decimal  # multiplier × income
    monthly_base_pay: Decimal  # as given
    base_pay_used: Decimal  # after the 少尉 floor
    floor_applied: bool
    base_pay_part: Decimal  # 40 × base pay used
    subtotal: Decimal
    honour: str | None  # the single highest honour applied
    increment_rate: Decimal
    increment: Decimal  # unrounded
    amount: Decimal  # rounded to the fen, half-up, once
    figures: list[Figure]
    rule_text: str


RULE_TEXT = (
    "一次性抚恤金 = (病故: 2 / 因公牺牲、烈士: 20) × 上一年度全国城镇居民人均可支配收入 "
    "+ 40 × 本人月基本工资(低于少尉标准的按少尉标准); 按最高一项荣誉增发 40%/35%/30%/"
    "25%/15%/5%; 以元计, 最后一次四舍五入到分 (军人抚恤优待条例 第十五、十六条) "
    "(lump sum = 2 or 20 × the previous year's national urban per-capita disposable "
    "income + 40 × the monthly base pay, floored at the 少尉 standard; plus the single "
    "highest honour's increment; rounded half-up to the fen once, at the end)"
)


def lump_sum(
    inp: BenefitQuoteInput, income: Figure, ensign_base_pay: Figure
) -> LumpSumQuote:
    """一次性抚恤金 of ``inp`` with the year-before income and the 少尉 base pay."""
    multiplier = INCOME_MULTIPLIER[inp.cause]
    income_part = income.value * multiplier
    floor_applied = inp.monthly_base_pay < ensign_base_pay.value
    base_pay = ensign_base_pay.value if floor_applied else inp.monthly_base_pay
    base_pay_part = base_pay * BASE_PAY_MONTHS
    subtotal = income_part + base_pay_part
    honour = max(inp.honours, key=lambda h: HONOUR_INCREMENTS[h], default=None)
    rate = HONOUR_INCREMENTS[honour] if honour else Decimal("0")
    increment = subtotal * rate
    return LumpSumQuote(
        cause=inp.cause,
        income_year=inp.death_date.year - 1,
        income=income.value,
        income_multiplier=multiplier,
        income_part=income_part,
        monthly_base_pay=inp.monthly_base_pay,
        base_pay_used=base_pay,
        floor_applied=floor_applied,
        base_pay_part=base_pay_part,
        subtotal=subtotal,
        honour=honour,
        increment_rate=rate,
        increment=increment,
        amount=fen(subtotal + increment),
        figures=[income, ensign_base_pay],
        rule_text=RULE_TEXT,
    )


class BenefitQuote(BaseModel):
    """Everything the benefit claim pays: 丧葬费, 一次性抚恤金, and the monthly
    遗属生活补助 of each eligible survivor (paid by their own allowance workflow)."""

    lump_sum: LumpSumQuote
    funeral_grant: Decimal
    survivor_allowance_monthly: Decimal | None = None
    overpayment_offset: Decimal = Decimal("0.00")
    total: Decimal  # funeral grant + lump sum − offset, once
    figures: list[Figure]


def total_of(lump: LumpSumQuote, funeral: Figure, offset: Decimal) -> Decimal:
    return fen(lump.amount + funeral.value - offset)


def months_overpaid(died_on: date, paid_through: date) -> int:
    """Months of pension paid after the month of death: it stops from the month after
    (domain.md §4 b; 004 §6.3.2.6)."""
    months = (
        (paid_through.year - died_on.year) * 12 + paid_through.month - died_on.month
    )
    return max(0, months)


def overpayment(
    died_on: date, paid_through: date, monthly_pension: Decimal, nursing_fee: Decimal
) -> Decimal:
    """Pension and 护理费 paid for months after the death, to recover."""
    return fen((monthly_pension + nursing_fee) * months_overpaid(died_on, paid_through))
