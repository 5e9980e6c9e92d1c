"""The HTML pages over HTTP: case and veteran pages, role checks, CSRF, language."""

from __future__ import annotations

import re

import pytest_asyncio

from models.demo import DEMO_PASSWORD
from tests.support import wait_for
from worker import build_worker


@pytest_asyncio.fixture
async def running_worker(client, settings, seeded_engine):
    async with build_worker(client, settings, seeded_engine) as w:
        yield w


async def login(http, username: str) -> str:
    form = await http.get("/login")
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    r = await http.post(
        "/login",
        data={
            "username": username,
            "password": DEMO_PASSWORD,
            "csrf_token": login_csrf,
        },
    )
    assert r.status_code == 303
    page = await http.get("/inbox")
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)


async def test_case_and_veteran_pages(http, auth, seeded_engine, running_worker):
    h = await auth("county")
    vet = (await http.get("/api/veterans", params={"q": "张伟"}, headers=h)).json()[
        "data"
    ][0]
    case_id = (
        await http.post(
            "/api/cases",
            json={"process": "return_home", "veteran_id": vet["id"]},
            headers=h,
        )
    ).json()["id"]
    from tests.support import tasks

    await wait_for(lambda: tasks(seeded_engine, case_id))
    await login(http, "county")
    listed = await http.get("/cases", params={"q": "张伟"})
    assert listed.status_code == 200 and case_id in listed.text
    page = await http.get(f"/cases/{case_id}")
    assert (
        page.status_code == 200
        and "待办生成: 档案接收" in page.text
        and 'data-step="file_receipt"' in page.text
    )
    vpage = await http.get(f"/veterans/{vet['id']}")
    assert (
        vpage.status_code == 200
        and case_id in vpage.text
        and "**********" in vpage.text
    )
    # The county clerk is neither manager nor auditor.
    assert (await http.get("/dashboard")).status_code == 403
    assert (await http.get("/audit")).status_code == 403
    # Another township: 404.
    http.cookies.clear()
    await login(http, "township2")
    missing = await http.get(f"/cases/{case_id}")
    assert (
        missing.status_code == 404 and 'id="error-page"' in missing.text
    )  # a page, not JSON
    assert (await http.get(f"/veterans/{vet['id']}")).status_code == 404
    api_missing = await http.get(
        f"/api/cases/{case_id}", headers=await auth("township2")
    )
    assert api_missing.status_code == 404 and api_missing.json()["detail"]


async def test_csrf_and_language_switch(http, seeded_engine):
    token = await login(http, "village")
    assert (
        await http.post("/inbox/filters", data={"name": "x", "query": "tab=mine"})
    ).status_code == 403
    ok = await http.post(
        "/inbox/filters", data={"name": "x", "query": "tab=mine", "csrf_token": token}
    )
    assert ok.status_code == 303
    r = await http.post(
        "/settings/language",
        data={"locale": "en", "next": "/inbox", "csrf_token": token},
    )
    assert r.status_code == 303
    assert "My tasks" in (await http.get("/inbox")).text
    # Unsafe redirects after login are refused.
    http.cookies.clear()
    form = await http.get("/login")
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    r = await http.post(
        "/login",
        data={
            "username": "village",
            "password": DEMO_PASSWORD,
            "next": "https://evil.example/",
            "csrf_token": login_csrf,
        },
    )
    assert r.headers["location"] == "/inbox"
