"""Brute-force protection through real HTTP: per-account and per-address locks kept
in the database, 429 with Retry-After even for the right password, every failure
audited without its password, and unknown users refused as slowly as known ones."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.main import create_app
from models import passwords
from models.demo import DEMO_PASSWORD
from models.tables import Account, AuditEvent, LoginThrottle
from tests.api.page_login import post_login_form
from tests.conftest import PRODUCTION_HASHER


@asynccontextmanager
async def serve(
    settings, engine, client, address: str = "127.0.0.1", **limits
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its own throttle settings, seen from client ``address``."""
    app = create_app(
        settings.model_copy(update=limits), engine=engine, temporal_client=client
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(address, 4711)),
            base_url="http://test",
        ) as http,
    ):
        yield http


def token_login(http: httpx.AsyncClient, username: str, password: str):
    return http.post(
        "/api/auth/token", data={"username": username, "password": password}
    )


def failures(engine, actor: str) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(AuditEvent)
                .where(AuditEvent.action == "login_failed", AuditEvent.actor == actor)
                .order_by(col(AuditEvent.id))
            )
        )


async def test_api_locks_the_account_after_five_failures(
    settings, seeded_engine, client
):
    async with serve(settings, seeded_engine, client) as http:
        codes = [
            (await token_login(http, "county", f"guess-{i}")).status_code
            for i in range(6)
        ]
        assert codes == [401] * 5 + [429]
        right = await token_login(http, "county", DEMO_PASSWORD)
        assert right.status_code == 429, right.text
        assert 0 < int(right.headers["retry-after"]) <= 5 * 60
        assert "too many failed logins" in right.json()["detail"]
        # Another account from the same address is not locked (the address limit is 20).
        assert (await token_login(http, "county2", DEMO_PASSWORD)).status_code == 200

    rows = failures(seeded_engine, "county")
    assert [r.after["reason"] for r in rows] == ["bad_password"] * 5 + ["locked"] * 2
    assert rows[4].after["now_locked"] == ["user"]
    assert {r.after["address"] for r in rows} == {"127.0.0.1"}
    trail = json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False)
    assert "guess-" not in trail and DEMO_PASSWORD not in trail


async def test_login_page_locks_too_with_a_clear_message(
    settings, seeded_engine, client
):
    async with serve(settings, seeded_engine, client) as http:
        for i in range(5):
            r = await post_login_form(http, "township", f"guess-{i}")
            assert r.status_code == 401 and "用户名或密码错误" in r.text
        locked = await post_login_form(http, "township", DEMO_PASSWORD)
        assert locked.status_code == 429
        assert "登录失败次数过多，已暂时锁定，请 5 分钟后再试" in locked.text
        assert 0 < int(locked.headers["retry-after"]) <= 300
        assert "vetflow_session" not in http.cookies
    assert len(failures(seeded_engine, "township")) == 6


async def test_address_limit_spans_accounts_and_other_addresses_still_log_in(
    settings, seeded_engine, client
):
    limits = {
        "login_max_failures_per_address": 3,
        "login_max_failures_per_account": 10,
    }
    async with serve(settings, seeded_engine, client, "10.0.0.7", **limits) as http:
        names = ["nobody-1", "nobody-2", "county"]
        assert [(await token_login(http, n, "x")).status_code for n in names] == [
            401,
            401,
            401,
        ]
        blocked = await token_login(http, "village", DEMO_PASSWORD)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    async with serve(settings, seeded_engine, client, "10.0.0.8", **limits) as http:
        assert (await token_login(http, "village", DEMO_PASSWORD)).status_code == 200
    # Unknown names are audited as "anonymous" (a password typed into the name box
    # must not land in the trail).
    unknown = failures(seeded_engine, "anonymous")
    assert [r.after["reason"] for r in unknown] == ["unknown_account"] * 2
    assert failures(seeded_engine, "village")[0].after["reason"] == "locked"


async def test_locks_expire_and_double(settings, seeded_engine, client):
    """Time passing is simulated by moving the lock's end into the past."""

    def expire_lock() -> None:
        with Session(seeded_engine) as s:
            row = s.get(LoginThrottle, "user:county")
            row.locked_until = datetime.now(UTC) - timedelta(seconds=1)
            s.add(row)
            s.commit()

    limits = {"login_max_failures_per_account": 2, "login_lock_minutes": 1.0}
    async with serve(settings, seeded_engine, client, **limits) as http:
        for _ in range(2):
            await token_login(http, "county", "wrong")
        first = await token_login(http, "county", DEMO_PASSWORD)
        assert (
            first.status_code == 429 and 55 <= int(first.headers["retry-after"]) <= 60
        )
        expire_lock()
        for _ in range(2):
            assert (await token_login(http, "county", "wrong")).status_code == 401
        second = await token_login(http, "county", DEMO_PASSWORD)
        assert second.status_code == 429
        assert 115 <= int(second.headers["retry-after"]) <= 120
        expire_lock()
        assert (await token_login(http, "county", DEMO_PASSWORD)).status_code == 200
    # A success starts the account afresh.
    with Session(seeded_engine) as s:
        assert s.get(LoginThrottle, "user:county") is None


async def test_parallel_guesses_cannot_pass_the_limit(settings, seeded_engine, client):
    """20 guesses at once: the attempts are counted before the password is checked,
    so no more than 5 are ever checked."""
    async with serve(settings, seeded_engine, client) as http:
        answers = await asyncio.gather(
            *(token_login(http, "manager", f"guess-{i}") for i in range(20))
        )
    codes = sorted(r.status_code for r in answers)
    assert codes == [401] * 5 + [429] * 15
    with Session(seeded_engine) as s:
        assert s.get(LoginThrottle, "user:manager").locked_until is not None


@pytest.fixture
def production_hashes(seeded_engine: Engine) -> Iterator[None]:
    """vetflow's own argon2 parameters (the suite logs in with the cheapest:
    tests/conftest.py): county's hash and the dummy hash made with them, so that the
    timing compares the verification that production pays."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(passwords, "_hasher", PRODUCTION_HASHER)
        passwords._dummy_hash.cache_clear()
        with Session(seeded_engine) as s:
            county = s.exec(select(Account).where(Account.username == "county")).one()
            county.password_hash = passwords.hash_password(DEMO_PASSWORD)
            s.add(county)
            s.commit()
        yield
    passwords._dummy_hash.cache_clear()


async def test_unknown_user_takes_as_long_as_a_wrong_password(
    settings, seeded_engine, client, production_hashes
):
    """Both go through one argon2 verification (the bug was 57 ms against 250 ms).
    The tries alternate between the two users and the fastest of each is compared,
    so load from other processes on the machine (the other test worker) falls on
    both alike and cannot make one look slow."""
    limits = {
        "login_max_failures_per_account": 100,
        "login_max_failures_per_address": 100,
    }

    async def timed(username: str) -> float:
        start = time.perf_counter()
        r = await token_login(http, username, "wrong-password")
        assert r.status_code == 401
        return time.perf_counter() - start

    async with serve(settings, seeded_engine, client, **limits) as http:
        await timed("no-such-user")  # warm-up: the dummy hash is made on first use
        pairs = [(await timed("county"), await timed("no-such-user")) for _ in range(7)]
    known, unknown = (min(times) for times in zip(*pairs, strict=True))
    assert 0.5 * known <= unknown <= 2.0 * known, (known, unknown)
