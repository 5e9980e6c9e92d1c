"""Logging in through the login form, as a browser does (tests of the HTML pages)."""

from __future__ import annotations

import re

import httpx

from models.demo import DEMO_PASSWORD


async def page_login(http: httpx.AsyncClient, username: str) -> None:
    """Log in through POST /login (with the form's CSRF token when it has one)."""
    form = await http.get("/login")
    data = {"username": username, "password": DEMO_PASSWORD}
    if m := re.search(r'name="csrf_token" value="([^"]+)"', form.text):
        data["csrf_token"] = m.group(1)
    r = await http.post("/login", data=data)
    assert r.status_code == 303, r.text
