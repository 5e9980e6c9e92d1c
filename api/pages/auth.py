"""Login, logout and the language switch of the web pages."""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.deps import EngineDep, SettingsDep
from api.login import LoginLocked, authenticate
from api.password_change import (
    MIN_PASSWORD,
    WrongPassword,
    change_password,
    new_password_problem,
)
from api.routes.auth import client_address
from api.web.i18n import LOCALES
from api.web.render import render, translator
from api.web.session import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    PageUser,
    end_session,
    login_csrf_ok,
    new_login_csrf,
    set_login_csrf_cookie,
    start_session,
)
from models.settings import Settings
from models.tables import Account

router = APIRouter(include_in_schema=False)


def _safe_next(url: str | None) -> str:
    """Only local paths: never redirect to another site after login."""
    if (
        not url
        or urlparse(url).netloc
        or not url.startswith("/")
        or url.startswith("//")
    ):
        return "/inbox"
    return url


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/inbox", status_code=303)


def _login_form(
    request: Request,
    settings: Settings,
    ctx: dict[str, object],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The login page with a fresh CSRF pair: the nonce cookie and the form's token."""
    nonce, token = new_login_csrf(settings)
    page = render(
        request, "login.html", {**ctx, "login_csrf": token}, status_code=status_code
    )
    page.headers.update(headers or {})
    set_login_csrf_cookie(page, request, nonce)
    return page


@router.get("/login", response_class=HTMLResponse)
async def login_page(
    request: Request, settings: SettingsDep, next: str = "/inbox", changed: str = ""
) -> HTMLResponse:
    ctx: dict[str, object] = {"next_url": _safe_next(next)}
    if changed == "1":  # after a password change, which ended every session
        ctx["flash"] = translator(request).gettext("密码已修改，请用新密码登录")
    return _login_form(request, settings, ctx)


@router.post("/login", response_model=None)
async def login(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/inbox",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Log in: 403 without the form's CSRF token, 429 while locked after repeated
    failures (even with the right password), 401 on bad credentials."""
    tr = translator(request)
    ctx: dict[str, object] = {"username": username, "next_url": _safe_next(next)}
    if not login_csrf_ok(request, settings, csrf_token):
        ctx["error"] = tr.gettext("登录表单已过期，请重新提交")
        return _login_form(request, settings, ctx, status_code=403)
    try:
        ok = await authenticate(
            engine, settings, username, password, client_address(request)
        )
    except LoginLocked as locked:
        ctx["error"] = tr.gettext(
            "登录失败次数过多，已暂时锁定，请 {minutes} 分钟后再试",
            minutes=math.ceil(locked.retry_after / 60),
        )
        return _login_form(
            request,
            settings,
            ctx,
            status_code=429,
            headers={"Retry-After": str(locked.retry_after)},
        )
    if not ok:
        ctx["error"] = tr.gettext("用户名或密码错误")
        return _login_form(request, settings, ctx, status_code=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    await run_in_threadpool(
        start_session,
        response,
        request,
        settings,
        engine,
        username,
        client_address(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(
    request: Request, user: PageUser, settings: SettingsDep, engine: EngineDep
) -> RedirectResponse:
    """End the page session: its cookie is refused from now on (audited)."""
    response = RedirectResponse("/login", status_code=303)
    await run_in_threadpool(
        end_session, response, request, settings, engine, user.username
    )
    return response


@router.post("/settings/language")
async def set_language(
    user: PageUser,
    engine: EngineDep,
    locale: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/inbox",
) -> RedirectResponse:
    """Each user chooses the page language (Chinese by default)."""
    if locale in LOCALES:

        def save() -> None:
            with Session(engine) as s:
                acc = s.exec(
                    select(Account).where(Account.username == user.username)
                ).one()
                before = acc.locale
                acc.locale = locale
                s.add(acc)
                record_audit(
                    s,
                    actor=user.username,
                    action="account_locale",
                    entity_type="account",
                    entity_id=user.username,
                    before={"locale": before},
                    after={"locale": locale},
                )
                s.commit()

        await run_in_threadpool(save)
    return RedirectResponse(_safe_next(next), status_code=303)


def _password_form(
    request: Request,
    error: str = "",
    field: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    page = render(
        request,
        "password.html",
        {"error": error, "error_field": field, "min_length": MIN_PASSWORD},
        status_code=status_code,
    )
    page.headers.update(headers or {})
    return page


@router.get("/settings/password", response_class=HTMLResponse)
async def password_page(request: Request, user: PageUser) -> HTMLResponse:
    """Change my password (the form; ``PUT /api/me/password`` for the API)."""
    return _password_form(request)


@router.post("/settings/password", response_model=None)
async def change_password_page(
    request: Request,
    user: PageUser,
    engine: EngineDep,
    settings: SettingsDep,
    current_password: Annotated[str, Form(max_length=200)] = "",
    new_password: Annotated[str, Form(max_length=200)] = "",
    repeat_password: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The current password is checked like a login (403 when wrong, 429 while
    locked); the new one as the API checks it, and typed twice (422). On success every
    session of the account ends, this one too: to the login page."""
    tr = translator(request)
    problem = new_password_problem(user.username, current_password, new_password)
    if problem == "too_short":
        message = tr.gettext("新密码至少 {n} 个字符", n=MIN_PASSWORD)
        return _password_form(request, message, "new_password", 422)
    if problem == "not_new":
        message = tr.gettext("新密码须不同于当前密码和用户名")
        return _password_form(request, message, "new_password", 422)
    if repeat_password != new_password:
        return _password_form(
            request, tr.gettext("两次输入的新密码不一致"), "repeat_password", 422
        )
    try:
        await change_password(
            engine,
            settings,
            user.username,
            current_password,
            new_password,
            client_address(request),
        )
    except LoginLocked as locked:
        message = tr.gettext(
            "登录失败次数过多，已暂时锁定，请 {minutes} 分钟后再试",
            minutes=math.ceil(locked.retry_after / 60),
        )
        return _password_form(
            request,
            message,
            "current_password",
            429,
            {"Retry-After": str(locked.retry_after)},
        )
    except WrongPassword:
        return _password_form(
            request, tr.gettext("当前密码错误"), "current_password", 403
        )
    response = RedirectResponse("/login?changed=1", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
