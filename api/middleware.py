"""Request id and log context for every request.

A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``: the latter
runs the app in a copied context, so what route dependencies bind (``user``,
``case_id``) would be missing from the closing ``request`` log line.
"""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.request_id import VALID as _VALID_ID

log = structlog.get_logger("api.request")


class RequestContextMiddleware:
    """Binds `request_id` (the caller's X-Request-ID, or a new one) to every log line
    of the request (and, through api/temporal_interceptor.py, to its Temporal calls),
    answers it in X-Request-ID, logs one `request` line at the end and observes the
    request's latency by route template (``vetflow_http_request_duration_seconds``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _VALID_ID.match(given) else uuid.uuid4().hex[:16]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500  # if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round(elapsed * 1000, 1),
            )
            metrics = getattr(scope["app"].state, "metrics", None)
            if metrics is not None:
                metrics.requests.labels(
                    scope["method"], route_template(scope), str(status)
                ).observe(elapsed)


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/tasks/{task_id}``), so that the label's
    values stay few; ``unmatched`` for a path no route serves."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
