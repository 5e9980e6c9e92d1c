"""The distributed path: 3 ``worker.py`` processes and 2 API processes on one fresh
PostgreSQL database against one Temporal. 50 window complaints are driven at once
through both APIs over real HTTP, and one worker is killed with SIGKILL mid-run:
every case closes, every task the workflows completed is one row (none lost, none
twice), every notice is one row by its key, sent. The APIs hold no state the other
lacks: tokens and page sessions of one work on the other, and each task is opened
on one API and completed on the other."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import pytest_asyncio
from sqlalchemy.engine import Engine, make_url
from temporalio.testing import WorkflowEnvironment

from models.db import make_engine
from models.settings import Settings
from tests.api.page_login import page_login
from tests.conftest import POSTGRES_URL
from tests.stack import (
    UNIT,
    Clerks,
    Stack,
    Traffic,
    assert_nothing_lost,
    drive_complaint,
    start_complaint,
    tail,
    unit_id,
)
from tests.support import TEST_PAYLOAD_KEYS
from vetflow_cli import migrate_and_seed

CASES = 50
REASSIGNED_EVERY = 5  # every fifth case also gets a task_assigned notice
ADMIN_URL = POSTGRES_URL or "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL, migrated and seeded."""
    name = f"vetflow_scale_{uuid.uuid4().hex[:10]}"
    base = make_url(ADMIN_URL)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise AssertionError(
            f"the scale-out test needs PostgreSQL at {ADMIN_URL} "
            "(VETFLOW_TEST_POSTGRES_URL): {exc}"
        ) from exc
    yield base.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    database: str, temporal_env: WorkflowEnvironment, tmp_path_factory
) -> AsyncIterator[Stack]:
    settings = Settings(
        database_url=database,
        temporal_address=temporal_env.client.service_client.config.target_host,
        task_queue=f"tq-scale-{uuid.uuid4().hex[:8]}",
        secret_key=secrets.token_urlsafe(40),
        policy_profile="fast",
        payload_keys=TEST_PAYLOAD_KEYS,
        case_id_prefix=f"s{uuid.uuid4().hex[:8]}-",
    )
    stack = Stack(settings, Path(tmp_path_factory.mktemp("scale-out")))
    try:
        for _ in range(3):
            stack.start_worker()
        for _ in range(2):
            stack.start_api()
        # While they start (nothing of theirs reads the tables before a case runs).
        await asyncio.to_thread(migrate_and_seed, settings, True)
        await stack.wait_healthy()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def app_engine(stack: Stack) -> Iterator[Engine]:
    e = make_engine(stack.settings.database_url)
    yield e
    e.dispose()


async def test_a_page_session_of_one_api_works_on_the_other(stack: Stack):
    api1, api2 = stack.bases
    async with (
        httpx.AsyncClient(base_url=api1, timeout=30) as one,
        httpx.AsyncClient(base_url=api2, timeout=30) as two,
    ):
        csrf = await page_login(one, "township")
        two.cookies = one.cookies
        inbox = await two.get("/inbox")
        assert inbox.status_code == 200, inbox.text[:300]
        assert "周站长" in inbox.text  # the township clerk's name, from the session
        # API 1's form token is good on API 2; logging out there ends the session
        # on API 1 too (the session row is in the database, not in a process).
        out = await two.post("/logout", data={"csrf_token": csrf})
        assert out.status_code == 303, out.text[:300]
        again = await one.get("/inbox")
        assert again.status_code == 303 and "/login" in again.headers["location"]


async def test_fifty_cases_on_two_apis_and_three_workers_one_killed(
    stack: Stack, app_engine: Engine, temporal_env: WorkflowEnvironment
):
    api1, api2 = stack.bases
    traffic = Traffic()
    clerks = Clerks(traffic, time.monotonic() + 150)  # within pytest-timeout
    unit = unit_id(app_engine, UNIT)
    verified = 0
    victim = stack.workers[0]
    killed_at: int | None = None
    started = time.monotonic()

    def progress(event: str) -> None:
        nonlocal verified, killed_at
        if event != "verified":
            return
        verified += 1
        if verified == 8:  # mid-run: most cases still have both steps ahead
            victim.kill()
            killed_at = verified

    try:
        # Tokens from API 1 only: API 2 accepts them (no session state of its own).
        for user in ("village", "village2", "township"):
            await clerks.login(api1, user)

        async def one_case(n: int) -> str:
            first, second = (api1, api2) if n % 2 else (api2, api1)
            case_id = await start_complaint(clerks, first, unit, n)
            await drive_complaint(
                clerks,
                case_id,
                first,
                second,
                reassign=n % REASSIGNED_EVERY == 0,
                progress=progress,
            )
            return case_id

        results = await asyncio.gather(
            *(one_case(n) for n in range(CASES)), return_exceptions=True
        )

        failed = [r for r in results if isinstance(r, BaseException)]
        assert not failed, f"{failed[:3]}\n{stack.logs_tail()}"
        case_ids = [r for r in results if isinstance(r, str)]
        elapsed = time.monotonic() - started
        assert killed_at is not None and not victim.alive()
        # The victim held cases when it died (its activities log their workflow).
        assert "workflow_id" in victim.log.read_text(errors="replace"), tail(victim.log)
        assert not [w.name for w in stack.workers[1:] if not w.alive()], (
            stack.logs_tail()
        )
        assert traffic.errors == [], traffic.errors
        reassigned = {c for n, c in enumerate(case_ids) if n % REASSIGNED_EVERY == 0}
        await assert_nothing_lost(app_engine, temporal_env.client, case_ids, reassigned)
        # Both APIs carried the traffic (each case used both).
        assert len(case_ids) == CASES, (len(case_ids), elapsed)
    finally:
        await clerks.aclose()
