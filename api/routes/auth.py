"""Log in (OAuth2 password form) and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.deps import CurrentUser, EngineDep, SettingsDep, load_user
from api.errors import field_error
from api.security import create_access_token
from models.passwords import verify_password
from models.tables import Account

router = APIRouter(prefix="/api", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret


class OrgUnitRef(BaseModel):
    id: int
    name: str
    level: str
    path: str


class Me(BaseModel):
    username: str
    display_name: str
    roles: list[str]
    org_unit: OrgUnitRef
    backup_username: str | None
    absent: bool
    locale: str


def _check_password(engine: EngineDep, username: str, password: str) -> bool:
    with Session(engine) as s:
        acc = s.exec(select(Account).where(Account.username == username)).first()
        return (
            acc is not None
            and acc.active
            and verify_password(acc.password_hash, password)
        )


@router.post("/auth/token", response_model=Token, summary="Log in / 登录")
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    engine: EngineDep,
    settings: SettingsDep,
) -> Token:
    """Exchange username and password (OAuth2 password form) for a bearer token that
    lasts `VETFLOW_TOKEN_TTL_MINUTES`; 401 on bad credentials or an inactive account."""
    if not await run_in_threadpool(
        _check_password, engine, form.username, form.password
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="用户名或密码错误 (bad credentials)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Token(access_token=create_access_token(settings, form.username))


@router.get("/me", response_model=Me, summary="Who am I / 当前用户")
async def me(user: CurrentUser) -> Me:
    """My account: roles, org unit (its path is my visibility subtree), B角 and absence."""
    return Me(
        username=user.username,
        display_name=user.display_name,
        roles=list(user.roles),
        org_unit=OrgUnitRef(
            id=user.org_unit_id,
            name=user.org_unit_name,
            level=user.org_level,
            path=user.org_path,
        ),
        backup_username=user.backup_username,
        absent=user.absent,
        locale=user.locale,
    )


class AvailabilityUpdate(BaseModel):
    absent: bool | None = None
    backup_username: str | None = None


@router.put(
    "/me/availability",
    response_model=Me,
    summary="Set my B角 (backup) and whether I am away",
)
async def set_availability(
    body: AvailabilityUpdate, engine: EngineDep, user: CurrentUser
) -> Me:
    """A clerk names their B角 (003 §7.7) and marks themselves away; tasks that fall due
    while they are away go to the backup. 422 when the backup is unknown or is oneself."""

    def save() -> None:
        with Session(engine) as s:
            acc = s.exec(select(Account).where(Account.username == user.username)).one()
            before = {"absent": acc.absent, "backup_username": acc.backup_username}
            if body.backup_username is not None:
                backup = s.exec(
                    select(Account).where(Account.username == body.backup_username)
                ).first()
                if (
                    backup is None
                    or backup.username == acc.username
                    or backup.org_unit_id != acc.org_unit_id
                ):
                    raise field_error(
                        "backup_username",
                        "B角须为本机构的其他工作人员 (a colleague of the same unit)",
                    )
                acc.backup_username = backup.username
            if body.absent is not None:
                acc.absent = body.absent
            s.add(acc)
            record_audit(
                s,
                actor=user.username,
                action="availability_set",
                entity_type="account",
                entity_id=user.username,
                before=before,
                after={"absent": acc.absent, "backup_username": acc.backup_username},
            )
            s.commit()

    await run_in_threadpool(save)
    fresh = await run_in_threadpool(load_user, engine, user.username)
    return await me(fresh or user)
