"""Typed contracts of the retired cadre's aftercare (``retiree_aftercare``) and lost
contact (``retiree_lost_contact``): between their workflows, activities and the API.

Sandbox-safe: stdlib and pydantic only; new fields get defaults.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from models.aftercare_benefit import BenefitQuote, BenefitQuoteInput
from models.contracts import RegisterCaseResult, StartCaseInput
from models.processes.retiree_aftercare import Survivor


class BenefitPlanInput(BaseModel):
    """Compute the benefits of one claim round from the reference tables and keep the
    plan (a figure missing: no plan, the missing figures named)."""

    case_id: str
    round: int
    quote: BenefitQuoteInput
    overpayment_offset: Decimal = Decimal("0.00")
    eligible_survivors: int = 0
    at: datetime


class BenefitPlanResult(BaseModel):
    quote: BenefitQuote | None = None
    missing: list[str] = Field(default_factory=list)  # each missing figure, in words


class AftercareRecordInput(BaseModel):
    """The case's aftercare row (a projection, written whole at each stage)."""

    case_id: str
    veteran_id: int
    stage: str
    died_on: date
    cause: str
    overpayment: Decimal | None = None
    recovery: str = ""  # recovered | offset | waived
    survivors: list[Survivor] = Field(default_factory=list)
    benefit_total: Decimal | None = None
    paid_reference: str = ""
    at: datetime


class SurvivorAllowanceInput(BaseModel):
    """One survivor's living allowance, carried across continue-as-new."""

    case: StartCaseInput
    registered: RegisterCaseResult
    n: int  # the survivor's number in the case
    survivor: Survivor
    monthly: Decimal
    starts_on: date
    origin: datetime
    years_confirmed: int = 0
    rounds: dict[str, int] = Field(default_factory=dict)
    first_handler: dict[str, str] = Field(default_factory=dict)
    runs: int = 1


class SurvivorAllowanceRecord(BaseModel):
    """The survivor's allowance row: active, or stopped with why."""

    case_id: str
    n: int
    name: str
    id_number: str
    relation: str
    monthly: Decimal
    starts_on: date
    status: str  # active | stopped
    next_confirmation_at: datetime | None = None
    stopped_reason: str = ""
    years_confirmed: int = 0
    at: datetime


class SurvivorAllowanceResult(BaseModel):
    status: str
    years_confirmed: int
    stopped_reason: str = ""
