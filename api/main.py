"""The vetflow HTTP API (FastAPI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import HTTPException as FastAPIHTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client

from api.db_errors import install_database_error_handler
from api.errors import ERROR_RESPONSES, document_errors
from api.input_guard import InputGuardMiddleware, raise_input_problem
from api.metrics import ApiMetrics
from api.middleware import RequestContextMiddleware
from api.pages import audit as audit_pages
from api.pages import auth as auth_pages
from api.pages import case_start as case_start_pages
from api.pages import cases as case_pages
from api.pages import complaint_new as complaint_new_pages
from api.pages import dashboard as dashboard_pages
from api.pages import inbox as inbox_pages
from api.pages import incidents as incident_pages
from api.pages import rating as rating_pages
from api.pages import self_service as self_service_pages
from api.pages import tasks as task_pages
from api.replay_pool import ReplayPool
from api.routes import (
    accounts,
    aftercare,
    auth,
    bank_callbacks,
    banks,
    campaigns,
    cases,
    codec,
    complaints,
    evidence_keys,
    health,
    history,
    holidays,
    incidents,
    loan_policies,
    loans,
    metrics,
    org_units,
    pay_calendar,
    payroll,
    processes,
    reports,
    tasks,
    veterans,
)
from api.security import signing_key
from api.security_headers import SecurityHeadersMiddleware, server_error
from api.temporal_interceptor import api_client
from api.update_errors import bind_call_timeout
from api.web.render import render
from api.web.session import CsrfFailed, LoginRequired
from models.db import make_engine
from models.payload_codec import PayloadKeyError, data_converter
from models.settings import Settings

log = structlog.get_logger(__name__)

# 👉 The JSON API: a new resource module adds its `router` here (one list, one place).
ROUTERS = [
    health.router,
    metrics.router,
    auth.router,
    accounts.router,
    veterans.router,
    org_units.router,
    holidays.router,
    pay_calendar.router,
    processes.router,
    cases.router,
    history.router,
    payroll.router,
    tasks.router,
    incidents.router,
    campaigns.router,
    codec.router,
    evidence_keys.router,
    loans.router,
    loan_policies.router,
    banks.router,
    bank_callbacks.router,
    aftercare.router,
    reports.router,
    complaints.router,
]
PAGES = [
    auth_pages.router,
    inbox_pages.router,
    task_pages.router,
    case_pages.router,
    case_start_pages.router,
    complaint_new_pages.router,
    audit_pages.router,
    dashboard_pages.router,
    incident_pages.router,
    self_service_pages.router,
    rating_pages.router,
]
STATIC = Path(__file__).resolve().parent / "static"

DESCRIPTION = """
**vetflow** 退役军人服务流程编排 — workflow orchestration for veteran service centres and
stations. Staff start cases and complete tasks; managers follow progress and deadlines;
auditors read and replay each case's history. Every `/api/*` path needs a bearer token
from `POST /api/auth/token`. Staff see only their own organisation's subtree (others: 404).
"""


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    temporal_client: Client | None = None,
) -> FastAPI:
    """The API; the lifespan connects the database and Temporal unless they are given."""
    signing_key(settings)  # refuse to start without a real token key

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        app.state.engine = engine or make_engine(settings.database_url)
        app.state.metrics = ApiMetrics(app.state.engine, settings)
        pool: ReplayPool | None = None
        try:
            connected = temporal_client or await Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                data_converter=data_converter(settings),
            )
            # Same connection; its calls carry the request id and time the Updates.
            app.state.temporal = api_client(connected, app.state.metrics)
            app.state.replay_pool = pool = ReplayPool(
                settings.replay_processes,
                connected.data_converter.payload_codec,
                settings,
            )
            yield
        finally:
            if pool is not None:
                await run_in_threadpool(pool.shutdown)
            # Given engines belong to the caller (tests, the CLI); ours is closed here.
            if own_engine:
                app.state.engine.dispose()

    app = FastAPI(
        title="vetflow 退役军人服务流程 / veteran service workflows",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Bad input (api/input_guard.py) answers 413/422 before anything else runs;
        # every route's Temporal calls are bounded by VETFLOW_TEMPORAL_CALL_TIMEOUT_SECONDS.
        dependencies=[Depends(raise_input_problem), Depends(bind_call_timeout)],
        # One error shape for the whole API (api/errors.py), documented on every route.
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(InputGuardMiddleware)
    app.add_middleware(RequestContextMiddleware)
    # Outermost: every answer, errors and redirects included, carries them.
    app.add_middleware(SecurityHeadersMiddleware)
    for router in [*ROUTERS, *PAGES]:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Pages answer errors with a page; the JSON API keeps FastAPI's JSON."""
        if request.url.path.startswith(("/api", "/healthz", "/static")):
            return await http_exception_handler(request, exc)
        detail = exc.detail
        if isinstance(detail, dict):  # e.g. 503 {"type": "TemporalTimeout", "message"}
            detail = detail.get("message", "")
        elif isinstance(detail, list):  # 422 items {"loc", "msg", "type"}
            detail = "; ".join(
                str(e.get("msg", "")) for e in detail if isinstance(e, dict)
            )
        page = render(
            request,
            "error.html",
            {
                "status": exc.status_code,
                "message": detail if isinstance(detail, str) else "",
            },
            status_code=exc.status_code,
        )
        page.headers.update(exc.headers or {})  # Retry-After of a 503
        return page

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        """Pages answer a bad path or query parameter with the error page (422)."""
        if request.url.path.startswith(("/api", "/healthz", "/static")):
            return await request_validation_exception_handler(request, exc)
        return await _http_error(
            request, FastAPIHTTPException(422, detail=list(exc.errors()))
        )

    @app.exception_handler(PayloadKeyError)
    async def _payload_key(request: Request, exc: PayloadKeyError) -> Response:
        """A history (or payload) under a key this process lacks: 500 naming the key
        id, never a key, so that an operator knows which key to restore."""
        log.error("payload_key_unavailable", reason=str(exc))
        return await _http_error(
            request,
            FastAPIHTTPException(
                500, detail={"type": "PayloadKeyUnavailable", "message": str(exc)}
            ),
        )

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> PlainTextResponse:
        return PlainTextResponse(
            "CSRF token missing or wrong / 表单已过期，请刷新页面", status_code=403
        )

    # Database faults: 503 with Retry-After (JSON or page, by the handler above).
    install_database_error_handler(app)
    # Anything else unhandled: 500 with the security headers and the request id.
    app.add_exception_handler(Exception, server_error)
    return app
