"""Logging in through the login form, as a browser does (tests of the HTML pages)."""

from __future__ import annotations

import re

import httpx

from models.demo import DEMO_PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def post_login_form(
    http: httpx.AsyncClient, username: str, password: str = DEMO_PASSWORD
) -> httpx.Response:
    """GET /login, then POST it with the form's CSRF token; the answer as it comes."""
    form = await http.get("/login")
    data = {"username": username, "password": password}
    if m := _CSRF.search(form.text):
        data["csrf_token"] = m.group(1)
    return await http.post("/login", data=data)


async def page_login(http: httpx.AsyncClient, username: str) -> str:
    """Log in through POST /login; answers the session's CSRF token for forms."""
    r = await post_login_form(http, username)
    assert r.status_code == 303, r.text
    return await session_csrf(http)


async def session_csrf(http: httpx.AsyncClient) -> str:
    """The logged-in session's CSRF token, read from the inbox page."""
    inbox = await http.get("/inbox")
    m = _CSRF.search(inbox.text)
    assert inbox.status_code == 200 and m, inbox.text[:500]
    return m.group(1)
