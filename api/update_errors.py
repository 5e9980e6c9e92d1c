"""Turn a rejected workflow Update into the HTTP answer a clerk can act on.

The workflow validators raise ``ApplicationError`` with a ``type``; this maps each type
to 404 / 403 / 409 / 422, carrying the field errors for 422.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

STATUS_BY_TYPE = {
    "TaskNotFound": 404,
    "NotAuthorized": 403,
    "TaskNotOpen": 409,
    "ClaimedByOther": 409,
    "AlreadyClaimed": 409,
    "NotClaimed": 409,
    "InvalidOutcome": 422,
    "InvalidForm": 422,
    "InvalidInput": 422,
}


def http_error_for(exc: BaseException) -> HTTPException:
    """The HTTPException for a failed Update or a vanished workflow."""
    if isinstance(exc, WorkflowUpdateFailedError):
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            status = STATUS_BY_TYPE.get(cause.type or "", 409)
            details: dict[str, Any] = (
                cause.details[0]
                if cause.details and isinstance(cause.details[0], dict)
                else {}
            )
            body: dict[str, Any] = {"type": cause.type, "message": cause.message}
            if "errors" in details:
                body["errors"] = details["errors"]
            if "holder" in details:
                body["holder"] = details["holder"]
            return HTTPException(status_code=status, detail=body)
        return HTTPException(
            status_code=409,
            detail={"type": "UpdateFailed", "message": str(cause or exc)},
        )
    if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
        return HTTPException(
            status_code=409,
            detail={"type": "CaseClosed", "message": "案件流程已结束，任务不能再办理"},
        )
    raise exc
