"""The banks' signed callbacks (issue 9, step 5): a decision on an application pushed
to them, or the end of a loan, handed to the case as its ``bank_event`` Update.

Authenticated by the bank's HMAC (models/bank_signing.py), never by a staff session:
``X-Vetflow-Bank`` names an active bank, ``X-Vetflow-Signature`` is the HMAC-SHA256 of
``<X-Vetflow-Timestamp>.<raw body>`` under that bank's key, and the timestamp lies
within ``bank_callback_max_skew_seconds`` of now; anything else answers 401 before
the body is looked at. Idempotent by the bank's own ``reference``: one
``bank_callback`` row each; the same body again gets the stored answer again (marked
``duplicate``), another body under the same reference 409. The Update's id is
``bank:<bank>:<reference>`` too, so a retry after a timeout is not applied twice.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.audit import record_audit
from api.deps import EngineDep, SettingsDep, TemporalDep
from api.errors import conflict, field_error, not_found
from api.update_errors import call_temporal, http_error_for, rpc_timeout
from models.bank_signing import (
    HEADER_BANK,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    bank_key,
    verify_bank,
)
from models.loan_contracts import BankEvent
from models.tables import Bank, BankApplication, BankCallback
from workflows.startup_loan import StartupLoanWorkflow

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/bank", tags=["banks"])

# A claimed reference whose Update has not answered yet (``BankCallback.status_code``).
PENDING = 0
_CODE = re.compile(r"[a-z0-9_]{1,40}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail=reason,
        headers={"WWW-Authenticate": 'HMAC-SHA256 realm="vetflow-bank"'},
    )


def _active_bank(engine: Any, code: str) -> Bank | None:
    with Session(engine) as s:
        bank = s.get(Bank, code)
        return bank if bank is not None and bank.active else None


async def signed_bank(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    bank: Annotated[str | None, Header(alias=HEADER_BANK)] = None,
    timestamp: Annotated[str | None, Header(alias=HEADER_TIMESTAMP)] = None,
    signature: Annotated[str | None, Header(alias=HEADER_SIGNATURE)] = None,
) -> Bank:
    """The bank whose key signed this request's raw body; 401 otherwise. Runs before
    the body is validated, so an unsigned request learns nothing about the schema."""
    if not bank or not timestamp or not signature:
        raise _unauthorized(
            f"缺少银行签名 (missing {HEADER_BANK}, {HEADER_TIMESTAMP} or "
            f"{HEADER_SIGNATURE})"
        )
    well_formed = _CODE.fullmatch(bank) and _SIGNATURE.fullmatch(signature)
    found = await run_in_threadpool(_active_bank, engine, bank) if well_formed else None
    body = await request.body()  # the raw bytes the bank signed
    if found is None or not verify_bank(
        bank_key(settings, bank), timestamp, body, signature
    ):
        # One answer for an unknown bank and a wrong signature: codes do not leak.
        log.warning("bank_callback_refused", bank=bank[:40], reason="signature")
        raise _unauthorized("银行签名无效 (unknown bank or bad signature)")
    sent = int(timestamp) if _TIMESTAMP.fullmatch(timestamp) else None
    skew = settings.bank_callback_max_skew_seconds
    if sent is None or abs(time.time() - sent) > skew:
        log.warning("bank_callback_refused", bank=bank, reason="stale")
        raise _unauthorized(
            f"时间戳过期或无效，须在当前时间前后 {skew} 秒内 (stale timestamp: "
            f"{HEADER_TIMESTAMP} must be Unix seconds within {skew} s of now)"
        )
    return found


SignedBank = Annotated[Bank, Depends(signed_bank)]


class BankCallbackAnswer(BaseModel):
    """What the bank gets back; the same again for a replay of the same body."""

    accepted: bool = True
    result: str = Field(description="The case's answer, e.g. `accepted`")
    bank: str
    reference: str
    application_ref: str
    kind: str
    duplicate: bool = Field(
        default=False,
        description="true: this reference was answered before; nothing was done again",
    )


@router.post(
    "/callbacks",
    response_model=BankCallbackAnswer,
    summary="A bank's signed callback / 银行审批结果及还款回调",
)
async def receive_bank_callback(
    event: BankEvent,
    bank: SignedBank,
    request: Request,
    engine: EngineDep,
    temporal: TemporalDep,
) -> BankCallbackAnswer:
    """A bank tells of its decision on an application (`approved` with the loan terms,
    `rejected` with a reason) or of the end of a loan (`early_repayment`, `repaid`).

    Headers: `X-Vetflow-Bank` (the bank's code), `X-Vetflow-Timestamp` (Unix
    seconds), `X-Vetflow-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw
    body>" under the bank's key>`. 401: missing headers, unknown or inactive bank,
    bad signature, or a timestamp outside the allowed skew (stale). 422: a body that
    is not a bank event, a `bank` in the body other than the signing bank's, or a
    decision the case refuses as incomplete. 404: no application `application_ref`
    pushed to this bank. 409: another body under a `reference` already used, or an
    event the case does not wait for (`StaleBankEvent`: no decision pending, the loan
    not running, its end already told). 503: the workflow engine did not answer; send
    the same body again. Each callback is audited (actor `bank:<code>`)."""
    structlog.contextvars.bind_contextvars(bank=bank.code, reference=event.reference)
    if event.bank != bank.code:
        raise field_error(
            "bank", "与签名银行不一致 (not the bank that signed the request)"
        )
    digest = hashlib.sha256(await request.body()).hexdigest()
    earlier = await run_in_threadpool(_earlier_answer, engine, event, digest)
    if earlier is not None:
        return earlier
    application = await run_in_threadpool(_application, engine, event)
    if application is None:
        raise not_found("申请", "application")
    await run_in_threadpool(_claim, engine, event, digest, application.case_id)
    handle = temporal.get_workflow_handle(application.workflow_id)
    try:
        result = await call_temporal(
            handle.execute_update(
                StartupLoanWorkflow.bank_event,
                event,
                id=f"bank:{event.bank}:{event.reference}",
                rpc_timeout=rpc_timeout(),
            )
        )
    except (WorkflowUpdateFailedError, RPCError) as exc:
        error = _refusal(exc)
        await run_in_threadpool(_release, engine, event, application, error)
        raise error from exc
    answer = BankCallbackAnswer(
        result=str(result),
        bank=event.bank,
        reference=event.reference,
        application_ref=event.application_ref,
        kind=event.kind,
    )
    await run_in_threadpool(_store, engine, event, application, digest, answer)
    log.info("bank_callback_accepted", kind=event.kind, case_id=application.case_id)
    return answer


def _refusal(exc: WorkflowUpdateFailedError | RPCError) -> HTTPException:
    if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
        return HTTPException(
            409,
            detail={
                "type": "CaseClosed",
                "message": "案件流程已结束 (the case has ended)",
            },
        )
    return http_error_for(exc)


def _row(s: Session, event: BankEvent) -> BankCallback | None:
    return s.exec(
        select(BankCallback).where(
            BankCallback.bank == event.bank, BankCallback.reference == event.reference
        )
    ).first()


def _earlier_answer(
    engine: Any, event: BankEvent, digest: str
) -> BankCallbackAnswer | None:
    """The stored answer of a replay; 409 for another body under the reference. A
    reference still pending (its Update did not answer in time) is sent again: the
    Update id makes the case apply it once."""
    with Session(engine) as s:
        row = _row(s, event)
    if row is None:
        return None
    if row.body_sha256 != digest:
        raise conflict(
            "该银行业务编号已用于另一内容的回调 (this reference was used for another "
            "body; use a new reference)"
        )
    if row.status_code == PENDING:
        return None
    log.info("bank_callback_replayed", case_id=row.case_id)
    return BankCallbackAnswer.model_validate({**row.answer, "duplicate": True})


def _application(engine: Any, event: BankEvent) -> BankApplication | None:
    with Session(engine) as s:
        app = s.get(BankApplication, event.application_ref)
    return app if app is not None and app.bank == event.bank else None


def _claim(engine: Any, event: BankEvent, digest: str, case_id: str) -> None:
    """Hold the reference for this body before the case hears of it; a concurrent
    request with the same body goes on (the Update id dedups), another body 409."""
    with Session(engine) as s:
        if _row(s, event) is not None:
            return  # pending with this body (checked by _earlier_answer)
        s.add(
            BankCallback(
                bank=event.bank,
                reference=event.reference,
                body_sha256=digest,
                application_ref=event.application_ref,
                kind=event.kind,
                case_id=case_id,
                status_code=PENDING,
            )
        )
        try:
            s.commit()
        except IntegrityError:
            s.rollback()
            row = _row(s, event)
            if row is None or row.body_sha256 != digest:
                raise conflict(
                    "该银行业务编号已用于另一内容的回调 (this reference was used for "
                    "another body)"
                ) from None


def _audit(
    s: Session,
    event: BankEvent,
    application: BankApplication,
    action: str,
    after: dict[str, Any],
) -> None:
    record_audit(
        s,
        actor=f"bank:{event.bank}",
        action=action,
        entity_type="bank_application",
        entity_id=event.application_ref,
        case_id=application.case_id,
        after={"kind": event.kind, "reference": event.reference, **after},
    )


def _store(
    engine: Any,
    event: BankEvent,
    application: BankApplication,
    digest: str,
    answer: BankCallbackAnswer,
) -> None:
    with Session(engine) as s:
        row = _row(s, event)
        if row is None:  # pragma: no cover - claimed above
            row = BankCallback(
                bank=event.bank,
                reference=event.reference,
                body_sha256=digest,
                application_ref=event.application_ref,
                kind=event.kind,
            )
        row.case_id = application.case_id
        row.status_code = 200
        row.answer = answer.model_dump(mode="json")
        s.add(row)
        _audit(s, event, application, "bank_callback", {"result": answer.result})
        s.commit()


def _release(
    engine: Any, event: BankEvent, application: BankApplication, error: HTTPException
) -> None:
    """The case refused the event (or did not answer): a refusal frees the reference
    (nothing happened; the bank may correct and send again) and is audited; a
    timeout keeps it claimed for a retry of the same body."""
    with Session(engine) as s:
        if error.status_code == 503:
            return
        row = _row(s, event)
        if row is not None and row.status_code == PENDING:
            s.delete(row)
        _audit(
            s,
            event,
            application,
            "bank_callback_refused",
            {"status": error.status_code, "detail": error.detail},
        )
        s.commit()
    log.info("bank_callback_rejected", status=error.status_code)
