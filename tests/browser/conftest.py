"""Browser tests: vetflow served by uvicorn on a free local port (real HTTP), a real
worker on the real Temporal dev server, and Debian's headless Chromium driven by
Playwright. Screenshots go to tests/screenshots/ (ignored by git).

Every page a journey's ``open_session`` browser opens is checked with axe-core (WCAG 2.1
A/AA plus headings in order and landmarks told apart, tests/browser/a11y.py) in Chinese
and in English, at the end of the journey: see ``open_session``."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Response,
    async_playwright,
)
from sqlalchemy.engine import Engine

from api.main import create_app
from models.demo import DEMO_PASSWORD
from models.settings import Settings
from tests.browser.a11y import ORDER_RULES, accessibility_report, browse_in
from worker import build_worker

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
CHROMIUM = (
    os.environ.get("VETFLOW_CHROMIUM")
    or shutil.which("chromium")
    or "/usr/bin/chromium"
)
# The journeys' pages are checked with axe at the end of each journey unless this is 0.
A11Y_JOURNEYS = os.environ.get("VETFLOW_A11Y_JOURNEYS", "1") != "0"
A11Y_LANGUAGES = ("zh-CN", "en")
CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember whether the test itself failed: its pages are then not checked (the
    failure says enough, and the pages may be half-way)."""
    report: pytest.TestReport = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Browser journeys run on SQLite only: what they add over the API and page tests
    (which run on both databases) is the browser, and Chromium is the costliest part
    of the suite on two cores."""
    return f"sqlite:///{tmp_path}/app.db"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest_asyncio.fixture
async def server(
    settings: Settings, seeded_engine: Engine, client
) -> AsyncIterator[str]:
    """vetflow's API, pages and worker, reachable at the returned base URL."""
    app = create_app(settings, engine=seeded_engine, temporal_client=client)
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on"
    )
    srv = uvicorn.Server(config)
    async with build_worker(client, settings, seeded_engine):
        task = asyncio.create_task(srv.serve())
        while not srv.started:
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
        srv.should_exit = True
        await task


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            "Chromium is missing: apt-get install chromium fonts-noto-cjk (.ci/run does it)"
        )
    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        await b.close()


class Session:
    """One person at a browser."""

    def __init__(self, page: Page, base: str) -> None:
        self.page, self.base = page, base

    async def login(self, username: str) -> None:
        await self.page.goto(f"{self.base}/login")
        await self.page.fill("input[name=username]", username)
        await self.page.fill("input[name=password]", DEMO_PASSWORD)
        await self.page.click("button[type=submit]")
        await self.page.wait_for_url("**/inbox**")

    async def shot(self, name: str) -> Path:
        SHOTS.mkdir(exist_ok=True)
        path = SHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


_ID = re.compile(r"\d")


def route_pattern(url: str) -> str:
    """A page's route with its ids collapsed — a path segment with a digit in it (a
    case, task or veteran id, a token) reads ``{id}`` — and its query's names (the
    inbox's ``tab`` keeps its value: each tab is its own page)."""
    parts = urlsplit(url)
    path = "/".join("{id}" if _ID.search(seg) else seg for seg in parts.path.split("/"))
    query = sorted(
        f"{k}={v}" if k == "tab" else k for k, v in parse_qsl(parts.query, True)
    )
    return path + ("?" + "&".join(query) if query else "")


@pytest.fixture(scope="session")
def a11y_checked() -> set[tuple[str, str]]:
    """(route pattern, language) already checked by this pytest worker's journeys: a
    route is checked once per language however many journeys open it."""
    return set()


async def check_pages(
    ctx: BrowserContext,
    urls: list[str],
    checked: set[tuple[str, str]],
    label: str,
) -> list[str]:
    """axe's findings on each page of ``urls`` not checked yet, in both languages, in
    a new tab of the journey's own (logged-in) browser context."""
    found: list[str] = []
    page = await ctx.new_page()
    try:
        for url in dict.fromkeys(urls):
            route = route_pattern(url)
            for lang in A11Y_LANGUAGES:
                if (route, lang) in checked:
                    continue
                await browse_in(page, lang)
                await page.goto(url)
                shown = await page.evaluate("document.documentElement.lang")
                checked.add((route, shown))  # an account's own choice of language wins
                report = await accessibility_report(
                    page, rules_extra=ORDER_RULES, label=f"[{label} · {route}]"
                )
                if report:
                    found.append(report)
    finally:
        await page.close()
    return found


@pytest_asyncio.fixture
async def open_session(
    browser: Browser,
    server: str,
    request: pytest.FixtureRequest,
    a11y_checked: set[tuple[str, str]],
):
    """A person logged in, in a browser of their own. At the end of the journey every
    page the person's browser opened (GET, HTML, in the main frame: what the address
    bar showed) is opened again in Chinese and in English and checked with axe-core;
    a finding fails the test at teardown (``VETFLOW_A11Y_JOURNEYS=0`` skips this)."""
    sessions: list[tuple[BrowserContext, list[str]]] = []

    async def make(username: str, locale: str = "zh-CN") -> Session:
        ctx = await browser.new_context(
            locale=locale, viewport={"width": 1360, "height": 900}
        )
        opened: list[str] = []
        sessions.append((ctx, opened))
        page = await ctx.new_page()

        def record(response: Response) -> None:
            req = response.request
            if (
                req.method == "GET"
                and req.is_navigation_request()
                and req.frame == page.main_frame
                and response.url.startswith(server)
                and "text/html" in response.headers.get("content-type", "")
            ):
                opened.append(response.url)

        page.on("response", record)
        s = Session(page, server)
        await s.login(username)
        return s

    yield make
    found: list[str] = []
    try:
        if A11Y_JOURNEYS and not request.node.stash.get(CALL_FAILED, True):
            for ctx, opened in sessions:
                found += await check_pages(ctx, opened, a11y_checked, request.node.name)
    finally:
        for ctx, _opened in sessions:
            await ctx.close()
    assert not found, "\n\n".join(found)
