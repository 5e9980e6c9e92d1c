"""The reference figures of a retired cadre's aftercare benefits, kept in
``aftercare_figure``: one lookup for the API's quote and the workflow's
``plan_aftercare_benefits`` activity, so a quote and a case never disagree.

The rule: the national urban per-capita disposable income (全国城镇居民人均可支配收入)
is that of the year before the death (军人抚恤优待条例 第十五条); the 少尉 base pay,
the 丧葬费 and the monthly 遗属生活补助 are those effective on the date of the death
(the row with the latest ``effective_from`` on or before it). A figure the table does
not hold is an error that names it (Chinese and English), never a guess; a quote
collects every missing figure at once so an admin adds them in one go.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlmodel import Session, col, select

from models.aftercare_benefit import (
    ENSIGN_BASE_PAY,
    FUNERAL_GRANT,
    NATIONAL_INCOME,
    SURVIVOR_ALLOWANCE,
    BenefitQuote,
    BenefitQuoteInput,
    Figure,
    MissingFigure,
    fen,
    lump_sum,
    total_of,
)
from models.tables import AftercareFigure

# What each kind is, in words (Chinese, English).
KIND_LABELS: dict[str, tuple[str, str]] = {
    NATIONAL_INCOME: ("全国城镇居民人均可支配收入", "national urban per-capita income"),
    ENSIGN_BASE_PAY: ("少尉月基本工资标准", "the 少尉 monthly base pay"),
    FUNERAL_GRANT: ("丧葬费标准", "the funeral grant"),
    SURVIVOR_ALLOWANCE: ("遗属生活补助月标准", "the survivors' monthly allowance"),
}


class MissingFigures(ValueError):
    """Every reference figure a quote needs and the table lacks (at least one)."""

    def __init__(self, missing: list[MissingFigure]) -> None:
        super().__init__("; ".join(m.detail for m in missing))
        self.missing = missing

    @property
    def messages(self) -> list[str]:
        return [m.detail for m in self.missing]


def period_of(kind: str, year: int | None, effective_from: date | None) -> str:
    """The key a figure is unique by within its kind: the year, or the ISO date."""
    if kind == NATIONAL_INCOME:
        if year is None:
            raise ValueError("national_income needs a year")
        return str(year)
    if effective_from is None:
        raise ValueError(f"{kind} needs an effective_from date")
    return effective_from.isoformat()


def version_of(row: AftercareFigure) -> str:
    """A figure's version as quotes name it: ``<kind>@<year or date>`` (rows are
    never edited, so the name always means the same value)."""
    return f"{row.kind}@{row.period}"


def figure_of(row: AftercareFigure) -> Figure:
    return Figure(
        kind=row.kind,
        value=Decimal(row.value),
        year=row.year,
        effective_from=row.effective_from,
        version=version_of(row),
        source=row.source,
    )


def missing_message(kind: str, *, year: int | None, on: date | None) -> str:
    """``缺少2025年全国城镇居民人均可支配收入 (national_income for 2025 missing)``."""
    zh, _ = KIND_LABELS.get(kind, (kind, kind))
    if kind == NATIONAL_INCOME:
        return f"缺少{year}年{zh} ({kind} for {year} missing)"
    return f"缺少{on}适用的{zh} ({kind} effective on {on} missing)"


def figure(
    session: Session, kind: str, *, year: int | None = None, on: date | None = None
) -> Figure:
    """The national income of ``year``, or the figure of ``kind`` effective on
    ``on``; MissingFigure naming it when the table has none."""
    if kind == NATIONAL_INCOME:
        if year is None:
            raise ValueError("national_income is looked up by year")
        row = session.exec(
            select(AftercareFigure).where(
                AftercareFigure.kind == kind, AftercareFigure.year == year
            )
        ).first()
    else:
        if on is None:
            raise ValueError(f"{kind} is looked up by date")
        row = session.exec(
            select(AftercareFigure)
            .where(AftercareFigure.kind == kind)
            .where(col(AftercareFigure.effective_from) <= on)
            .order_by(col(AftercareFigure.effective_from).desc())
        ).first()
    if row is None:
        raise MissingFigure(kind, missing_message(kind, year=year, on=on))
    return figure_of(row)


def income_year(death_date: date) -> int:
    """第十五条: the national income of the year before the death."""
    return death_date.year - 1


def quote_benefits(
    session: Session,
    inp: BenefitQuoteInput,
    offset: Decimal,
    eligible_survivors: int,
) -> BenefitQuote:
    """The benefits of a death: 一次性抚恤金 with every component, 丧葬费, the
    overpayment ``offset`` against them, and the monthly 遗属生活补助 when a survivor is
    eligible (its rate is then required). MissingFigures naming every figure the
    table lacks."""
    on = inp.death_date
    found: dict[str, Figure] = {}
    missing: list[MissingFigure] = []
    wanted = [
        (NATIONAL_INCOME, income_year(on), None),
        (ENSIGN_BASE_PAY, None, on),
        (FUNERAL_GRANT, None, on),
    ]
    if eligible_survivors > 0:
        wanted.append((SURVIVOR_ALLOWANCE, None, on))
    for kind, year, day in wanted:
        try:
            found[kind] = figure(session, kind, year=year, on=day)
        except MissingFigure as exc:
            missing.append(exc)
    if missing:
        raise MissingFigures(missing)
    lump = lump_sum(inp, found[NATIONAL_INCOME], found[ENSIGN_BASE_PAY])
    funeral = found[FUNERAL_GRANT]
    allowance = found.get(SURVIVOR_ALLOWANCE)
    return BenefitQuote(
        lump_sum=lump,
        funeral_grant=fen(funeral.value),
        survivor_allowance_monthly=(
            fen(allowance.value) if allowance is not None else None
        ),
        overpayment_offset=fen(offset),
        total=total_of(lump, funeral, offset),
        figures=list(found.values()),
    )
