"""Prometheus scrape endpoint, guarded by its own bearer token (not a staff login)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from api.deps import SettingsDep
from api.metrics import ApiMetrics

router = APIRouter(tags=["operations"], include_in_schema=False)


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request, settings: SettingsDep) -> Response:
    """404 unless VETFLOW_METRICS_TOKEN is set; 401 unless the caller sends
    ``Authorization: Bearer <that token>``."""
    if not settings.metrics_token:
        raise HTTPException(404, detail="Not Found")
    given = request.headers.get("authorization", "").encode()
    if not secrets.compare_digest(given, f"Bearer {settings.metrics_token}".encode()):
        raise HTTPException(
            401, detail="metrics token required", headers={"WWW-Authenticate": "Bearer"}
        )
    registry: ApiMetrics = request.app.state.metrics
    # Counting the tasks queries the database: a worker thread, not the event loop.
    body = await run_in_threadpool(registry.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
