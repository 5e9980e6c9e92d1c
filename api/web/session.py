"""Browser sessions: a signed, HttpOnly, SameSite cookie, and CSRF tokens for forms.

The session cookie carries a JWT (same key as the API tokens, kind "session") with a
random session id; the CSRF token is an HMAC of that id, sent back in every form
(`csrf_token`) or htmx request (`X-CSRF-Token`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import AuthUser, EngineDep, SettingsDep, load_user
from api.security import ALGORITHM, signing_key
from models.settings import Settings

COOKIE = "vetflow_session"


class LoginRequired(Exception):
    """Raised by page dependencies; answered with a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class CsrfFailed(Exception):
    pass


def start_session(
    response: Response, request: Request, settings: Settings, username: str
) -> None:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": username,
        "kind": "session",
        "sid": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + timedelta(minutes=settings.token_ttl_minutes),
    }
    token = jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.token_ttl_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https"
        or request.headers.get("x-forwarded-proto") == "https",
        path="/",
    )


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def session_claims(request: Request, settings: Settings) -> dict[str, Any] | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            token, signing_key(settings), algorithms=[ALGORITHM]
        )
    except jwt.PyJWTError:
        return None
    return claims if claims.get("kind") == "session" else None


def csrf_token(settings: Settings, claims: dict[str, Any]) -> str:
    return hmac.new(
        signing_key(settings).encode(), f"csrf:{claims['sid']}".encode(), hashlib.sha256
    ).hexdigest()


async def page_user(
    request: Request, settings: SettingsDep, engine: EngineDep
) -> AuthUser:
    """The logged-in user of a page; a missing or expired session redirects to /login.
    Every POST must carry the session's CSRF token."""
    claims = session_claims(request, settings)
    user = await run_in_threadpool(load_user, engine, claims["sub"]) if claims else None
    if claims is None or user is None:
        raise LoginRequired(
            str(request.url.path)
            + (f"?{request.url.query}" if request.url.query else "")
        )
    request.state.csrf = csrf_token(settings, claims)
    if request.method == "POST":
        sent = request.headers.get("x-csrf-token")
        if sent is None:
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
        if not sent or not hmac.compare_digest(sent, request.state.csrf):
            raise CsrfFailed()
    request.state.user = user
    return user


PageUser = Annotated[AuthUser, Depends(page_user)]
