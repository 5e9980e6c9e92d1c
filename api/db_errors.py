"""A database that cannot answer (disk I/O error, read-only file, lock timeout, lost
PostgreSQL connection, exhausted pool) answers 503 with ``Retry-After``, not 500: the
API ``{"detail": {"type": "DatabaseUnavailable", "message"}}``, pages the error page.
Each such fault is logged once (``database_unavailable``) with the error's class and
reason; SQL parameters never reach the message (models/db.py ``hide_parameters``).

Constraint violations, SQL mistakes and bad values (IntegrityError, ProgrammingError,
DataError) are no outage: they stay 500s, so a bug is not hidden as "try again".
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.exc import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.update_errors import RETRY_AFTER_SECONDS

log = structlog.get_logger("api.db")

MESSAGE = "数据库暂时不可用，请稍后重试 (the database is unavailable, retry later)"
_NOT_AN_OUTAGE = (IntegrityError, ProgrammingError, DataError)


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """503 with Retry-After, shaped by the app's HTTP error handler (JSON or page)."""
    if isinstance(exc, _NOT_AN_OUTAGE):
        raise exc  # a bug: the server error middleware answers 500 and logs it
    log.error(
        "database_unavailable",
        error=type(exc).__name__,
        reason=str(getattr(exc, "orig", None) or exc)[:300],
        method=request.method,
        path=request.url.path,
    )
    answer = HTTPException(
        503,
        detail={"type": "DatabaseUnavailable", "message": MESSAGE},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
    handler = request.app.exception_handlers[StarletteHTTPException]
    response: Response = await handler(request, answer)
    return response


def install_database_error_handler(app: FastAPI) -> None:
    """Register ``database_unavailable`` for every database fault class."""
    for fault in (OperationalError, InterfaceError, DatabaseError, PoolTimeout):
        app.add_exception_handler(fault, database_unavailable)
