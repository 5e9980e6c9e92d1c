"""Changing one's own password, for the JSON API and the page alike.

The current password is checked like a login (throttled, failures audited as
`login_failed`); the new hash replaces the old one, every session of the account ends
(this one too) and `password_changed` is audited, all in one transaction.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.login import authenticate
from api.security import revoke_sessions
from models.passwords import hash_password
from models.settings import Settings
from models.tables import Account

MIN_PASSWORD = 10
# Why a new password is refused, and how the JSON API says it (the page translates).
Problem = Literal["too_short", "not_new"]
API_MESSAGES: dict[Problem, str] = {
    "too_short": f"新密码至少 {MIN_PASSWORD} 个字符 (at least {MIN_PASSWORD} characters)",
    "not_new": "须不同于当前密码和用户名 (must differ from the current one)",
}


class WrongPassword(Exception):
    """The current password given is not the account's."""


def new_password_problem(username: str, current: str, new: str) -> Problem | None:
    """Why ``new`` cannot replace ``current`` for ``username``, or None. The length is
    the API body's own check too (422 from its model)."""
    if len(new) < MIN_PASSWORD:
        return "too_short"
    if new in (current, username):
        return "not_new"
    return None


async def change_password(
    engine: Engine,
    settings: Settings,
    username: str,
    current: str,
    new: str,
    address: str,
) -> int:
    """Check ``current`` like a login (raises ``LoginLocked`` while locked,
    :class:`WrongPassword` when wrong), then save ``new``; answers how many sessions
    ended. The caller has checked ``new`` (:func:`new_password_problem`)."""
    if not await authenticate(engine, settings, username, current, address):
        raise WrongPassword
    new_hash = await run_in_threadpool(hash_password, new)

    def save() -> int:
        with Session(engine) as s:
            acc = s.exec(select(Account).where(Account.username == username)).one()
            acc.password_hash = new_hash
            s.add(acc)
            ended = revoke_sessions(s, username)
            record_audit(
                s,
                actor=username,
                action="password_changed",
                entity_type="account",
                entity_id=username,
                after={"sessions_ended": ended},
            )
            s.commit()
            return ended

    return await run_in_threadpool(save)
