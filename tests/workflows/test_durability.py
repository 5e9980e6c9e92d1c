"""Crashes lose nothing: a killed worker and a restarted Temporal server both resume
every open case, with no task lost and no notice sent twice."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from activities.notify_adapters import WebhookAdapter
from models.contracts import SEARCH_ATTRIBUTES, ProcessPolicy, TaskPolicy
from models.payload_codec import make_data_converter
from models.settings import Settings
from models.tables import Notice
from tests.conftest import temporal_binary
from tests.support import (
    complete,
    notices,
    open_task,
    suite_codec,
    tasks,
    wait_for,
)
from tests.workflows.conftest import RecordingAdapter, start_case, veteran_id
from tests.workflows.journeys import Journeys, Registry
from worker import build_worker
from workflows.return_home import ReturnHomeWorkflow

ROOT = Path(__file__).resolve().parents[2]

# The two crash journeys (a killed worker, a restarted Temporal server) wait on
# processes and timers, not on a core: they run side by side, each with its own SQLite
# database, settings and workers (tests/workflows/journeys.py), beside the first test.
# SQLite only: what they prove is Temporal's and the worker's side of a crash; the same
# crashes on PostgreSQL run in tests/test_scale_out.py (a worker killed mid-run) and
# tests/test_faults.py (Temporal killed and restarted on its state file).
journey = Registry()


journeys = journey.fixture()


# A dead worker's claim on an outbox row lasts this long (the setting's default is
# 30 s); the gateway here answers at once, well within it.
SHORT_LEASE_SECONDS = "3"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn_worker(settings, address: str, **extra_env: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **extra_env,
        "VETFLOW_DATABASE_URL": settings.database_url,
        "VETFLOW_TEMPORAL_ADDRESS": address,
        "VETFLOW_TASK_QUEUE": settings.task_queue,
        "VETFLOW_SECRET_KEY": settings.secret_key,
        # The suite's payload keys: the worker refuses to start without one.
        "VETFLOW_PAYLOAD_KEYS": settings.payload_keys,
        "VETFLOW_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _assert_each_notice_once(engine, case_id: str) -> None:
    """Every notice of the case sent exactly once. Notices travel off the case's path
    (the outbox's dispatcher delivers them), so the last ones may still be on their
    way: wait until none is pending, then check."""

    def settled() -> list[Notice]:
        with Session(engine) as s:
            rows = list(s.exec(select(Notice).where(Notice.case_id == case_id)).all())
        return rows if rows and all(r.status != "pending" for r in rows) else []

    rows = await wait_for(settled, timeout=30)
    assert len({r.key for r in rows}) == len(rows)
    assert all(r.status == "sent" and r.attempts == 1 for r in rows), [
        (r.key, r.status, r.attempts) for r in rows
    ]


# Its gateway is a fixture, which a journey has not: a test of its own, collected first
# and with the journeys started beside it.
@pytest.mark.usefixtures("journeys")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_worker_killed_between_delivery_and_the_sent_mark_repeats_the_key(
    client, settings, demo_engine, sms_gateway
):
    """Delivery is at-least-once: the worker dies after the gateway took the SMS and
    before the outbox row was marked sent. The retry on another worker delivers it
    again under the same key, and the gateway drops the repeat: one SMS."""
    e = demo_engine
    address = client.service_client.config.target_host
    secret = "gateway-secret"
    proc = _spawn_worker(
        settings,
        address,
        VETFLOW_NOTIFY_ADAPTER="webhook",
        VETFLOW_WEBHOOK_URL=sms_gateway.url,
        VETFLOW_WEBHOOK_SECRET=secret,
        VETFLOW_OUTBOX_LEASE_SECONDS=SHORT_LEASE_SECONDS,
    )

    def crash_on_the_correction(key: str) -> None:
        if key.endswith(":correction:1") and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)  # after delivery, before the "sent" mark
            proc.wait(timeout=10)

    sms_gateway.on_request = crash_on_the_correction
    try:
        handle = await start_case(client, settings, veteran_id(e, party_member=True))
        await complete(
            handle,
            e,
            "archive_review",
            "county",
            "return_for_correction",
            {"missing_materials": ["户口簿"]},
        )
        await wait_for(lambda: proc.poll() is not None, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    key = f"{handle.id}:correction:1"
    with Session(e) as s:
        row = s.exec(select(Notice).where(Notice.key == key)).one()
    assert row.status == "pending"  # delivered, but the mark never happened
    async with build_worker(
        client, settings, e, adapter=WebhookAdapter(sms_gateway.url, secret)
    ):
        # The dead worker's lease on the row ends, then this worker's dispatcher
        # claims it and delivers it again.
        await wait_for(
            lambda: [k for k, _ in sms_gateway.requests].count(key) == 2, timeout=60
        )

        def sent():
            with Session(e) as s:
                r = s.exec(select(Notice).where(Notice.key == key)).one()
                return r if r.status == "sent" else None

        row = await wait_for(sent, timeout=15)
        assert list(sms_gateway.sent).count(key) == 1  # the gateway sent one SMS
        assert row.attempts == 1  # the first attempt died before it could count
        await handle.terminate("test over")


@journey(own_worker=True)
async def killed_worker_loses_no_task_and_sends_no_notice_twice(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    address = client.service_client.config.target_host
    proc = _spawn_worker(settings, address)
    try:
        handle = await start_case(client, settings, veteran_id(e, party_member=True))
        await complete(
            handle,
            e,
            "archive_review",
            "county",
            "return_for_correction",
            {"missing_materials": ["户口簿"]},
        )
        # Sent (not only written as pending) before the crash.
        await wait_for(
            lambda: [
                n
                for n in notices(e, handle.id, "correction_request")
                if n.status == "sent"
            ]
        )
        await open_task(e, handle.id, "supplement_materials")
    finally:
        proc.send_signal(signal.SIGKILL)  # a crash, not a graceful stop
        proc.wait(timeout=10)
    # With no worker, the case still accepts nothing but loses nothing; a new worker resumes it.
    async with build_worker(client, settings, e, adapter=adapter):
        await complete(
            handle,
            e,
            "supplement_materials",
            "village",
            "submitted",
            {"received_materials": ["户口簿"]},
        )
        await complete(handle, e, "archive_review", "county", "approve", {})
        await open_task(e, handle.id, "information_collection")
        state = await handle.query(ReturnHomeWorkflow.get_state)
        assert state.rounds == {
            "archive_review": 2,
            "supplement_materials": 1,
            "information_collection": 1,
        }
        assert [t.step for t in tasks(e, handle.id, status="completed")] == [
            "archive_review",
            "supplement_materials",
            "archive_review",
        ]
        await _assert_each_notice_once(e, handle.id)
        assert not [
            n for n in adapter.delivered if n.kind == "correction_request"
        ]  # sent once, before the crash
        await handle.terminate("test over")


@journey(own_worker=True)
async def restarted_temporal_server_resumes_open_cases_and_timers(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        await _restart_temporal_server(Path(folder), settings, e, adapter)


async def _restart_temporal_server(
    tmp_path: Path, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    state = tmp_path / "temporal.db"

    def server_args(port: int) -> list[str]:
        args = [
            temporal_binary(),
            "server",
            "start-dev",
            "--headless",
            "--db-filename",
            str(state),
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
        ]
        for name in SEARCH_ATTRIBUTES:
            args += ["--search-attribute", f"{name}=Keyword"]
        return args

    async def start_server() -> tuple[subprocess.Popen[bytes], Client]:
        # A fresh port on every start: the port of the stopped server may meanwhile
        # be taken (as an ephemeral port) by another test process on a busy CI
        # machine, and the state file, not the port, is what the cases live in.
        for attempt in range(3):
            port = _free_port()
            log = tmp_path / f"temporal-{attempt}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    server_args(port), stdout=out, stderr=subprocess.STDOUT
                )
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    return proc, await Client.connect(
                        f"127.0.0.1:{port}",
                        data_converter=make_data_converter(suite_codec()),
                    )
                except RuntimeError:
                    await asyncio.sleep(0.2)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        raise AssertionError(f"dev server did not start: {log.read_text()[-2000:]}")

    policy = ProcessPolicy(
        name="test",
        default=TaskPolicy(duration=timedelta(minutes=10)),
        steps={"information_collection": TaskPolicy(duration=timedelta(seconds=8))},
    )
    proc, client = await start_server()
    try:
        async with build_worker(client, settings, e, adapter=adapter):
            handles = [
                await start_case(
                    client, settings, veteran_id(e, party_member=p), policy=policy
                )
                for p in (True, False)
            ]
            for h in handles:
                await complete(h, e, "archive_review", "county", "approve", {})
                await open_task(e, h.id, "information_collection")
    finally:
        proc.send_signal(signal.SIGINT)
        # In a thread: the other journeys' workers share this event loop.
        await asyncio.to_thread(proc.wait, 20)

    proc, client = await start_server()
    try:
        async with build_worker(client, settings, e, adapter=adapter):
            for h in handles:
                h = client.get_workflow_handle(h.id)
                assert (await h.query(ReturnHomeWorkflow.get_state)).status == "running"
                # The 8-second deadline timer set before the restart still fires.
                overdue = await wait_for(
                    lambda h=h: tasks(
                        e, h.id, step="information_collection", overdue=True
                    ),
                    timeout=30,
                )
                assert overdue
                await complete(
                    h,
                    e,
                    "information_collection",
                    "village",
                    "submitted",
                    {"hukou_address": "东关村9号", "education": "高中"},
                )
                await open_task(e, h.id, "township_review")
                await h.terminate("test over")
    finally:
        proc.send_signal(signal.SIGINT)
        # In a thread: the other journeys' workers share this event loop.
        await asyncio.to_thread(proc.wait, 20)


async def test_killed_worker_loses_no_task_and_sends_no_notice_twice(
    journeys: Journeys,
) -> None:
    await journeys(killed_worker_loses_no_task_and_sends_no_notice_twice)


async def test_restarted_temporal_server_resumes_open_cases_and_timers(
    journeys: Journeys,
) -> None:
    await journeys(restarted_temporal_server_resumes_open_cases_and_timers)
