"""Login, logout and the language switch of the web pages."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.deps import EngineDep, SettingsDep
from api.routes.auth import _check_password
from api.web.i18n import LOCALES
from api.web.render import render, translator
from api.web.session import PageUser, end_session, start_session
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


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/inbox") -> HTMLResponse:
    return render(request, "login.html", {"next_url": _safe_next(next)})


@router.post("/login", response_model=None)
async def login(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/inbox",
) -> Response:
    if not await run_in_threadpool(_check_password, engine, username, password):
        tr = translator(request)
        ctx = {
            "error": tr.gettext("用户名或密码错误"),
            "username": username,
            "next_url": _safe_next(next),
        }
        return render(request, "login.html", ctx, status_code=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    start_session(response, request, settings, username)
    return response


@router.post("/logout")
async def logout(user: PageUser) -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    end_session(response)
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
