"""Password login for the API and the pages: throttled, audited, constant-time.

Failed logins are counted in the database per account and per client address
(`login_throttle`), so every API process sees the same counts. Each attempt is
counted *before* its password is checked and given back when it succeeds, so a burst
of parallel guesses cannot slip past the limit. Too many failures within
`VETFLOW_LOGIN_FAILURE_WINDOW_MINUTES` lock the key for `VETFLOW_LOGIN_LOCK_MINUTES`,
doubling with each further lock up to `VETFLOW_LOGIN_LOCK_MAX_MINUTES`; a locked
login is refused (429 with Retry-After) without checking the password, even a right
one. An unknown username costs the same argon2 work as a wrong password.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from models.passwords import verify_password_or_dummy
from models.settings import Settings
from models.tables import Account, LoginThrottle

# After a day without failures a key starts again from the shortest lock.
_QUIET_RESET = timedelta(hours=24)


class LoginLocked(Exception):
    """Too many failed logins: refused for ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Attempt:
    keys: tuple[str, ...]
    locked_now: tuple[str, ...]  # keys this attempt's failure count locked


def _limits(settings: Settings, username: str, address: str) -> dict[str, int]:
    return {
        f"user:{username[:100]}": settings.login_max_failures_per_account,
        f"addr:{address[:100]}": settings.login_max_failures_per_address,
    }


def _ensure_rows(engine: Engine, keys: list[str]) -> None:
    with Session(engine) as s:
        have = set(
            s.exec(select(LoginThrottle.key).where(col(LoginThrottle.key).in_(keys)))
        )
    for key in keys:
        if key in have:
            continue
        with Session(engine) as s:
            s.add(LoginThrottle(key=key))
            try:
                s.commit()
            except IntegrityError:  # another process made it meanwhile
                s.rollback()


def _locked_rows(s: Session, keys: list[str]) -> list[LoginThrottle]:
    """The rows of ``keys``, write-locked until commit: the no-op UPDATE takes the
    row locks on PostgreSQL and the write lock on SQLite, so concurrent attempts
    count one after another."""
    s.execute(
        update(LoginThrottle)
        .where(col(LoginThrottle.key).in_(keys))
        .values(failures=LoginThrottle.failures)
    )
    return list(
        s.exec(
            select(LoginThrottle)
            .where(col(LoginThrottle.key).in_(keys))
            .order_by(col(LoginThrottle.key))
        )
    )


def _count_attempt(
    engine: Engine, settings: Settings, username: str, address: str
) -> _Attempt:
    """Count this attempt as a failure (given back on success); LoginLocked when a
    key is locked, and then nothing is counted."""
    limits = _limits(settings, username, address)
    keys = sorted(limits)
    _ensure_rows(engine, keys)
    window = timedelta(minutes=settings.login_failure_window_minutes)
    with Session(engine) as s:
        rows = _locked_rows(s, keys)
        now = datetime.now(UTC)
        waits = [
            r.locked_until - now
            for r in rows
            if r.locked_until and r.locked_until > now
        ]
        if waits:
            s.rollback()
            raise LoginLocked(math.ceil(max(waits).total_seconds()))
        locked_now = []
        for row in rows:
            if row.last_failure_at and now - row.last_failure_at > _QUIET_RESET:
                row.lock_count = 0
            if now - row.window_start > window:
                row.failures, row.window_start = 0, now
            row.failures += 1
            row.last_failure_at = now
            if row.failures >= limits[row.key]:
                row.lock_count += 1
                minutes = min(
                    settings.login_lock_minutes * 2 ** (row.lock_count - 1),
                    settings.login_lock_max_minutes,
                )
                row.locked_until = now + timedelta(minutes=minutes)
                row.failures, row.window_start = 0, now
                locked_now.append(row.key)
            s.add(row)
        s.commit()
    return _Attempt(keys=tuple(keys), locked_now=tuple(locked_now))


def _give_back(engine: Engine, attempt: _Attempt) -> None:
    """A successful login: the account starts afresh; the address gets back the one
    failure counted in advance (and a lock only this attempt set)."""
    with Session(engine) as s:
        for row in _locked_rows(s, list(attempt.keys)):
            if row.key.startswith("user:"):
                s.delete(row)
                continue
            row.failures = max(0, row.failures - 1)
            if row.key in attempt.locked_now:
                row.locked_until = None
                row.lock_count = max(0, row.lock_count - 1)
            s.add(row)
        s.commit()


def _check(engine: Engine, username: str, password: str) -> tuple[bool, bool]:
    """(password right and account active, account exists); the same argon2 work
    whether or not the account exists."""
    with Session(engine) as s:
        acc = s.exec(select(Account).where(Account.username == username)).first()
    ok = verify_password_or_dummy(acc.password_hash if acc else None, password)
    return ok and acc is not None and acc.active, acc is not None


def _audit_failure(
    engine: Engine,
    username: str,
    known: bool,
    address: str,
    reason: str,
    **extra: object,
) -> None:
    # An unknown name is not written down: it is often a password typed in the
    # wrong box. No password is ever recorded.
    actor = username[:64] if known else "anonymous"
    with Session(engine) as s:
        record_audit(
            s,
            actor=actor,
            action="login_failed",
            entity_type="account",
            entity_id=actor,
            after={"reason": reason, "address": address, **extra},
        )
        s.commit()


def _login(
    engine: Engine, settings: Settings, username: str, password: str, address: str
) -> bool:
    try:
        attempt = _count_attempt(engine, settings, username, address)
    except LoginLocked as locked:
        with Session(engine) as s:
            known = s.exec(
                select(Account.id).where(Account.username == username)
            ).first()
        _audit_failure(
            engine,
            username,
            known is not None,
            address,
            "locked",
            retry_after=locked.retry_after,
        )
        raise
    ok, known = _check(engine, username, password)
    if ok:
        _give_back(engine, attempt)
        return True
    reason = "bad_password" if known else "unknown_account"
    now_locked = [k.split(":", 1)[0] for k in attempt.locked_now]
    if now_locked:
        _audit_failure(engine, username, known, address, reason, now_locked=now_locked)
    else:
        _audit_failure(engine, username, known, address, reason)
    return False


async def authenticate(
    engine: Engine, settings: Settings, username: str, password: str, address: str
) -> bool:
    """True for the right password of an active account; False otherwise (audited);
    LoginLocked while the account or the address is locked (audited)."""
    return await run_in_threadpool(
        _login, engine, settings, username, password, address
    )
