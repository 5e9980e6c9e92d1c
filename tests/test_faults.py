"""Faults under load, with real processes: 2 ``worker.py`` and 1 API process on a
PostgreSQL cluster of this test alone, against a Temporal dev server of this test
alone on its state file. While complaints are driven over HTTP:

- PostgreSQL is stopped and started again: the API answers 503 with Retry-After
  (never a 500), /healthz names the database; activities retry; no case or task lost.
- The Temporal server is killed with SIGKILL (unreachable): the API answers 503 with
  Retry-After, /healthz names Temporal; restarted on its state file, the workers and
  the API reconnect by themselves and every case resumes and closes; nothing lost.

The machine's own PostgreSQL cluster is never restarted (other tests use it)."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest_asyncio
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session
from temporalio.client import Client

from models.contracts import CompleteTaskInput, TaskResult
from models.db import make_engine
from models.settings import Settings
from models.tables import HumanTask
from tests.stack import (
    UNIT,
    Clerks,
    DevServer,
    PrivateCluster,
    Stack,
    Traffic,
    assert_nothing_lost,
    drive_complaint,
    finish_complaint,
    start_complaint,
    today,
    unit_id,
)
from tests.support import TEST_PAYLOAD_KEYS, actor
from vetflow_cli import migrate_and_seed

CASES = 10
CALL_TIMEOUT = 3.0  # the API's Temporal call timeout: a 503 comes within it
OUTAGE = 2.0  # seconds the fault lasts at least


@dataclass
class FaultStack:
    stack: Stack
    cluster: PrivateCluster
    temporal: DevServer
    client: Client
    engine: Engine
    unit: int

    @property
    def api(self) -> str:
        return self.stack.bases[0]

    def logs(self) -> str:
        return f"{self.stack.logs_tail()}\n{self.cluster.log()}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def faults(tmp_path_factory) -> AsyncIterator[FaultStack]:
    logs = Path(tmp_path_factory.mktemp("faults"))
    cluster = PrivateCluster()
    temporal = DevServer(logs)
    stack: Stack | None = None
    engine: Engine | None = None
    try:
        # Both at once: the cluster's initdb and the dev server's start.
        created = asyncio.create_task(asyncio.to_thread(cluster.create))
        client = await temporal.start()
        await created
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE vetflow")
        url = make_url(cluster.url).set(database="vetflow")
        settings = Settings(
            database_url=url.render_as_string(hide_password=False),
            temporal_address=temporal.address,
            task_queue=f"tq-faults-{uuid.uuid4().hex[:8]}",
            secret_key=secrets.token_urlsafe(40),
            policy_profile="fast",
            payload_keys=TEST_PAYLOAD_KEYS,
            case_id_prefix=f"f{uuid.uuid4().hex[:8]}-",
            temporal_call_timeout_seconds=CALL_TIMEOUT,
        )
        stack = Stack(settings, logs)
        stack.start_worker()
        stack.start_worker()
        stack.start_api()
        # While they start (nothing of theirs reads the tables before a case runs).
        await asyncio.to_thread(migrate_and_seed, settings, True)
        engine = make_engine(settings.database_url)
        await stack.wait_healthy()
        yield FaultStack(
            stack, cluster, temporal, client, engine, unit_id(engine, UNIT)
        )
    finally:
        if stack is not None:
            stack.stop()
        if engine is not None:
            engine.dispose()
        if temporal.child is not None:
            temporal.kill()
        cluster.drop()


async def _drive_through(
    f: FaultStack,
    fault: Callable[[Clerks, str], Awaitable[None]],
) -> Traffic:
    """Start CASES complaints, drive them all at once and inject ``fault`` after the
    first three were verified; then check nothing was lost. ``fault`` gets an open
    verify task no clerk touches meanwhile (to probe with); its case is finished
    afterwards from where the fault left it."""
    traffic = Traffic()
    clerks = Clerks(traffic, time.monotonic() + 120)  # within pytest-timeout
    verified = asyncio.Event()
    count = 0

    def progress(event: str) -> None:
        nonlocal count
        count += event == "verified"
        if count >= 3:
            verified.set()

    try:
        for user in ("village", "township"):
            await clerks.login(f.api, user)
        probe_case = await start_complaint(clerks, f.api, f.unit, 0)
        probe_task = await clerks.open_task(f.api, "village", probe_case, "verify")
        case_ids = list(
            await asyncio.gather(
                *(start_complaint(clerks, f.api, f.unit, n) for n in range(1, CASES))
            )
        )

        async def inject() -> None:
            await asyncio.wait_for(verified.wait(), timeout=120)
            await fault(clerks, probe_task)

        drives = [
            drive_complaint(clerks, c, f.api, f.api, reassign=False, progress=progress)
            for c in case_ids
        ]
        results = await asyncio.gather(inject(), *drives, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        assert not failed, f"{failed[:3]!r}\n{f.logs()}"
        if await _still_open(f, probe_task):
            await drive_complaint(clerks, probe_case, f.api, f.api, reassign=False)
        else:
            await finish_complaint(clerks, probe_case, f.api, f.api)
        dead = [c.name for c in f.stack.children() if not c.alive()]
        assert not dead, f"{dead} exited\n{f.logs()}"
        assert traffic.errors == [], traffic.errors  # 503s only, never a 500
        assert traffic.retry_after_missing == [], traffic.retry_after_missing
        await assert_nothing_lost(
            f.engine,
            f.client,
            [probe_case, *case_ids],
            set(),
        )
        return traffic
    finally:
        await clerks.aclose()


async def _still_open(f: FaultStack, task_id: str) -> bool:
    with Session(f.engine) as s:
        task = s.get(HumanTask, task_id)
        return task is not None and task.status == "open"


async def _health(api: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(f"{api}/healthz")


async def test_postgres_restarted_under_load(faults: FaultStack):
    f = faults
    seen: dict[str, httpx.Response] = {}

    verify: asyncio.Task[TaskResult] | None = None

    async def restart_postgres(clerks: Clerks, probe_task: str) -> None:
        nonlocal verify
        clerk = actor(f.engine, "village")
        case_id = probe_task.split(".", 1)[0]
        await asyncio.to_thread(f.cluster.ctl, "stop")
        down = time.monotonic()
        try:
            # Accepted by the workflow while the database is down: the activities
            # it leads to fail and are retried until the database is back.
            verify = asyncio.create_task(
                f.client.get_workflow_handle(case_id).execute_update(
                    "complete_task",
                    CompleteTaskInput(
                        task_id=probe_task,
                        actor=clerk,
                        outcome="misrated",
                        data={"contacted_on": today(), "facts": "误评"},
                    ),
                    result_type=TaskResult,
                )
            )
            seen["health"] = await _health(f.api)
            async with httpx.AsyncClient(timeout=30) as http:
                seen["claim"] = await http.post(
                    f"{f.api}/api/tasks/{probe_task}/claim",
                    headers={"Authorization": f"Bearer {clerks.tokens['village']}"},
                )
            # The outage lasts a while: the clerks' requests and activities meet it.
            await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))
        finally:
            await asyncio.to_thread(f.cluster.ctl, "start")

    traffic = await _drive_through(f, restart_postgres)
    assert verify is not None and (await verify).outcome == "misrated"
    health, claim = seen["health"], seen["claim"]
    assert health.status_code == 503 and health.headers["retry-after"], health.text
    assert health.json()["database"].startswith("error"), health.text
    assert health.json()["temporal"] == "ok", health.text
    assert claim.status_code == 503 and claim.headers["retry-after"], claim.text
    assert claim.json()["detail"]["type"] == "DatabaseUnavailable", claim.text
    assert traffic.statuses[503] >= 1, traffic.statuses
    # The workers' activities met the outage and were retried (the probe's Update
    # above returned only once they went through).
    logs = "".join(w.log.read_text(errors="replace") for w in f.stack.workers)
    assert "OperationalError" in logs, f.logs()
    assert (await _health(f.api)).status_code == 200


async def test_temporal_killed_and_restarted_on_its_state_file(faults: FaultStack):
    f = faults
    seen: dict[str, httpx.Response | float] = {}

    async def kill_temporal(clerks: Clerks, probe_task: str) -> None:
        f.temporal.kill()  # SIGKILL: no clean shutdown of any kind
        down = time.monotonic()
        seen["health"] = await _health(f.api)
        async with httpx.AsyncClient(timeout=30) as http:
            start = time.monotonic()
            seen["claim"] = await http.post(
                f"{f.api}/api/tasks/{probe_task}/claim",
                headers={"Authorization": f"Bearer {clerks.tokens['village']}"},
            )
            seen["claim_seconds"] = time.monotonic() - start
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))
        # Same address, same state file: the processes keep their connection target.
        f.client = await f.temporal.start()

    # Since engine 0.9 a retried opening announces nobody: a clerk who claimed the
    # task during the outage is not told it is theirs (0.8 did tell them).
    await _drive_through(f, kill_temporal)
    health, claim = seen["health"], seen["claim"]
    assert isinstance(health, httpx.Response) and isinstance(claim, httpx.Response)
    assert health.status_code == 503 and health.headers["retry-after"], health.text
    assert health.json()["temporal"].startswith("error"), health.text
    assert health.json()["database"] == "ok", health.text
    assert claim.status_code == 503 and claim.headers["retry-after"], claim.text
    assert claim.json()["detail"]["type"] == "TemporalTimeout", claim.text
    assert float(seen["claim_seconds"]) < CALL_TIMEOUT + 5, seen["claim_seconds"]
    assert f.temporal.starts == 2
    assert (await _health(f.api)).status_code == 200
