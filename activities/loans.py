"""Activities of the startup loan (``startup_loan``): the policy version a case keeps,
the push of an application to its bank (名单推送), the loan's projection row and the
subsidy plan's lines.

The push carries the veteran's name and full ID number: only with the veteran's
separate consent (个人信息保护法 第二十三条), which the application form records and
the eligibility check requires; the ID number is never logged.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import structlog
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.audit import add_audit_event
from models.bank_signing import (
    HEADER_BANK,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    bank_key,
    sign_bank,
)
from models.db import session_scope
from models.loan_contracts import (
    BankPushInput,
    BankPushResult,
    LoanPolicyInput,
    LoanRecordInput,
    SubsidyPlanInput,
)
from models.loan_policy import LoanPolicy
from models.loan_policy_store import effective_policy
from models.loan_subsidy import FEN, RULE_TEXT, SubsidyQuote, compute_subsidy
from models.settings import Settings, load_settings
from models.tables import (
    Bank,
    BankApplication,
    Case,
    Loan,
    LoanSubsidyLine,
    Veteran,
)

log = structlog.get_logger(__name__)

BANK_TIMEOUT_SECONDS = 10.0
# A 4xx the bank may answer differently later (timeout, rate limit): retried.
RETRYABLE_4XX = (408, 425, 429)
# The fields of LoanRecordInput that say which row and when, not what to write.
RECORD_KEYS = {"case_id", "veteran_id", "stage", "at"}
# Stages whose record is a fact about money or the loan itself: audited once each.
AUDITED_STAGES = {
    "servicing": "loan_granted",
    "ended": "loan_ended",
    "subsidy": "loan_subsidy_paid",
    "reward": "employment_reward_paid",
}


def yuan(amount: Decimal) -> str:
    """An amount in 元 as a decimal string with two places (half-up)."""
    return str(amount.quantize(FEN, rounding=ROUND_HALF_UP))


class LoanActivities:
    """Bound to the database and the settings (the banks' HMAC keys); ``settings``
    None reads them from the environment when first needed."""

    def __init__(self, engine: Engine, settings: Settings | None = None) -> None:
        self.engine = engine
        self._settings = settings

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @activity.defn(name="load_loan_policy")
    def load_loan_policy(self, inp: LoanPolicyInput) -> LoanPolicy:
        """The policy version effective on ``inp.on`` for the case's org path: the most
        specific locality first, then the latest version; Qingdao's 2024 policy when
        the table holds none (``models.loan_policy_store``, the quote's lookup too)."""
        try:
            with session_scope(self.engine) as session:
                policy = effective_policy(session, inp.org_path, inp.on)
        except ValidationError as exc:
            # A damaged row is not fixed by retrying: an incident, for an admin.
            raise ApplicationError(
                f"a loan policy version does not validate: {exc.error_count()} errors",
                type="InvalidLoanPolicy",
                non_retryable=True,
            ) from None
        log.info("loan_policy_loaded", case_id=inp.case_id, version=policy.version)
        return policy

    @activity.defn(name="push_to_bank")
    def push_to_bank(self, inp: BankPushInput) -> BankPushResult:
        """Record the application pushed to ``inp.bank`` and deliver it: a signed
        webhook to an integrated bank with an address, the log for one without; a bank
        unknown, inactive or without integration is left to a clerk (desk task). A 4xx
        is the bank refusing this push (an incident); 5xx and network faults retry."""
        if not inp.application.get("bank_data_consent"):
            raise ApplicationError(
                "no separate consent to share data with the bank",
                type="NoBankDataConsent",
                non_retryable=True,
            )
        with session_scope(self.engine) as session:
            bank = session.get(Bank, inp.bank)
            integrated = bank is not None and bank.active and bank.integrated
            if bank is None:
                name = f"未登记银行 {inp.bank}"
            else:
                name = bank.name if bank.active else f"{bank.name}(已停用)"
            url = bank.webhook_url if bank is not None and integrated else ""
            _record_application(session, inp)
            veteran = session.get(Veteran, inp.veteran_id) if url else None
            if url and veteran is None:
                raise ApplicationError(
                    f"veteran {inp.veteran_id} not found",
                    type="UnknownVeteran",
                    non_retryable=True,
                )
            person = (
                {"name": veteran.name, "id_number": veteran.id_number}
                if veteran is not None
                else {}
            )
        result = BankPushResult(bank=inp.bank, bank_name=name, integrated=integrated)
        if not integrated:
            # Nothing leaves vetflow: a clerk hands the application over (desk task).
            log.info(
                "bank_push_desk",
                case_id=inp.case_id,
                application_ref=inp.application_ref,
                bank=inp.bank,
            )
            self._audit_push(inp, "desk", [])
            return result
        if url:
            self._post(url, inp, person)
        else:
            log.info(
                "bank_push_logged",
                case_id=inp.case_id,
                application_ref=inp.application_ref,
                bank=inp.bank,
            )
        with session_scope(self.engine) as session:
            row = session.get(BankApplication, inp.application_ref)
            if row is not None and not row.delivered:
                row.delivered = True
                session.add(row)
        self._audit_push(inp, "webhook" if url else "logged", sorted(person))
        return result

    def _audit_push(self, inp: BankPushInput, mode: str, disclosed: list[str]) -> None:
        """One audit row per push: to which bank, how, and which of the veteran's
        personal fields left vetflow (under the recorded consent)."""
        with session_scope(self.engine) as session:
            add_audit_event(
                session,
                actor="system",
                action="bank_push",
                entity_type="bank_application",
                entity_id=inp.application_ref,
                case_id=inp.case_id,
                after={
                    "bank": inp.bank,
                    "mode": mode,
                    "disclosed": disclosed,
                    "consent_signed_on": (
                        inp.consent_signed_on.isoformat()
                        if inp.consent_signed_on
                        else None
                    ),
                },
                dedupe_key=f"bank_push:{inp.application_ref}",
            )

    def _post(self, url: str, inp: BankPushInput, person: dict[str, str]) -> None:
        body = json.dumps(
            {
                "application_ref": inp.application_ref,
                "case_id": inp.case_id,
                "bank": inp.bank,
                "application": inp.application,
                "veteran": person,
                "consent_signed_on": (
                    inp.consent_signed_on.isoformat() if inp.consent_signed_on else None
                ),
                "pushed_at": inp.at.isoformat(),
            },
            ensure_ascii=False,
            default=str,
        ).encode("utf-8")
        # Signed now, not at inp.at: a retry must not look stale to the bank.
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            HEADER_BANK: inp.bank,
            HEADER_TIMESTAMP: ts,
            HEADER_SIGNATURE: sign_bank(bank_key(self.settings, inp.bank), ts, body),
            "X-Vetflow-Key": inp.application_ref,
        }
        try:
            with httpx.Client(timeout=BANK_TIMEOUT_SECONDS) as client:
                response = client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ApplicationError(
                f"bank {inp.bank} unreachable: {type(exc).__name__}",
                type="BankUnreachable",
            ) from None
        status = response.status_code
        log.info(
            "bank_push_sent",
            case_id=inp.case_id,
            application_ref=inp.application_ref,
            bank=inp.bank,
            status=status,
        )
        if 200 <= status < 300:
            return
        if 400 <= status < 500 and status not in RETRYABLE_4XX:
            raise ApplicationError(
                f"bank {inp.bank} refused the push: {status} {response.text[:200]}",
                type="BankRejectedPush",
                non_retryable=True,
            )
        raise ApplicationError(
            f"bank {inp.bank} answered {status}", type="BankUnavailable"
        )

    @activity.defn(name="record_loan")
    def record_loan(self, inp: LoanRecordInput) -> None:
        """Write the case's loan row: created once, then each stage overwrites only
        the fields it gives (a retry writes the same again)."""
        given = inp.model_fields_set - RECORD_KEYS
        with session_scope(self.engine) as session:
            row = session.get(Loan, inp.case_id)
            if row is None:
                row = Loan(case_id=inp.case_id, veteran_id=inp.veteran_id)
            for name in sorted(given):
                setattr(row, name, _column_value(name, getattr(inp, name)))
            row.updated_at = inp.at
            session.add(row)
            action = AUDITED_STAGES.get(inp.stage)
            if action is not None:
                add_audit_event(
                    session,
                    actor="system",
                    action=action,
                    entity_type="loan",
                    entity_id=inp.case_id,
                    case_id=inp.case_id,
                    after=_audit_after(inp),
                    dedupe_key=f"{action}:{inp.case_id}",
                )
        log.info("loan_recorded", case_id=inp.case_id, stage=inp.stage)

    @activity.defn(name="plan_subsidy")
    def plan_subsidy(self, inp: SubsidyPlanInput) -> SubsidyQuote:
        """The subsidy computed to the fen (the quote endpoint's computation), its
        lines kept as the case's plan of this review round (replacing any earlier
        write of the round)."""
        rule = inp.subsidy_rule
        if rule not in RULE_TEXT:
            raise ApplicationError(
                f"unknown subsidy rule {rule!r}",
                type="InvalidLoanPolicy",
                non_retryable=True,
            )
        quote = compute_subsidy(
            inp.quote,
            "full" if rule == "full" else "half_lpr",
            inp.subsidy_years,
            inp.policy_version,
        )
        with session_scope(self.engine) as session:
            _replace_lines(session, inp, quote)
            add_audit_event(
                session,
                actor="system",
                action="loan_subsidy_planned",
                entity_type="loan",
                entity_id=inp.case_id,
                case_id=inp.case_id,
                after={
                    "round": inp.round,
                    "total": yuan(quote.total),
                    "rule": quote.rule,
                    "policy_version": quote.policy_version,
                    "lines": len(quote.lines),
                },
                dedupe_key=f"loan_subsidy_planned:{inp.case_id}:{inp.round}",
            )
        log.info(
            "loan_subsidy_planned",
            case_id=inp.case_id,
            round=inp.round,
            total=yuan(quote.total),
        )
        return quote


def _record_application(session: Session, inp: BankPushInput) -> None:
    """The pushed application's row, once (a retry finds it)."""
    if session.get(BankApplication, inp.application_ref) is not None:
        return
    case = session.get(Case, inp.case_id)
    session.add(
        BankApplication(
            ref=inp.application_ref,
            case_id=inp.case_id,
            workflow_id=case.workflow_id if case is not None else inp.case_id,
            bank=inp.bank,
            pushed_at=inp.at,
            delivered=False,
        )
    )
    # Written before the push: the bank's callback may come before this returns.
    session.flush()


def _column_value(name: str, value: Any) -> Any:
    """A LoanRecordInput field as the Loan column stores it."""
    if name == "terms":
        return value.model_dump(mode="json") if value is not None else {}
    if name == "followups_at":
        return [_iso(v) for v in value]
    if name in ("subsidy_total", "reward_total"):
        return yuan(value) if value is not None else None
    return value


def _iso(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def _audit_after(inp: LoanRecordInput) -> dict[str, Any]:
    after: dict[str, Any] = {"stage": inp.stage}
    if inp.terms is not None:
        after |= {
            "bank": inp.terms.bank,
            "bank_reference": inp.terms.bank_reference,
            "amount": yuan(inp.terms.amount),
            "policy_version": inp.terms.policy_version,
        }
    if inp.ended_kind:
        after["ended_kind"] = inp.ended_kind
    if inp.subsidy_total is not None:
        after["subsidy_total"] = yuan(inp.subsidy_total)
    if inp.reward_total is not None:
        after["reward_total"] = yuan(inp.reward_total)
    if inp.paid_reference:
        after["paid_reference"] = inp.paid_reference
    return after


def _replace_lines(
    session: Session, inp: SubsidyPlanInput, quote: SubsidyQuote
) -> None:
    session.exec(
        delete(LoanSubsidyLine)
        .where(col(LoanSubsidyLine.case_id) == inp.case_id)
        .where(col(LoanSubsidyLine.round) == inp.round)
    )
    for line in quote.lines:
        session.add(
            LoanSubsidyLine(
                case_id=inp.case_id,
                round=inp.round,
                period=line.period,
                start=line.start,
                end=line.end,
                days_in_period=line.days_in_period,
                days_in_window=line.days_in_window,
                interest_paid=yuan(line.interest_paid),
                outstanding_principal=yuan(line.outstanding_principal),
                subsidy=yuan(line.subsidy),
                rule=quote.rule,
                policy_version=quote.policy_version,
                computed_at=inp.at,
            )
        )
