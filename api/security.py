"""Tokens (JWT, HS256) that name a server-side session, and the session rows.

A token carries the session's random id (`sid`) and its kind: `page` for the login
cookie of the web pages, `api` for bearer tokens from `POST /api/auth/token`. Every
request reads the `auth_session` row by that id, so a logout, a password change or
an account's deactivation ends the session at once (see `revoke_sessions`), and a
token of one kind is refused where the other is expected.
"""

from __future__ import annotations

import functools
import secrets
import time
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

import jwt
from sqlalchemy import delete, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from api.audit import record_audit
from models.settings import Settings
from models.tables import AuthSession

ALGORITHM = "HS256"

SessionKind = Literal["page", "api"]


def signing_key(settings: Settings) -> str:
    """The token key; refuses to run without a real one."""
    if len(settings.secret_key) < 32:
        raise ValueError("VETFLOW_SECRET_KEY must be set to at least 32 characters")
    return settings.secret_key


def create_access_token(
    settings: Settings, username: str, *, session_id: str, kind: SessionKind = "api"
) -> str:
    """The signed token of session ``session_id`` (the row must exist to be accepted)."""
    now = datetime.now(UTC)
    claims = {
        "sub": username,
        "sid": session_id,
        "kind": kind,
        "iat": now,
        "exp": now + timedelta(minutes=settings.token_ttl_minutes),
    }
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)


# The claims a token must carry (every token this module issues does).
REQUIRED_CLAIMS = ["exp", "sub", "sid", "kind"]


@functools.lru_cache(maxsize=1024)
def _decoded(key: str, token: str) -> tuple[int, MappingProxyType[str, Any]]:
    """(expiry, claims) of a token that passes every check of ``jwt.decode`` now;
    raises ``jwt.PyJWTError`` for any other, which is therefore never kept."""
    claims = jwt.decode(
        token, key, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS}
    )
    return int(claims["exp"]), MappingProxyType(claims)


def verified_claims(settings: Settings, token: str) -> dict[str, Any] | None:
    """The claims of a well-signed, unexpired token (with every claim of
    ``REQUIRED_CLAIMS``); None otherwise. A token that passed ``jwt.decode`` is kept
    (the last 1,024, by key and token): the same token is then only checked for expiry
    again (the one check whose answer changes with time), not signed and parsed
    again on every request. The caller still checks the session row."""
    try:
        exp, claims = _decoded(signing_key(settings), token)
    except jwt.PyJWTError:
        return None
    if exp <= time.time():  # jwt.decode's test, without leeway
        return None
    return dict(claims)


def token_session(
    settings: Settings, token: str, kind: SessionKind
) -> tuple[str, str] | None:
    """(session id, username) of a well-signed, unexpired token of ``kind``; None
    otherwise. The caller still checks the session row."""
    claims = verified_claims(settings, token)
    if claims is None:
        return None
    sub, sid = claims.get("sub"), claims.get("sid")
    if claims.get("kind") != kind or not isinstance(sub, str):
        return None
    return (sid, sub) if isinstance(sid, str) else None


# Ended sessions (expired or revoked) are deleted this long after their end, at their
# user's next login (start_auth_session).
ENDED_SESSIONS_KEPT = timedelta(days=30)


def start_auth_session(
    engine: Engine,
    settings: Settings,
    username: str,
    kind: SessionKind,
    address: str = "",
) -> str:
    """Record a new session of ``username`` with its `login` audit row (the session's
    kind and the client's ``address``) in the same transaction, and answer its
    token. The same transaction deletes the user's sessions that ended (expired or
    revoked) more than ``ENDED_SESSIONS_KEPT`` ago: the audit trail keeps every login
    and logout, so a user's rows are their open sessions and those ended since."""
    now = datetime.now(UTC)
    ended_before = now - ENDED_SESSIONS_KEPT
    session_id = secrets.token_urlsafe(24)
    row = AuthSession(
        id=session_id,
        username=username,
        kind=kind,
        created_at=now,
        expires_at=now + timedelta(minutes=settings.token_ttl_minutes),
    )
    with Session(engine) as s:
        purged = s.execute(
            delete(AuthSession).where(
                col(AuthSession.username) == username,
                or_(
                    col(AuthSession.expires_at) < ended_before,
                    col(AuthSession.revoked_at) < ended_before,
                ),
            )
        )
        s.add(row)
        record_audit(
            s,
            actor=username,
            action="login",
            entity_type="account",
            entity_id=username,
            after={
                "kind": kind,
                "address": address,
                "ended_sessions_deleted": int(getattr(purged, "rowcount", 0) or 0),
            },
        )
        s.commit()
    return create_access_token(settings, username, session_id=session_id, kind=kind)


def log_out(engine: Engine, session_id: str, username: str, kind: SessionKind) -> bool:
    """End one session and write its `logout` audit row in the same transaction;
    False (and no row) when it was already ended."""
    with Session(engine) as s:
        result = s.execute(
            update(AuthSession)
            .where(
                col(AuthSession.id) == session_id,
                col(AuthSession.revoked_at).is_(None),
            )
            .values(revoked_at=datetime.now(UTC))
        )
        ended = bool(getattr(result, "rowcount", 0))
        if ended:
            record_audit(
                s,
                actor=username,
                action="logout",
                entity_type="account",
                entity_id=username,
                after={"kind": kind},
            )
        s.commit()
        return ended


def revoke_sessions(session: Session, username: str) -> int:
    """End every open session of ``username`` in ``session`` (committed by the caller
    with the change that requires it): call it wherever a password changes or an
    account is deactivated. Answers how many sessions it ended."""
    result = session.execute(
        update(AuthSession)
        .where(
            col(AuthSession.username) == username,
            col(AuthSession.revoked_at).is_(None),
        )
        .values(revoked_at=datetime.now(UTC))
    )
    return int(getattr(result, "rowcount", 0))
