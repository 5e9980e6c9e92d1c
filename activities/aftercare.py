"""Activities of a retired cadre's aftercare (``retiree_aftercare``): the benefits
planned from the reference figures (``models.aftercare_figures``, the quote
endpoint's lookup too), the case's aftercare row with its survivors, and each
survivor's living allowance.

Survivors' ID numbers are stored in full (the allowance is paid to the person) and
never logged or written to the audit trail.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select
from temporalio import activity

from models.aftercare_benefit import BenefitQuote, fen
from models.aftercare_contracts import (
    AftercareRecordInput,
    BenefitPlanInput,
    BenefitPlanResult,
    SurvivorAllowanceRecord,
)
from models.aftercare_figures import MissingFigures, quote_benefits
from models.audit import add_audit_event
from models.db import session_scope
from models.settings import Settings, load_settings
from models.tables import Aftercare, AftercareSurvivor, Case, aware

log = structlog.get_logger(__name__)

# Stages whose record is a fact about money: audited once each.
AUDITED_STAGES = {
    "overpayment_settled": "aftercare_overpayment_settled",
    "benefits_paid": "aftercare_benefits_paid",
}


def yuan(amount: Decimal) -> str:
    """An amount in 元 as plain digits with two places (half-up)."""
    return format(fen(amount), "f")


def quote_json(quote: BenefitQuote) -> dict[str, Any]:
    """The quote as the row keeps it: Decimals as strings, dates in ISO."""
    return quote.model_dump(mode="json")


class AftercareActivities:
    """Bound to the database; ``settings`` None reads them when first needed."""

    def __init__(self, engine: Engine, settings: Settings | None = None) -> None:
        self.engine = engine
        self._settings = settings

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @activity.defn(name="plan_aftercare_benefits")
    def plan_aftercare_benefits(self, inp: BenefitPlanInput) -> BenefitPlanResult:
        """The claim round's benefits from the reference figures, kept on the case's
        aftercare row; a figure missing is no plan but the figures named (the claim
        goes back until an admin adds them). Audited once per round."""
        with session_scope(self.engine) as session:
            try:
                quote = quote_benefits(
                    session,
                    inp.quote,
                    inp.overpayment_offset,
                    inp.eligible_survivors,
                )
            except MissingFigures as exc:
                result = BenefitPlanResult(missing=exc.messages)
                after: dict[str, Any] = {"round": inp.round, "missing": exc.messages}
            else:
                result = BenefitPlanResult(quote=quote)
                _store_quote(session, inp, quote)
                after = {
                    "round": inp.round,
                    "total": yuan(quote.total),
                    "lump_sum": yuan(quote.lump_sum.amount),
                    "funeral_grant": yuan(quote.funeral_grant),
                    "overpayment_offset": yuan(quote.overpayment_offset),
                    "figures": [f.version for f in quote.figures],
                }
            add_audit_event(
                session,
                actor="system",
                action="aftercare_benefits_planned",
                entity_type="aftercare",
                entity_id=inp.case_id,
                case_id=inp.case_id,
                after=after,
                dedupe_key=f"aftercare_benefits_planned:{inp.case_id}:{inp.round}",
            )
        log.info(
            "aftercare_benefits_planned",
            case_id=inp.case_id,
            round=inp.round,
            missing=len(result.missing),
            total=str(result.quote.total) if result.quote else None,
        )
        return result

    @activity.defn(name="record_aftercare")
    def record_aftercare(self, inp: AftercareRecordInput) -> None:
        """Write the case's aftercare row and its survivors. The workflow sends its
        whole state at each stage and its parallel branches may record out of order:
        a value once known is not blanked by a record that lacks it, and the stage
        follows the latest record. A retry writes the same again."""
        with session_scope(self.engine) as session:
            row = session.get(Aftercare, inp.case_id)
            if row is None:
                row = Aftercare(
                    case_id=inp.case_id,
                    veteran_id=inp.veteran_id,
                    died_on=inp.died_on,
                    cause=inp.cause,
                    updated_at=inp.at,
                )
            row.veteran_id = inp.veteran_id
            row.died_on = inp.died_on
            row.cause = inp.cause
            if aware(inp.at) >= aware(row.updated_at) or not row.stage:
                row.stage = inp.stage
                row.updated_at = inp.at
            if inp.overpayment is not None:
                row.overpayment = yuan(inp.overpayment)
            if inp.recovery:
                row.recovery = inp.recovery
            if inp.benefit_total is not None:
                row.benefit_total = yuan(inp.benefit_total)
            if inp.paid_reference:
                row.paid_reference = inp.paid_reference
            session.add(row)
            if inp.survivors:
                _write_survivors(session, inp)
            action = AUDITED_STAGES.get(inp.stage)
            if action is not None:
                add_audit_event(
                    session,
                    actor="system",
                    action=action,
                    entity_type="aftercare",
                    entity_id=inp.case_id,
                    case_id=inp.case_id,
                    after=_audit_after(inp),
                    dedupe_key=f"{action}:{inp.case_id}",
                )
        log.info("aftercare_recorded", case_id=inp.case_id, stage=inp.stage)

    @activity.defn(name="record_survivor_allowance")
    def record_survivor_allowance(self, inp: SurvivorAllowanceRecord) -> None:
        """Write one survivor's living allowance (by case and number): active with
        the next confirmation, or stopped with why (audited once). A stopped
        allowance stays stopped: an earlier record retried late does not reopen it."""
        with session_scope(self.engine) as session:
            row = _survivor_row(session, inp.case_id, inp.n)
            if row is None:
                row = AftercareSurvivor(
                    case_id=inp.case_id,
                    n=inp.n,
                    name=inp.name,
                    id_number=inp.id_number,
                    relation=inp.relation,
                    born_on=_born_on(inp.id_number),
                    allowance_eligible=True,
                )
            if row.allowance_status == "stopped" and inp.status != "stopped":
                log.info("survivor_allowance_stale", case_id=inp.case_id, n=inp.n)
                return
            row.allowance_eligible = True
            row.monthly = yuan(inp.monthly)
            row.allowance_starts_on = inp.starts_on
            row.allowance_status = inp.status
            row.next_confirmation_at = inp.next_confirmation_at
            row.stopped_reason = inp.stopped_reason
            row.years_confirmed = inp.years_confirmed
            row.updated_at = inp.at
            session.add(row)
            if inp.status == "stopped":
                add_audit_event(
                    session,
                    actor="system",
                    action="survivor_allowance_stopped",
                    entity_type="aftercare_survivor",
                    entity_id=f"{inp.case_id}:{inp.n}",
                    case_id=inp.case_id,
                    after={
                        "n": inp.n,
                        "name": inp.name,
                        "relation": inp.relation,
                        "monthly": yuan(inp.monthly),
                        "years_confirmed": inp.years_confirmed,
                        "reason": inp.stopped_reason,
                    },
                    dedupe_key=f"survivor_allowance_stopped:{inp.case_id}:{inp.n}",
                )
        log.info(
            "survivor_allowance_recorded",
            case_id=inp.case_id,
            n=inp.n,
            status=inp.status,
            years_confirmed=inp.years_confirmed,
        )


def _store_quote(session: Session, inp: BenefitPlanInput, quote: BenefitQuote) -> None:
    """The round's quote on the case's row (created here if no stage has been
    recorded yet; the veteran from the case)."""
    row = session.get(Aftercare, inp.case_id)
    if row is None:
        case = session.get(Case, inp.case_id)
        row = Aftercare(
            case_id=inp.case_id,
            veteran_id=(case.veteran_id or 0) if case is not None else 0,
            stage="benefits_planned",
            died_on=inp.quote.death_date,
            cause=inp.quote.cause,
            updated_at=inp.at,
        )
    if row.quote_round is not None and row.quote_round > inp.round:
        return  # a later round's plan is there already
    row.quote_round = inp.round
    row.quote = quote_json(quote)
    session.add(row)


def _survivor_row(session: Session, case_id: str, n: int) -> AftercareSurvivor | None:
    return session.exec(
        select(AftercareSurvivor).where(
            AftercareSurvivor.case_id == case_id, AftercareSurvivor.n == n
        )
    ).first()


def _write_survivors(session: Session, inp: AftercareRecordInput) -> None:
    """The survivors as determined, numbered from 1 as the workflow numbers their
    allowance workflows; their allowance fields are left to the allowance records."""
    for n, survivor in enumerate(inp.survivors, start=1):
        row = _survivor_row(session, inp.case_id, n)
        if row is None:
            row = AftercareSurvivor(
                case_id=inp.case_id,
                n=n,
                name=survivor.name,
                id_number=survivor.id_number,
                relation=survivor.relation,
                born_on=survivor.born_on,
            )
        row.name = survivor.name
        row.id_number = survivor.id_number
        row.relation = survivor.relation
        row.born_on = survivor.born_on
        row.allowance_eligible = survivor.allowance_eligible
        session.add(row)
    session.exec(
        delete(AftercareSurvivor)
        .where(col(AftercareSurvivor.case_id) == inp.case_id)
        .where(col(AftercareSurvivor.n) > len(inp.survivors))
    )


def _born_on(id_number: str) -> date:
    """The birth date an ID number carries (validated numbers only reach here)."""
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def _audit_after(inp: AftercareRecordInput) -> dict[str, Any]:
    after: dict[str, Any] = {"stage": inp.stage}
    if inp.overpayment is not None:
        after["overpayment"] = yuan(inp.overpayment)
    if inp.recovery:
        after["recovery"] = inp.recovery
    if inp.benefit_total is not None:
        after["benefit_total"] = yuan(inp.benefit_total)
    if inp.paid_reference:
        after["paid_reference"] = inp.paid_reference
    return after
