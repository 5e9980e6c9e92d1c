"""The startup loan's reads: the interest-subsidy quote (the same computation the
case's ``subsidy_plan`` activity runs) and a case's loan with its subsidy lines."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, ValidationError, model_validator
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api.case_queries import visible_case
from api.deps import CurrentUser, EngineDep
from api.errors import field_error
from api.params import MAX_DATE, MIN_DATE
from models.loan_contracts import LoanTerms
from models.loan_policy import LoanPolicy
from models.loan_policy_store import effective_policy, policy_version
from models.loan_subsidy import QuoteInput, SubsidyQuote, compute_subsidy, fen
from models.tables import Loan, LoanSubsidyLine

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api", tags=["startup loan"])


def _exact(value: Decimal) -> str:
    """A Decimal as plain digits (never ``1E+2``)."""
    return format(value, "f")


# --- the quote ---------------------------------------------------------------------


class QuoteRequest(QuoteInput):
    """A loan as repaid, and optionally the policy version to quote under."""

    policy_version: str | None = Field(
        default=None,
        max_length=60,
        description="Quote under this version; default: the version effective on "
        "the contract date for your unit",
    )

    @model_validator(mode="after")
    def _dates_in_range(self) -> QuoteRequest:
        days = [self.contract_date, *(r.paid_on for r in self.repayments)]
        if any(not MIN_DATE <= d <= MAX_DATE for d in days):
            raise ValueError(
                f"日期须在 {MIN_DATE} 至 {MAX_DATE} 之间 (date out of range)"
            )
        return self


class QuoteLine(BaseModel):
    period: int
    start: date
    end: date
    days_in_period: int
    days_in_window: int
    interest_paid: str = Field(description="元, two places")
    outstanding_principal: str = Field(description="元, two places")
    interest_share: str = Field(
        description="interest × days in window / days in period, unrounded"
    )
    lpr_cap: str | None = Field(
        description="half_lpr: outstanding × 50 % × LPR × days in window / 360, "
        "unrounded; null for full"
    )
    subsidy: str = Field(description="元, rounded half-up to the fen")


class QuotePublic(BaseModel):
    loan_type: str
    rule: str = Field(description="`full` or `half_lpr`")
    rule_text: str
    subsidy_years: int
    window_start: date
    window_end: date = Field(description="Exclusive: the first day not subsidised")
    policy_version: str
    lines: list[QuoteLine]
    total: str = Field(description="元, two places: the sum of the lines' subsidies")


def quote_public(quote: SubsidyQuote) -> QuotePublic:
    return QuotePublic(
        loan_type=quote.loan_type,
        rule=quote.rule,
        rule_text=quote.rule_text,
        subsidy_years=quote.subsidy_years,
        window_start=quote.window_start,
        window_end=quote.window_end,
        policy_version=quote.policy_version,
        lines=[
            QuoteLine(
                period=line.period,
                start=line.start,
                end=line.end,
                days_in_period=line.days_in_period,
                days_in_window=line.days_in_window,
                interest_paid=str(fen(line.interest_paid)),
                outstanding_principal=str(fen(line.outstanding_principal)),
                interest_share=_exact(line.interest_share),
                lpr_cap=None if line.lpr_cap is None else _exact(line.lpr_cap),
                subsidy=str(fen(line.subsidy)),
            )
            for line in quote.lines
        ],
        total=str(fen(quote.total)),
    )


def _policy_for(engine: Any, body: QuoteRequest, org_path: str) -> LoanPolicy:
    with Session(engine) as s:
        if body.policy_version is None:
            return effective_policy(s, org_path, body.contract_date)
        policy = policy_version(s, body.policy_version)
    if policy is None:
        raise field_error("policy_version", "没有该政策版本 (no such policy version)")
    return policy


@router.post(
    "/loan-subsidy/quote",
    response_model=QuotePublic,
    summary="Quote a startup loan's interest subsidy / 贴息测算",
)
async def quote_subsidy(
    body: QuoteRequest, engine: EngineDep, user: CurrentUser
) -> QuotePublic:
    """The subsidy of a loan repaid as `repayments`, one line per period, under the
    policy version effective on the contract date for your unit (most specific
    locality, latest `effective_from`), or the `policy_version` named.

    The rule (also in the answer's `rule_text`): a period runs from the contract
    date or the previous repayment to a repayment; only its days inside the subsidy
    window (the contract date to the contract date + the product's subsidy years)
    count. `full`: interest paid × days in window / days in period. `half_lpr`:
    min(that, outstanding principal × 50 % × LPR × days in window / 360). Each
    period is rounded half-up to the fen, then summed. Amounts are decimal strings
    in 元; rates are percentages. 422: repayments out of order or on/before the
    contract date, more principal repaid than lent, a date outside 1900–2999, an
    unknown `policy_version`, or a loan type the version does not have."""
    policy = await run_in_threadpool(_policy_for, engine, body, user.org_path)
    product = policy.products.get(body.loan_type)
    if product is None:
        raise field_error(
            "loan_type",
            f"政策版本 {policy.version} 未设该贷款类型 (the policy has no such loan type)",
        )
    quote = compute_subsidy(
        QuoteInput.model_validate(body.model_dump(exclude={"policy_version"})),
        product.subsidy_rule,
        product.subsidy_years,
        policy.version,
    )
    return quote_public(quote)


# --- a case's loan -----------------------------------------------------------------


class SubsidyLinePublic(BaseModel):
    period: int
    start: date
    end: date
    days_in_period: int
    days_in_window: int
    interest_paid: str
    outstanding_principal: str
    subsidy: str
    rule: str
    policy_version: str
    computed_at: datetime


class LoanPublic(BaseModel):
    """A startup-loan case's loan as its workflow recorded it (no account numbers)."""

    case_id: str
    veteran_id: int
    status: str
    policy_version: str
    loan_type: str
    bank: str
    application_ref: str
    terms: LoanTerms | None = Field(description="The loan as the bank granted it")
    followups_at: list[datetime] = Field(description="贷后回访 schedule")
    maturity_at: datetime | None
    ended_kind: str = Field(description="matured | early_repayment | repaid")
    ended_on: date | None
    subsidy_total: str | None
    reward_total: str | None
    updated_at: datetime
    subsidy_round: int | None = Field(description="The round of the lines below")
    subsidy_lines: list[SubsidyLinePublic]


def _loan(engine: Any, case_id: str) -> LoanPublic | None:
    with Session(engine) as s:
        loan = s.get(Loan, case_id)
        if loan is None:
            return None
        latest = s.exec(
            select(LoanSubsidyLine.round)
            .where(LoanSubsidyLine.case_id == case_id)
            .order_by(col(LoanSubsidyLine.round).desc())
        ).first()
        lines = (
            s.exec(
                select(LoanSubsidyLine)
                .where(
                    LoanSubsidyLine.case_id == case_id, LoanSubsidyLine.round == latest
                )
                .order_by(col(LoanSubsidyLine.period))
            ).all()
            if latest is not None
            else []
        )
    return LoanPublic(
        case_id=loan.case_id,
        veteran_id=loan.veteran_id,
        status=loan.status,
        policy_version=loan.policy_version,
        loan_type=loan.loan_type,
        bank=loan.bank,
        application_ref=loan.application_ref,
        terms=_terms(loan.terms),
        followups_at=[datetime.fromisoformat(t) for t in loan.followups_at],
        maturity_at=loan.maturity_at,
        ended_kind=loan.ended_kind,
        ended_on=loan.ended_on,
        subsidy_total=loan.subsidy_total,
        reward_total=loan.reward_total,
        updated_at=loan.updated_at,
        subsidy_round=latest,
        subsidy_lines=[
            SubsidyLinePublic.model_validate(line, from_attributes=True)
            for line in lines
        ],
    )


def _terms(stored: dict[str, Any]) -> LoanTerms | None:
    """Only the terms' own fields: whatever else the row may hold stays out."""
    if not stored:
        return None
    try:
        return LoanTerms.model_validate(stored)
    except ValidationError:
        log.warning("loan_terms_unreadable", keys=sorted(stored))
        return None


@router.get(
    "/cases/{case_id}/loan",
    response_model=LoanPublic,
    summary="A startup-loan case's loan and subsidy lines / 贷款及贴息",
)
async def get_case_loan(
    case_id: str, engine: EngineDep, user: CurrentUser
) -> LoanPublic:
    """The loan of a `startup_loan` case in your subtree: the terms the bank granted,
    the 贷后回访 schedule, the maturity, how it ended, the subsidy and reward paid,
    and the lines of the latest subsidy plan (one per repayment period). The
    subsidy account is never part of it. 404: a case outside your subtree, or one
    without a loan record yet."""
    case = await run_in_threadpool(
        lambda: visible_case(engine, case_id, user.org_path, username=user.username)
    )
    loan = await run_in_threadpool(_loan, engine, case_id) if case else None
    if loan is None:
        raise HTTPException(404, detail="贷款不存在 (no loan for this case)")
    return loan
