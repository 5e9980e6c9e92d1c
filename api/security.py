"""Access tokens (JWT, HS256) for the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from models.settings import Settings

ALGORITHM = "HS256"


def signing_key(settings: Settings) -> str:
    """The token key; refuses to run without a real one."""
    if len(settings.secret_key) < 32:
        raise ValueError("VETFLOW_SECRET_KEY must be set to at least 32 characters")
    return settings.secret_key


def create_access_token(settings: Settings, username: str) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": username,
        "iat": now,
        "exp": now + timedelta(minutes=settings.token_ttl_minutes),
    }
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)


def username_from_token(settings: Settings, token: str) -> str | None:
    """The token's user, or None when it is invalid or expired."""
    try:
        claims = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub"]},
        )
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None
