"""Security headers on every answer: no framing, a strict Content-Security-Policy,
no MIME sniffing, no referrer to other sites; an unhandled error's 500 included
(``server_error``).

The pages load scripts and styles only from /static (htmx is vendored). The one
allowance is `style-src-attr 'unsafe-inline'`: a few form controls and the SVG charts
and diagrams size themselves with `style="..."` attributes; it allows attributes
only, never `<style>` elements or inline scripts.

The interactive API docs (/docs, /redoc) are FastAPI's pages: they load Swagger UI /
ReDoc from the jsDelivr CDN and start them with an inline script, so those paths
alone get a policy that allows that CDN and inline script. They show no data of
ours: the API behind them still needs a token.
"""

from __future__ import annotations

import structlog
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "style-src-attr 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

_COMMON = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


INTERNAL_ERROR = "服务器内部错误，请稍后再试或联系管理员 (internal error)"


def security_headers(path: str) -> dict[str, str]:
    """The headers every answer to ``path`` carries."""
    csp = DOCS_CSP if path in DOCS_PATHS else APP_CSP
    return {**_COMMON, "Content-Security-Policy": csp}


async def server_error(request: Request, exc: Exception) -> Response:
    """An unhandled error's 500. Starlette answers it from its outermost middleware,
    outside this module's and the request id's, so the answer sets both itself. It
    names no detail of the error: the request id leads to the log lines that do."""
    request_id = str(structlog.contextvars.get_contextvars().get("request_id", ""))
    headers = security_headers(request.url.path)
    if request_id:
        headers["X-Request-ID"] = request_id
    if request.url.path.startswith(("/api", "/healthz")):
        detail = {
            "type": "InternalError",
            "message": INTERNAL_ERROR,
            "request_id": request_id,
        }
        return JSONResponse({"detail": detail}, status_code=500, headers=headers)
    return PlainTextResponse(
        f"{INTERNAL_ERROR}\nrequest id: {request_id}", status_code=500, headers=headers
    )


class SecurityHeadersMiddleware:
    """Adds the headers to every HTTP answer of the app (a header the answer set
    itself is kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = security_headers(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
