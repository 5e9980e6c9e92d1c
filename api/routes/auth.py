"""Log in (OAuth2 password form), log out, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.deps import CurrentUser, EngineDep, SettingsDep, load_user, oauth2
from api.errors import field_error
from api.login import LoginLocked, authenticate
from api.security import log_out, start_auth_session, token_session
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


def client_address(request: Request) -> str:
    """The peer address (behind a proxy: what uvicorn's --proxy-headers made of it)."""
    return request.client.host if request.client else "unknown"


def too_many_attempts(retry_after: int) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail="登录失败次数过多，请稍后再试 (too many failed logins; try again later)",
        headers={"Retry-After": str(retry_after)},
    )


@router.post(
    "/auth/token",
    response_model=Token,
    summary="Log in / 登录",
    responses={429: {"description": "Too many failed logins; see Retry-After."}},
)
async def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    engine: EngineDep,
    settings: SettingsDep,
) -> Token:
    """Exchange username and password (OAuth2 password form) for a bearer token of a
    new API session that lasts `VETFLOW_TOKEN_TTL_MINUTES` (or until
    `POST /api/auth/logout`); 401 on bad credentials or an inactive account, 429 with
    Retry-After while the account or the client address is locked after repeated
    failures. Every failure is audited (`login_failed`), and every login that opens a
    session (`login`, with the client's address)."""
    try:
        ok = await authenticate(
            engine, settings, form.username, form.password, client_address(request)
        )
    except LoginLocked as locked:
        raise too_many_attempts(locked.retry_after) from None
    if not ok:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="用户名或密码错误 (bad credentials)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = await run_in_threadpool(
        start_auth_session,
        engine,
        settings,
        form.username,
        "api",
        client_address(request),
    )
    return Token(access_token=token)


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out / 退出: end this token's session",
)
async def logout(
    token: Annotated[str, Depends(oauth2)],
    user: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
) -> None:
    """Revoke the bearer token's session: the token is refused from now on (audited)."""
    found = token_session(settings, token, "api")
    if found is None:  # get_current_user has accepted it already
        return

    await run_in_threadpool(log_out, engine, found[0], user.username, "api")


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
    """Strict: `absent` is JSON true/false, never 0/1 or "yes" (422 names the field)."""

    model_config = ConfigDict(strict=True)

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
