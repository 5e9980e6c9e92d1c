"""Liveness of the API, the database and Temporal (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, TemporalDep
from models.workdays import calendar_years_covered

router = APIRouter(tags=["health"])


def _ping(engine: EngineDep) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@router.get("/healthz", summary="Health of the database and Temporal")
async def healthz(engine: EngineDep, temporal: TemporalDep) -> JSONResponse:
    """200 when both answer, 503 otherwise; says which part is down."""
    parts: dict[str, str] = {}
    try:
        await run_in_threadpool(_ping, engine)
        parts["database"] = "ok"
    except Exception as exc:  # any failure is reported, not raised
        parts["database"] = f"error: {type(exc).__name__}"
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
    return JSONResponse(body, status_code=200 if ok else 503)
