"""Account changes that must end sessions at once: my password, an admin's disable.

Both revoke every open session of the account in the transaction that makes the
change (`api.security.revoke_sessions`), so a copied cookie or token is refused on
its next request; both are audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from api import password_change
from api.audit import record_audit
from api.deps import AdminUser, CurrentUser, EngineDep, SettingsDep
from api.errors import field_error, forbidden, not_found
from api.login import LoginLocked
from api.password_change import (
    API_MESSAGES,
    MIN_PASSWORD,
    WrongPassword,
    new_password_problem,
)
from api.routes.auth import client_address, too_many_attempts
from api.security import revoke_sessions
from models.tables import Account, OrgUnit

router = APIRouter(prefix="/api", tags=["auth"])


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=200)
    new_password: str = Field(min_length=MIN_PASSWORD, max_length=200)


class AccountActive(BaseModel):
    """Strict: `active` is JSON true/false."""

    model_config = ConfigDict(strict=True)

    active: bool


class AccountState(BaseModel):
    username: str
    active: bool
    sessions_ended: int


@router.put(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change my password; every session of mine ends",
    responses={429: {"description": "Too many failed logins; see Retry-After."}},
)
async def change_password(
    body: PasswordChange,
    request: Request,
    user: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
) -> None:
    """The current password is checked like a login (throttled, failures audited:
    403 when wrong, 429 while locked). The new one must have at least 10 characters
    and differ from the username and the current one (422). Every session of the
    account, this one too, ends: log in again with the new password."""
    problem = new_password_problem(
        user.username, body.current_password, body.new_password
    )
    if problem:
        raise field_error("new_password", API_MESSAGES[problem])
    try:
        await password_change.change_password(
            engine,
            settings,
            user.username,
            body.current_password,
            body.new_password,
            client_address(request),
        )
    except LoginLocked as locked:
        raise too_many_attempts(locked.retry_after) from None
    except WrongPassword:
        raise forbidden("当前密码错误 (the current password is wrong)") from None


@router.put(
    "/accounts/{username}/active",
    response_model=AccountState,
    summary="Enable or disable an account (admins); disabling ends its sessions",
)
async def set_account_active(
    username: Annotated[str, Path(max_length=64)],
    body: AccountActive,
    admin: AdminUser,
    engine: EngineDep,
) -> AccountState:
    """An admin enables or disables an account of their subtree (others: 404).
    Disabling ends every session of the account at once; an admin cannot disable
    themselves (422). Audited as `account_enabled` / `account_disabled`."""

    def save() -> AccountState:
        with Session(engine) as s:
            row = s.exec(
                select(Account, OrgUnit)
                .join(OrgUnit, OrgUnit.id == Account.org_unit_id)  # type: ignore[arg-type]
                .where(Account.username == username)
            ).first()
            if row is None or not row[1].path.startswith(admin.org_path):
                raise not_found("账号", "account")
            acc = row[0]
            if acc.username == admin.username and not body.active:
                raise field_error("active", "不能停用自己的账号 (not your own account)")
            before = acc.active
            acc.active = body.active
            s.add(acc)
            ended = 0 if body.active else revoke_sessions(s, acc.username)
            record_audit(
                s,
                actor=admin.username,
                action="account_enabled" if body.active else "account_disabled",
                entity_type="account",
                entity_id=acc.username,
                before={"active": before},
                after={"active": acc.active, "sessions_ended": ended},
            )
            s.commit()
            return AccountState(
                username=acc.username, active=acc.active, sessions_ended=ended
            )

    return await run_in_threadpool(save)
