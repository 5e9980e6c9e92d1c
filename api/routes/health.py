"""Liveness of the API, the database and Temporal (no authentication)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, TemporalDep
from api.update_errors import RETRY_AFTER_SECONDS
from models.db import check_database
from models.workdays import calendar_years_covered

router = APIRouter(tags=["health"])
log = structlog.get_logger("api.health")


@router.get("/healthz", summary="Health of the database and Temporal")
async def healthz(engine: EngineDep, temporal: TemporalDep) -> JSONResponse:
    """200 when both answer, 503 (with Retry-After) otherwise; says which part is down.
    The database must take a write (``check_database``: SQLite's write lock on a new
    connection, a read-write PostgreSQL primary), not only answer a read."""
    parts: dict[str, str] = {}
    try:
        await run_in_threadpool(check_database, engine)
        parts["database"] = "ok"
    except Exception as exc:  # any failure is reported, not raised
        parts["database"] = f"error: {type(exc).__name__}"
        log.warning(
            "health_database_failed",
            error=type(exc).__name__,
            reason=str(getattr(exc, "orig", None) or exc)[:200],
        )
    try:
        await temporal.service_client.check_health()
        parts["temporal"] = "ok"
    except Exception as exc:
        parts["temporal"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in parts.values())
    first, last = calendar_years_covered()
    body = {
        "status": "ok" if ok else "degraded",
        **parts,
        "holiday_calendar": f"{first}-{last}",
    }
    if ok:
        return JSONResponse(body)
    return JSONResponse(
        body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )
