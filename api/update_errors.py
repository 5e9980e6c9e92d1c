"""Turn a rejected workflow Update, or a Temporal that does not answer, into the HTTP
answer a clerk can act on.

The workflow validators raise ``ApplicationError`` with a ``type``; this maps each type
to 404 / 403 / 409 / 422: a 422 in FastAPI's list shape (:func:`validation_items`),
the others as ``{"type", "message", "holder"?}``. Every call the API makes
to Temporal goes through :func:`call_temporal`: past ``VETFLOW_TEMPORAL_CALL_TIMEOUT_
SECONDS``, or when Temporal is unreachable, the answer is 503 with ``Retry-After``,
never a hanging request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from temporalio.client import RPCTimeoutOrCancelledError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

T = TypeVar("T")

STATUS_BY_TYPE = {
    "TaskNotFound": 404,
    "IncidentNotFound": 404,
    "NotAuthorized": 403,
    "TaskNotOpen": 409,
    "IncidentNotOpen": 409,
    "ClaimedByOther": 409,
    "AlreadyClaimed": 409,
    "AlreadyAssigned": 409,
    "NotClaimed": 409,
    "FourEyes": 409,
    "Recused": 409,
    "NotAwaitingRequest": 409,
    "InvalidOutcome": 422,
    "InvalidForm": 422,
    "InvalidInput": 422,
}

# Temporal is down, overloaded or slower than our patience: try again shortly.
UNAVAILABLE_STATUSES = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}
)
RETRY_AFTER_SECONDS = 5
TIMEOUT_MESSAGE = (
    "流程引擎暂时没有响应，操作可能尚未生效，请稍后重试 "
    "(the workflow engine did not answer in time; the action may not have taken "
    "effect, try again shortly)"
)
DEFAULT_CALL_TIMEOUT = 10.0
# The current request's `Settings.temporal_call_timeout_seconds`, bound for every
# route by :func:`bind_call_timeout` (callers without a request use the default).
CALL_TIMEOUT: ContextVar[float] = ContextVar(
    "temporal_call_timeout", default=DEFAULT_CALL_TIMEOUT
)


async def bind_call_timeout(request: Request) -> None:
    """App-wide dependency: the request's Temporal calls use the app's timeout setting.
    (Async, so it runs in the request's own context and the value reaches the route.)"""
    CALL_TIMEOUT.set(request.app.state.settings.temporal_call_timeout_seconds)


def call_timeout() -> float:
    return CALL_TIMEOUT.get()


def rpc_timeout(seconds: float | None = None) -> timedelta:
    """The gRPC deadline to pass as ``rpc_timeout=`` to a Temporal client call."""
    return timedelta(seconds=call_timeout() if seconds is None else seconds)


def temporal_unavailable() -> HTTPException:
    """503 ``{"type": "TemporalTimeout", "message": ...}`` with ``Retry-After``."""
    return HTTPException(
        status_code=503,
        detail={"type": "TemporalTimeout", "message": TIMEOUT_MESSAGE},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says Temporal did not answer in time or cannot be reached."""
    if isinstance(exc, TimeoutError | RPCTimeoutOrCancelledError):
        return True
    return isinstance(exc, RPCError) and exc.status in UNAVAILABLE_STATUSES


async def call_temporal(call: Awaitable[T], seconds: float | None = None) -> T:
    """Await a Temporal client call for at most ``seconds`` (default: the
    request's setting). Too slow or unreachable: 503 with Retry-After; every other
    error is the caller's to map."""
    try:
        async with asyncio.timeout(call_timeout() if seconds is None else seconds):
            return await call
    except (TimeoutError, RPCTimeoutOrCancelledError, RPCError) as exc:
        # The SDK turns the timeout's cancellation of an Update into
        # WorkflowUpdateRPCTimeoutOrCancelledError, so that counts as a timeout too.
        if is_unavailable(exc):
            raise temporal_unavailable() from exc
        raise


def validation_items(kind: str, message: str, errors: Any) -> list[dict[str, Any]]:
    """A workflow's refusal of input as FastAPI's 422 items, so every 422 of the API
    reads the same: ``[{"loc": ["body", field, ...], "msg", "type"}]``. The
    workflow's ``loc`` is relative to the request body; a refusal without field
    errors becomes one item about the whole body carrying its message."""
    items = [
        {
            "loc": ["body", *err.get("loc", [])],
            # Form errors carry pydantic's own messages (the pages translate them);
            # the others a terse hint the refusal's message explains.
            "msg": str(err.get("msg", ""))
            if kind == "InvalidForm"
            else f"{message} ({err.get('msg', '')})",
            "type": str(err.get("type") or kind),
        }
        for err in (errors if isinstance(errors, list) else [])
        if isinstance(err, dict)
    ]
    return items or [{"loc": ["body"], "msg": message, "type": kind}]


def http_error_for(exc: BaseException) -> HTTPException:
    """The HTTPException for a failed Update, a vanished workflow or a Temporal that
    does not answer; any other error is raised again."""
    if isinstance(exc, WorkflowUpdateFailedError):
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            status = STATUS_BY_TYPE.get(cause.type or "", 409)
            details: dict[str, Any] = (
                cause.details[0]
                if cause.details and isinstance(cause.details[0], dict)
                else {}
            )
            if status == 422:
                return HTTPException(
                    status_code=422,
                    detail=validation_items(
                        cause.type or "value_error",
                        cause.message,
                        details.get("errors"),
                    ),
                )
            body: dict[str, Any] = {"type": cause.type, "message": cause.message}
            if "holder" in details:
                body["holder"] = details["holder"]
            return HTTPException(status_code=status, detail=body)
        return HTTPException(
            status_code=409,
            detail={"type": "UpdateFailed", "message": str(cause or exc)},
        )
    if is_unavailable(exc):
        return temporal_unavailable()
    if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
        return HTTPException(
            status_code=409,
            detail={"type": "CaseClosed", "message": "案件流程已结束，任务不能再办理"},
        )
    raise exc
