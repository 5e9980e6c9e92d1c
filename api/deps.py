"""FastAPI dependencies: settings, engine, Temporal client, the authenticated user."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api.errors import forbidden
from api.replay_pool import ReplayPool
from api.security import SessionKind, token_session
from models.contracts import Actor
from models.settings import Settings
from models.tables import Account, AuthSession, OrgUnit

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def get_replay_pool(request: Request) -> ReplayPool:
    pool: ReplayPool = request.app.state.replay_pool
    return pool


# The dependencies are coroutines: FastAPI runs a plain ``def`` dependency in the
# threadpool, a hop per dependency per request for reading one attribute.
async def _settings_dep(request: Request) -> Settings:
    return get_settings(request)


async def _engine_dep(request: Request) -> Engine:
    return get_engine(request)


async def _temporal_dep(request: Request) -> Client:
    return get_temporal(request)


async def _replay_pool_dep(request: Request) -> ReplayPool:
    return get_replay_pool(request)


async def _read_engine_dep(request: Request) -> Engine:
    return read_engine(request)


def read_engine(request: Request) -> Engine:
    """The app's engine for reads that write nothing: each statement runs in
    autocommit, without the BEGIN and ROLLBACK round trips around it (on PostgreSQL's
    READ COMMITTED each statement takes its own snapshot inside a transaction too).
    Made once per app and engine (making one costs ~0.4 ms); never for writes."""
    engine = get_engine(request)
    made: tuple[Engine, Engine] | None = getattr(request.app.state, "read_engine", None)
    if made is None or made[0] is not engine:
        made = (engine, engine.execution_options(isolation_level="AUTOCOMMIT"))
        request.app.state.read_engine = made
    return made[1]


SettingsDep = Annotated[Settings, Depends(_settings_dep)]
EngineDep = Annotated[Engine, Depends(_engine_dep)]
TemporalDep = Annotated[Client, Depends(_temporal_dep)]
ReplayPoolDep = Annotated[ReplayPool, Depends(_replay_pool_dep)]
ReadEngineDep = Annotated[Engine, Depends(_read_engine_dep)]


@dataclass(frozen=True)
class AuthUser:
    """The staff member behind a request, with their org unit's subtree path."""

    username: str
    display_name: str
    roles: tuple[str, ...]
    org_unit_id: int
    org_unit_name: str
    org_level: str
    org_path: str
    backup_username: str | None
    absent: bool
    locale: str

    def actor(self) -> Actor:
        return Actor(
            username=self.username,
            roles=list(self.roles),
            org_unit_id=self.org_unit_id,
            org_path=self.org_path,
            absent=self.absent,
        )

    def has_role(self, *roles: str) -> bool:
        """True when the user holds at least one of ``roles``."""
        return bool(set(roles).intersection(self.roles))

    def can_unmask(self, settings: Settings) -> bool:
        """True when a role of the user needs full ID numbers (`VETFLOW_UNMASK_ROLES`)."""
        return bool(settings.unmask_role_set.intersection(self.roles))


def _auth_user(acc: Account, unit: OrgUnit) -> AuthUser:
    return AuthUser(
        username=acc.username,
        display_name=acc.display_name,
        roles=tuple(acc.roles),
        org_unit_id=unit.id or 0,
        org_unit_name=unit.name,
        org_level=str(unit.level),
        org_path=unit.path,
        backup_username=acc.backup_username,
        absent=acc.absent,
        locale=acc.locale,
    )


def load_user(engine: Engine, username: str) -> AuthUser | None:
    with Session(engine) as s:
        acc = s.exec(select(Account).where(Account.username == username)).first()
        if acc is None or not acc.active:
            return None
        unit = s.get(OrgUnit, acc.org_unit_id)
        if unit is None:
            return None
        return _auth_user(acc, unit)


# The columns an authenticated request needs, read as plain rows (no ORM objects):
# built once, so each request only binds the session id.
_SESSION_USER = (
    sa_select(
        col(AuthSession.kind),
        col(AuthSession.username),
        col(AuthSession.revoked_at),
        col(AuthSession.expires_at),
        col(Account.active),
        col(Account.display_name),
        col(Account.roles),
        col(Account.backup_username),
        col(Account.absent),
        col(Account.locale),
        col(OrgUnit.id),
        col(OrgUnit.name),
        col(OrgUnit.level),
        col(OrgUnit.path),
    )
    .join(Account, col(Account.username) == col(AuthSession.username))
    .join(OrgUnit, col(OrgUnit.id) == col(Account.org_unit_id))
    .where(col(AuthSession.id) == bindparam("session_id"))
)


def load_session_user(
    engine: Engine, session_id: str, username: str, kind: SessionKind
) -> AuthUser | None:
    """``session_user`` on a connection of its own."""
    with engine.connect() as conn:
        return session_user(conn, session_id, username, kind)


def session_user(
    conn: Connection, session_id: str, username: str, kind: SessionKind
) -> AuthUser | None:
    """The user of an open session of ``kind``: one query on ``conn``, the session row
    read by primary key joined to its account and org unit. None when the session is
    unknown, revoked, expired or of the other kind, or the account is inactive."""
    row = conn.execute(_SESSION_USER, {"session_id": session_id}).first()
    if row is None:
        return None
    (
        sess_kind,
        sess_username,
        revoked_at,
        expires_at,
        active,
        display_name,
        roles,
        backup_username,
        absent,
        locale,
        unit_id,
        unit_name,
        unit_level,
        unit_path,
    ) = row
    if (
        sess_kind != kind
        or sess_username != username
        or revoked_at is not None
        or expires_at <= datetime.now(UTC)
        or not active
    ):
        return None
    return AuthUser(
        username=sess_username,
        display_name=display_name,
        roles=tuple(roles),
        org_unit_id=unit_id or 0,
        org_unit_name=unit_name,
        org_level=str(unit_level),
        org_path=unit_path,
        backup_username=backup_username,
        absent=absent,
        locale=locale,
    )


def _unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="未登录或登录已过期 (not authenticated)",
        headers={"WWW-Authenticate": "Bearer"},
    )


@dataclass(frozen=True)
class BearerSession:
    """A request's well-signed, unexpired bearer token: the session it names, not yet
    checked against the session row. For a read that runs in one threadpool call on
    one connection: ``user`` checks the session there (answering 401 as
    ``CurrentUser`` does) before the read, instead of a threadpool call and a
    connection of its own."""

    session_id: str
    username: str

    def user(self, conn: Connection) -> AuthUser:
        """The session's user, read on ``conn``; 401 unless the session is open."""
        user = session_user(conn, self.session_id, self.username, "api")
        if user is None:
            raise _unauthorized()
        # The log lines of this thread's context; the caller binds it in the
        # request's own, for its closing line (api/middleware.py).
        structlog.contextvars.bind_contextvars(user=user.username)
        return user


async def bearer_session(
    token: Annotated[str, Depends(oauth2)], settings: SettingsDep
) -> BearerSession:
    """The token's session; 401 for a missing, badly signed or expired token."""
    found = token_session(settings, token, "api")
    if found is None:
        raise _unauthorized()
    return BearerSession(*found)


async def get_current_user(
    session: Annotated[BearerSession, Depends(bearer_session)], engine: ReadEngineDep
) -> AuthUser:
    """The bearer token's user: its session (``bearer_session``), then the session's
    row read on a connection of its own; 401 unless the session is open."""
    user = await run_in_threadpool(
        load_session_user, engine, session.session_id, session.username, "api"
    )
    if user is None:
        raise _unauthorized()
    structlog.contextvars.bind_contextvars(user=user.username)
    return user


CurrentUser = Annotated[AuthUser, Depends(get_current_user)]
# Authenticated as CurrentUser is, the session row checked by the route
# (``BearerSession.user``) on the connection of its reads.
BearerSessionDep = Annotated[BearerSession, Depends(bearer_session)]


def require_roles(*roles: str) -> Callable[[AuthUser], Awaitable[AuthUser]]:
    """A dependency that answers 403 unless the user holds one of ``roles``."""

    async def check(user: CurrentUser) -> AuthUser:
        if not user.has_role(*roles):
            raise forbidden(f"需要角色 (requires one of): {', '.join(roles)}")
        return user

    return check


AdminUser = Annotated[AuthUser, Depends(require_roles("admin"))]
