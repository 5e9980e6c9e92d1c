"""Browser tests: vetflow served by uvicorn on a free local port (real HTTP), a real
worker on the real Temporal dev server, and Debian's headless Chromium driven by
Playwright. Screenshots go to tests/screenshots/ (ignored by git)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy.engine import Engine

from api.main import create_app
from models.demo import DEMO_PASSWORD
from models.settings import Settings
from worker import build_worker

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
CHROMIUM = (
    os.environ.get("VETFLOW_CHROMIUM")
    or shutil.which("chromium")
    or "/usr/bin/chromium"
)


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


@pytest_asyncio.fixture
async def open_session(browser: Browser, server: str):
    contexts = []

    async def make(username: str, locale: str = "zh-CN") -> Session:
        ctx = await browser.new_context(
            locale=locale, viewport={"width": 1360, "height": 900}
        )
        contexts.append(ctx)
        s = Session(await ctx.new_page(), server)
        await s.login(username)
        return s

    yield make
    for ctx in contexts:
        await ctx.close()
