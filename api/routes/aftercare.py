"""A retired cadre's aftercare (issue 10): the benefit quote (the computation the
case's ``plan_aftercare_benefits`` activity runs, from the same figures), the
reference figures admins keep with their source, and a case's aftercare with its
survivors (ID numbers masked unless the reader's role needs them; such reads are
audited)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.case_queries import visible_case
from api.deps import AdminUser, AuthUser, CurrentUser, EngineDep, SettingsDep
from api.errors import conflict, invalid
from api.params import MAX_DATE, MIN_DATE
from models.aftercare_benefit import (
    CAUSE_LABELS,
    HONOUR_LABELS,
    NATIONAL_INCOME,
    SURVIVOR_ALLOWANCE,
    BenefitQuote,
    BenefitQuoteInput,
    Figure,
    MissingFigure,
    fen,
)
from models.aftercare_figures import (
    KIND_LABELS,
    MissingFigures,
    figure,
    period_of,
    quote_benefits,
    version_of,
)
from models.idnumber import mask_id_number
from models.processes.retiree_aftercare import RELATION_LABELS
from models.tables import Aftercare, AftercareFigure, AftercareSurvivor

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api", tags=["retiree aftercare"])

FigureKind = Literal[
    "national_income", "ensign_base_pay", "funeral_grant", "survivor_allowance"
]


def _yuan(value: Decimal) -> str:
    """A Decimal as plain digits (never ``1E+2``)."""
    return format(value, "f")


def _fen(value: Decimal) -> str:
    """An amount in 元 that has at most two places, shown with two (8000 → 8000.00);
    the unrounded increment is shown with ``_yuan``."""
    return _yuan(fen(value))


# --- the quote ---------------------------------------------------------------------


class QuoteRequest(BenefitQuoteInput):
    """A death to quote the benefits of."""

    eligible_survivors: int = Field(
        default=0,
        ge=0,
        le=30,
        description="Survivors eligible for 遗属生活补助: when more than 0 its monthly "
        "rate is required (422 when missing); otherwise it is shown when known",
    )

    @model_validator(mode="after")
    def _date_in_range(self) -> QuoteRequest:
        if not MIN_DATE <= self.death_date <= MAX_DATE:
            raise ValueError(
                f"日期须在 {MIN_DATE} 至 {MAX_DATE} 之间 (date out of range)"
            )
        return self


class FigureUsed(BaseModel):
    kind: str
    label: str = Field(description="What the figure is, in Chinese")
    value: str = Field(description="元, two places")
    year: int | None = Field(description="national_income: the year it is for")
    effective_from: date | None = Field(description="The others: effective from")
    version: str = Field(description="`<kind>@<year or date>`: the row used")
    source: str


class BenefitQuotePublic(BaseModel):
    """Every component, so an auditor can recompute the amount by hand."""

    cause: str
    cause_label: str
    amount: str = Field(description="一次性抚恤金, 元, rounded half-up to the fen once")
    income_year: int = Field(description="The year before the death")
    income: str = Field(description="全国城镇居民人均可支配收入 of income_year, 元")
    income_multiplier: int = Field(description="病故 2; 因公牺牲、烈士 20")
    income_part: str
    monthly_base_pay: str = Field(description="As given, 元/month")
    ensign_base_pay: str = Field(description="The 少尉 standard in effect, 元/month")
    base_pay_used: str = Field(description="The base pay, floored at the 少尉 one")
    floor_applied: bool
    base_pay_part: str = Field(description="40 × base_pay_used")
    subtotal: str
    honour: str | None = Field(description="The single highest honour applied")
    honour_label: str
    increment_rate: str = Field(description="e.g. 0.15 for 15 %")
    increment: str = Field(description="subtotal × increment_rate, unrounded")
    funeral_grant: str = Field(description="丧葬费, 元")
    survivor_allowance_monthly: str | None = Field(
        description="遗属生活补助 per eligible survivor and month, 元"
    )
    overpayment_offset: str = Field(description="Overpaid pension offset, 元")
    total: str = Field(description="funeral_grant + amount − overpayment_offset")
    figures: list[FigureUsed]
    rule_text: str


def _figure_used(f: Figure) -> FigureUsed:
    return FigureUsed(
        kind=f.kind,
        label=KIND_LABELS.get(f.kind, (f.kind, f.kind))[0],
        value=_fen(f.value),
        year=f.year,
        effective_from=f.effective_from,
        version=f.version,
        source=f.source,
    )


def quote_public(quote: BenefitQuote) -> BenefitQuotePublic:
    lump = quote.lump_sum
    ensign = next((f for f in lump.figures if f.kind != NATIONAL_INCOME), None)
    return BenefitQuotePublic(
        cause=lump.cause,
        cause_label=CAUSE_LABELS.get(lump.cause, lump.cause),
        amount=_fen(lump.amount),
        income_year=lump.income_year,
        income=_fen(lump.income),
        income_multiplier=lump.income_multiplier,
        income_part=_fen(lump.income_part),
        monthly_base_pay=_fen(lump.monthly_base_pay),
        ensign_base_pay=_fen(ensign.value) if ensign else "",
        base_pay_used=_fen(lump.base_pay_used),
        floor_applied=lump.floor_applied,
        base_pay_part=_fen(lump.base_pay_part),
        subtotal=_fen(lump.subtotal),
        honour=lump.honour,
        honour_label=HONOUR_LABELS.get(lump.honour or "", ""),
        increment_rate=_yuan(lump.increment_rate),
        increment=_yuan(lump.increment),
        funeral_grant=_fen(quote.funeral_grant),
        survivor_allowance_monthly=(
            _fen(quote.survivor_allowance_monthly)
            if quote.survivor_allowance_monthly is not None
            else None
        ),
        overpayment_offset=_fen(quote.overpayment_offset),
        total=_fen(quote.total),
        figures=[_figure_used(f) for f in quote.figures],
        rule_text=lump.rule_text,
    )


def _quote(engine: Any, body: QuoteRequest) -> BenefitQuote:
    inp = BenefitQuoteInput.model_validate(
        body.model_dump(exclude={"eligible_survivors"})
    )
    with Session(engine) as s:
        try:
            quote = quote_benefits(s, inp, Decimal("0"), body.eligible_survivors)
        except MissingFigures as exc:
            raise invalid(
                [
                    {"loc": ["body", "death_date"], "msg": m, "type": "missing_figure"}
                    for m in exc.messages
                ]
            ) from None
        if quote.survivor_allowance_monthly is None:
            try:
                rate = figure(s, SURVIVOR_ALLOWANCE, on=inp.death_date)
            except MissingFigure:
                return quote
            return quote.model_copy(
                update={
                    "survivor_allowance_monthly": rate.value,
                    "figures": [*quote.figures, rate],
                }
            )
    return quote


@router.post(
    "/aftercare/benefit-quote",
    response_model=BenefitQuotePublic,
    summary="Quote a retired cadre's death benefits / 抚恤金测算",
)
async def quote_aftercare_benefits(
    body: QuoteRequest, engine: EngineDep, user: CurrentUser
) -> BenefitQuotePublic:
    """一次性抚恤金 (军人抚恤优待条例 第十五、十六条), 丧葬费 and the monthly 遗属生活补助
    of a death, computed as the case computes them. 病故: 2 × the national urban
    per-capita disposable income of the year before the death + 40 × the monthly
    base pay; 因公牺牲 and 烈士: 20 × that income + 40 × the base pay; a base pay
    below the 少尉 standard counts as that standard; then the single highest
    honour's increment (40/35/30/25/15/5 %); Decimal in 元, rounded half-up to the
    fen once, at the end. The 少尉 pay, 丧葬费 and allowance are those effective on
    the death date. The answer names each figure's version and source. 422 naming
    EVERY figure the tables lack (loc `["body", "death_date"]`, type
    `missing_figure`): never a guess. Any staff member."""
    quote = await run_in_threadpool(_quote, engine, body)
    return quote_public(quote)


# --- the reference figures -----------------------------------------------------------


class FigureCreate(BaseModel):
    """A figure: the national income of a `year`, or another kind from a date."""

    kind: FigureKind = Field(
        description="national_income (全国城镇居民人均可支配收入, by year), "
        "ensign_base_pay (少尉月基本工资), funeral_grant (丧葬费), "
        "survivor_allowance (遗属生活补助 per month) — the last three by "
        "effective_from"
    )
    year: int | None = Field(
        default=None, ge=1949, le=2999, description="national_income only"
    )
    effective_from: date | None = Field(
        default=None, description="Every kind but national_income"
    )
    value: Decimal = Field(gt=0, max_digits=12, decimal_places=2, description="元")
    source: str = Field(
        min_length=1,
        max_length=4000,
        description="Where the figure comes from (e.g. 国家统计局 年度统计公报)",
    )

    @field_validator("source")
    @classmethod
    def _source_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("须记录数据来源 (the source is required)")
        return value.strip()

    @model_validator(mode="after")
    def _period_fits_kind(self) -> FigureCreate:
        if self.kind == NATIONAL_INCOME:
            if self.year is None or self.effective_from is not None:
                raise ValueError(
                    "全国城镇居民人均可支配收入按年度登记: 须填 year, 不填 "
                    "effective_from (national_income takes a year, no effective_from)"
                )
        elif self.effective_from is None or self.year is not None:
            raise ValueError(
                "该标准按生效日期登记: 须填 effective_from, 不填 year "
                "(this kind takes effective_from, no year)"
            )
        elif not MIN_DATE <= self.effective_from <= MAX_DATE:
            raise ValueError(
                f"日期须在 {MIN_DATE} 至 {MAX_DATE} 之间 (date out of range)"
            )
        return self


class FigurePublic(BaseModel):
    id: int
    kind: str
    label: str
    year: int | None
    effective_from: date | None
    value: str = Field(description="元, two places")
    source: str
    version: str = Field(description="`<kind>@<year or date>`, as quotes name it")
    created_by: str
    created_at: datetime


def _figure_public(row: AftercareFigure) -> FigurePublic:
    return FigurePublic(
        id=row.id or 0,
        kind=row.kind,
        label=KIND_LABELS.get(row.kind, (row.kind, row.kind))[0],
        year=row.year,
        effective_from=row.effective_from,
        value=row.value,
        source=row.source,
        version=version_of(row),
        created_by=row.created_by,
        created_at=row.created_at,
    )


@router.get(
    "/aftercare/figures",
    response_model=list[FigurePublic],
    summary="Reference figures of the death benefits / 抚恤标准",
)
async def list_aftercare_figures(
    engine: EngineDep,
    user: CurrentUser,
    kind: Annotated[FigureKind | None, Query(description="Only this kind")] = None,
) -> list[FigurePublic]:
    """Every figure (or those of one `kind`) with its source, by kind, newest year or
    date first. Any staff member."""

    def read() -> list[FigurePublic]:
        with Session(engine) as s:
            query = select(AftercareFigure)
            if kind is not None:
                query = query.where(AftercareFigure.kind == kind)
            rows = s.exec(
                query.order_by(
                    col(AftercareFigure.kind), col(AftercareFigure.period).desc()
                )
            ).all()
            return [_figure_public(r) for r in rows]

    return await run_in_threadpool(read)


@router.post(
    "/aftercare/figures",
    status_code=status.HTTP_201_CREATED,
    response_model=FigurePublic,
    summary="Add a reference figure (admin) / 新增抚恤标准",
)
async def create_aftercare_figure(
    body: FigureCreate, engine: EngineDep, user: AdminUser
) -> FigurePublic:
    """Add the national income of a year, or a 少尉 base pay, 丧葬费 or 遗属生活补助
    from a date, with its source (required). Figures are never edited: 409 when the
    kind already has one for that year or date. Admin only (403 otherwise); audited
    (`aftercare_figure_added`)."""
    duplicate = conflict(
        "该年度或生效日期的标准已存在，标准不可修改 (a figure of this kind exists "
        "for that year or date; figures are never edited)"
    )

    def write() -> FigurePublic:
        period = period_of(body.kind, body.year, body.effective_from)
        with Session(engine, expire_on_commit=False) as s:
            exists = s.exec(
                select(AftercareFigure.id).where(
                    AftercareFigure.kind == body.kind, AftercareFigure.period == period
                )
            ).first()
            if exists is not None:
                raise duplicate
            row = AftercareFigure(
                kind=body.kind,
                year=body.year,
                effective_from=body.effective_from,
                period=period,
                value=_fen(body.value),
                source=body.source,
                created_by=user.username,
            )
            s.add(row)
            try:
                s.flush()
            except IntegrityError:  # a concurrent admin added it first
                raise duplicate from None
            record_audit(
                s,
                actor=user.username,
                action="aftercare_figure_added",
                entity_type="aftercare_figure",
                entity_id=version_of(row),
                after={
                    "kind": row.kind,
                    "year": row.year,
                    "effective_from": (
                        row.effective_from.isoformat() if row.effective_from else None
                    ),
                    "value": row.value,
                    "source": row.source,
                },
            )
            s.commit()
            return _figure_public(row)

    return await run_in_threadpool(write)


# --- a case's aftercare --------------------------------------------------------------


class SurvivorPublic(BaseModel):
    n: int = Field(description="The survivor's number in the case")
    name: str
    id_number: str = Field(
        description="Masked (`1101**********123X`) unless your role needs it"
    )
    id_number_masked: bool
    relation: str
    relation_label: str
    born_on: date
    allowance_eligible: bool
    monthly: str | None = Field(description="遗属生活补助 per month, 元")
    allowance_starts_on: date | None
    allowance_status: str = Field(description="none | active | stopped")
    next_confirmation_at: datetime | None
    stopped_reason: str
    years_confirmed: int


class AftercarePublic(BaseModel):
    """A retiree_aftercare case as its workflow recorded it."""

    case_id: str
    veteran_id: int
    stage: str
    died_on: date
    cause: str
    cause_label: str
    overpayment: str | None = Field(description="Pension paid after the death, 元")
    recovery: str = Field(description="recovered | offset | waived")
    quote_round: int | None = Field(description="The claim round of the quote")
    quote: BenefitQuotePublic | None = Field(description="The benefits as planned")
    benefit_total: str | None = Field(description="Paid, 元")
    paid_reference: str
    updated_at: datetime
    survivors: list[SurvivorPublic]


def _stored_quote(row: Aftercare) -> BenefitQuotePublic | None:
    if not row.quote:
        return None
    try:
        return quote_public(BenefitQuote.model_validate(row.quote))
    except ValidationError:
        log.warning("aftercare_quote_unreadable", case_id=row.case_id)
        return None


def _survivor_public(row: AftercareSurvivor, unmask: bool) -> SurvivorPublic:
    return SurvivorPublic(
        n=row.n,
        name=row.name,
        id_number=row.id_number if unmask else mask_id_number(row.id_number),
        id_number_masked=not unmask,
        relation=row.relation,
        relation_label=RELATION_LABELS.get(row.relation, row.relation),
        born_on=row.born_on,
        allowance_eligible=row.allowance_eligible,
        monthly=row.monthly,
        allowance_starts_on=row.allowance_starts_on,
        allowance_status=row.allowance_status,
        next_confirmation_at=row.next_confirmation_at,
        stopped_reason=row.stopped_reason,
        years_confirmed=row.years_confirmed,
    )


def _aftercare(
    engine: Any, case_id: str, user: AuthUser, unmask: bool
) -> AftercarePublic | None:
    with Session(engine) as s:
        row = s.get(Aftercare, case_id)
        if row is None:
            return None
        survivors = s.exec(
            select(AftercareSurvivor)
            .where(AftercareSurvivor.case_id == case_id)
            .order_by(col(AftercareSurvivor.n))
        ).all()
        if unmask and survivors:
            for sv in survivors:
                record_audit(
                    s,
                    actor=user.username,
                    action="unmask_id_number",
                    entity_type="aftercare_survivor",
                    entity_id=f"{case_id}:{sv.n}",
                    case_id=case_id,
                )
            s.commit()
        return AftercarePublic(
            case_id=row.case_id,
            veteran_id=row.veteran_id,
            stage=row.stage,
            died_on=row.died_on,
            cause=row.cause,
            cause_label=CAUSE_LABELS.get(row.cause, row.cause),
            overpayment=row.overpayment,
            recovery=row.recovery,
            quote_round=row.quote_round,
            quote=_stored_quote(row),
            benefit_total=row.benefit_total,
            paid_reference=row.paid_reference,
            updated_at=row.updated_at,
            survivors=[_survivor_public(sv, unmask) for sv in survivors],
        )


@router.get(
    "/cases/{case_id}/aftercare",
    response_model=AftercarePublic,
    summary="A retiree_aftercare case's benefits and survivors / 善后及遗属",
)
async def get_case_aftercare(
    case_id: str, engine: EngineDep, settings: SettingsDep, user: CurrentUser
) -> AftercarePublic:
    """The aftercare of a `retiree_aftercare` case in your subtree: the death, the
    overpayment and how it was settled, the benefits as planned (every component
    of the quote, the figures' versions) and paid, and the survivors with their
    living allowance. Survivors' ID numbers are masked unless your role needs them;
    each unmasked read is audited (`unmask_id_number`). 404: a case outside your
    subtree, or one without an aftercare record yet."""
    case = await run_in_threadpool(
        lambda: visible_case(engine, case_id, user.org_path, username=user.username)
    )
    found = (
        await run_in_threadpool(
            _aftercare, engine, case_id, user, user.can_unmask(settings)
        )
        if case
        else None
    )
    if found is None:
        raise HTTPException(404, detail="善后记录不存在 (no aftercare for this case)")
    return found
