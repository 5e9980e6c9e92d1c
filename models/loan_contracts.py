"""Typed contracts of the startup loan (``startup_loan``): between its workflows, its
activities and the API (the bank callback, the pages).

Sandbox-safe like ``models.contracts``: stdlib and pydantic only; new fields get
defaults so recorded histories keep replaying.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from models.contracts import RegisterCaseResult, StartCaseInput
from models.loan_subsidy import QuoteInput, Repayment
from models.processes.startup_loan import BankDecision

BankEventKind = Literal["approved", "rejected", "early_repayment", "repaid"]


class LoanPolicyInput(BaseModel):
    """Which policy version applies: the case's org path, on its application date."""

    case_id: str
    org_path: str
    on: date


class BankPushInput(BaseModel):
    """Push an application to a bank (名单推送): only after the veteran's separate
    consent (个人信息保护法 第二十三条), which the workflow checked."""

    case_id: str
    application_ref: str  # the bank quotes it back in its callbacks
    bank: str
    veteran_id: int
    application: dict[str, Any]
    consent_signed_on: date | None = None
    at: datetime


class BankPushResult(BaseModel):
    bank: str
    bank_name: str = ""
    # False: the bank has no integration; a clerk records its decision (desk task).
    integrated: bool = False


class BankEvent(BaseModel):
    """What a bank tells about an application or a loan: the signed callback's body
    (``POST /api/bank/callbacks``), handed to the case as the ``bank_event`` Update."""

    bank: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")
    reference: str = Field(min_length=1, max_length=80)  # the bank's own event ref
    kind: BankEventKind
    application_ref: str = Field(min_length=1, max_length=200)
    decision: BankDecision | None = None  # approved | rejected
    repaid_on: date | None = None  # early_repayment | repaid
    repayments: list[Repayment] = Field(default_factory=list, max_length=600)


class LoanTerms(BaseModel):
    """The loan as the bank granted it."""

    application_ref: str
    bank: str
    bank_reference: str
    loan_type: str
    amount: Decimal
    annual_rate: Decimal
    lpr: Decimal
    term_months: int
    contract_date: date
    policy_version: str
    subsidy_rule: str
    subsidy_years: int


class LoanRecordInput(BaseModel):
    """The case's loan row (a projection, written idempotently by its stage)."""

    case_id: str
    veteran_id: int
    stage: str  # applied | pushed | approved | servicing | ended | subsidy | reward
    status: str = ""
    policy_version: str = ""
    loan_type: str = ""
    bank: str = ""
    application_ref: str = ""
    terms: LoanTerms | None = None
    followups_at: list[datetime] = Field(default_factory=list)
    maturity_at: datetime | None = None
    ended_kind: str = ""  # matured | early_repayment | repaid
    ended_on: date | None = None
    subsidy_total: Decimal | None = None
    reward_total: Decimal | None = None
    paid_reference: str = ""
    at: datetime


class SubsidyPlanInput(BaseModel):
    """Compute the subsidy plan (the same computation as the quote endpoint) and keep
    its lines for the case (replacing an earlier round's)."""

    case_id: str
    round: int
    quote: QuoteInput
    policy_version: str
    subsidy_rule: str
    subsidy_years: int
    at: datetime


class ServicingInput(BaseModel):
    """The repayment phase of one loan, carried across continue-as-new."""

    case: StartCaseInput
    registered: RegisterCaseResult
    terms: LoanTerms
    origin: datetime  # the phase's start (the demo profile's "months" count from it)
    followups_opened: int = 0
    rounds: dict[str, int] = Field(default_factory=dict)
    first_handler: dict[str, str] = Field(default_factory=dict)
    findings: list[str] = Field(default_factory=list)  # 贷后回访 findings so far
    missed: int = 0  # follow-ups withdrawn unfinished
    ended: BankEvent | None = None
    runs: int = 1


class ServicingResult(BaseModel):
    ended_kind: str  # matured | early_repayment | repaid
    event: BankEvent | None = None
    followups: int = 0
    missed: int = 0
    findings: list[str] = Field(default_factory=list)
