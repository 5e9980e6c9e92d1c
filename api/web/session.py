"""Browser sessions: a signed, HttpOnly, SameSite cookie, and CSRF tokens for forms.

The session cookie carries a JWT (same key as the API tokens, kind "page") naming a
server-side session row (api/security.py): logging out revokes the row, so the old
cookie is refused at once. The CSRF token is an HMAC of the session id, sent back in
every form (`csrf_token`) or htmx request (`X-CSRF-Token`).

The login form, before any session exists, has its own CSRF check: a signed
double-submit cookie (`LOGIN_CSRF_COOKIE` holds a random nonce; the form carries
its HMAC).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import (
    AuthUser,
    ReadEngineDep,
    SettingsDep,
    load_session_user,
    session_user,
)
from api.security import (
    log_out,
    signing_key,
    start_auth_session,
    verified_claims,
)
from models.settings import Settings

COOKIE = "vetflow_session"
LOGIN_CSRF_COOKIE = "vetflow_login_csrf"


class LoginRequired(Exception):
    """Raised by page dependencies; answered with a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class CsrfFailed(Exception):
    pass


def _secure(request: Request) -> bool:
    return (
        request.url.scheme == "https"
        or request.headers.get("x-forwarded-proto") == "https"
    )


def start_session(
    response: Response,
    request: Request,
    settings: Settings,
    engine: Engine,
    username: str,
    address: str = "",
) -> None:
    """Record a page session of ``username`` (audited as a `login` from ``address``)
    and set its cookie on ``response``."""
    token = start_auth_session(engine, settings, username, "page", address)
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.token_ttl_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def end_session(
    response: Response,
    request: Request,
    settings: Settings,
    engine: Engine,
    username: str,
) -> None:
    """Revoke the request's page session (audited as `logout`) and drop its cookie."""
    claims = session_claims(request, settings)
    if claims is not None:
        log_out(engine, claims["sid"], username, "page")
    response.delete_cookie(COOKIE, path="/")


def session_claims(request: Request, settings: Settings) -> dict[str, Any] | None:
    """The claims of a well-signed page cookie (the session row is not checked)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    claims = verified_claims(settings, token)
    if claims is None:
        return None
    if claims.get("kind") != "page" or not isinstance(claims.get("sid"), str):
        return None
    return claims


def csrf_token(settings: Settings, claims: dict[str, Any]) -> str:
    return hmac.new(
        signing_key(settings).encode(), f"csrf:{claims['sid']}".encode(), hashlib.sha256
    ).hexdigest()


def _next_url(request: Request) -> str:
    return str(request.url.path) + (
        f"?{request.url.query}" if request.url.query else ""
    )


async def _check_csrf(request: Request) -> None:
    """Every POST must carry the session's CSRF token (``request.state.csrf``)."""
    if request.method == "POST":
        sent = request.headers.get("x-csrf-token")
        if sent is None:
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
        if not sent or not hmac.compare_digest(sent, request.state.csrf):
            raise CsrfFailed()


async def page_user(
    request: Request, settings: SettingsDep, engine: ReadEngineDep
) -> AuthUser:
    """The logged-in user of a page; a missing, expired or revoked session redirects to
    /login.
    Every POST must carry the session's CSRF token."""
    claims = session_claims(request, settings)
    user = (
        await run_in_threadpool(
            load_session_user, engine, claims["sid"], str(claims["sub"]), "page"
        )
        if claims
        else None
    )
    if claims is None or user is None:
        raise LoginRequired(_next_url(request))
    request.state.csrf = csrf_token(settings, claims)
    await _check_csrf(request)
    request.state.user = user
    return user


@dataclass(frozen=True)
class PageSession:
    """A page request's well-signed, unexpired session cookie: the session it names,
    not yet checked against the session row. For a page whose reads run in one
    threadpool call on one connection: ``user`` checks the session there (redirecting
    to /login as ``PageUser`` does) before the reads, instead of a threadpool call and
    a connection of its own."""

    request: Request
    session_id: str
    username: str

    def user(self, conn: Connection) -> AuthUser:
        """The session's user, read on ``conn`` (and kept in ``request.state`` for the
        page); a redirect to /login unless the session is open."""
        user = session_user(conn, self.session_id, self.username, "page")
        if user is None:
            raise LoginRequired(_next_url(self.request))
        self.request.state.user = user
        return user


async def page_session(request: Request, settings: SettingsDep) -> PageSession:
    """The cookie's session (a redirect to /login without a valid one); every POST
    must carry the session's CSRF token."""
    claims = session_claims(request, settings)
    if claims is None:
        raise LoginRequired(_next_url(request))
    request.state.csrf = csrf_token(settings, claims)
    await _check_csrf(request)
    return PageSession(request, claims["sid"], str(claims["sub"]))


PageUser = Annotated[AuthUser, Depends(page_user)]
# Authenticated as PageUser is, the session row checked by the page
# (``PageSession.user``) on the connection of its reads.
PageSessionDep = Annotated[PageSession, Depends(page_session)]


def _login_csrf_for(settings: Settings, nonce: str) -> str:
    return hmac.new(
        signing_key(settings).encode(), f"login-csrf:{nonce}".encode(), hashlib.sha256
    ).hexdigest()


def new_login_csrf(settings: Settings) -> tuple[str, str]:
    """A fresh (nonce for the cookie, token for the form) pair."""
    nonce = secrets.token_urlsafe(24)
    return nonce, _login_csrf_for(settings, nonce)


def set_login_csrf_cookie(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        nonce,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )


def login_csrf_ok(request: Request, settings: Settings, sent: str | None) -> bool:
    """True when the login form's token matches the nonce cookie of this browser."""
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not nonce or not sent:
        return False
    return hmac.compare_digest(sent, _login_csrf_for(settings, nonce))
