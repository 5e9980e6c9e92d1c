"""API fixtures: the app on the real Temporal dev server, an HTTP client through
FastAPI's whole stack (lifespan included), and logins of the demo accounts.

``settings`` (random token key, the test's database and task queue, `fast` deadlines)
and ``seeded_engine`` (the demo data) live in tests/conftest.py: workflow and
activity tests use them too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from api.main import create_app
from models.demo import DEMO_PASSWORD
from models.settings import Settings


@pytest_asyncio.fixture
async def app(
    settings: Settings, seeded_engine: Engine, client
) -> AsyncIterator[FastAPI]:
    app = create_app(settings, engine=seeded_engine, temporal_client=client)
    async with app.router.lifespan_context(app):
        yield app


@pytest_asyncio.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        yield c


@pytest.fixture
def auth(http: httpx.AsyncClient) -> Callable[[str], Awaitable[dict[str, str]]]:
    """Log a demo account in through POST /api/auth/token; returns bearer headers."""

    async def login(username: str) -> dict[str, str]:
        r = await http.post(
            "/api/auth/token", data={"username": username, "password": DEMO_PASSWORD}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    return login
