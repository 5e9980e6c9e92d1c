"""Fixtures for workflow tests: demo data, a recording notice adapter, a running worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from models.contracts import ProcessPolicy, StartCaseInput, TaskPolicy
from models.settings import Settings
from models.tables import Notice, Veteran
from worker import build_worker

FAST = ProcessPolicy(name="test", default=TaskPolicy(duration=timedelta(minutes=10)))


@dataclass
class RecordingAdapter:
    """Delivers nowhere; remembers every delivery so tests can count them."""

    channel: str = "test"
    delivered: list[Notice] = field(default_factory=list)

    def deliver(self, notice: Notice) -> None:
        self.delivered.append(notice)


@pytest.fixture
def demo_engine(seeded_engine: Engine) -> Engine:
    return seeded_engine


@pytest.fixture
def adapter() -> RecordingAdapter:
    return RecordingAdapter()


@pytest_asyncio.fixture
async def worker(
    client: Client, settings: Settings, demo_engine: Engine, adapter: RecordingAdapter
) -> AsyncIterator[Worker]:
    async with build_worker(client, settings, demo_engine, adapter=adapter) as w:
        yield w


def veteran_id(engine: Engine, *, party_member: bool, village: bool = True) -> int:
    """A demo veteran living in 东关村 (or directly under 城关镇)."""
    with Session(engine) as s:
        for v in s.exec(select(Veteran).order_by(Veteran.id)).all():
            from models.tables import OrgUnit

            unit = s.get(OrgUnit, v.org_unit_id)
            assert unit is not None
            if v.party_member == party_member and (
                unit.name.startswith("东关村") if village else unit.level == "township"
            ):
                return v.id or 0
    raise AssertionError("demo data has no such veteran")


async def start_case(
    client: Client,
    settings: Settings,
    vid: int,
    policy: ProcessPolicy = FAST,
    data: dict | None = None,
    version: int = 1,
) -> WorkflowHandle:
    """Start a return-home case on definition ``version`` (1 unless asked: the engine
    tests run on the version the recorded histories were made with)."""
    from workflows.return_home import ReturnHomeWorkflow

    case_id = f"return_home-{uuid.uuid4().hex[:10]}"
    return await client.start_workflow(
        ReturnHomeWorkflow.run,
        StartCaseInput(
            case_id=case_id,
            process="return_home",
            veteran_id=vid,
            started_by="county",
            data=data or {},
            policy=policy,
            spec_version=version,
        ),
        id=case_id,
        task_queue=settings.task_queue,
    )


async def at_archive_review(
    client: Client, settings: Settings, engine: Engine
) -> tuple[WorkflowHandle, Any]:
    """A non-party veteran's version-2 return-home case, its file received by the
    county clerk: the handle and the open archive review (its task row)."""
    from tests.return_home_forms import RECEIPT
    from tests.support import complete, open_task

    handle = await start_case(
        client, settings, veteran_id(engine, party_member=False), version=2
    )
    await complete(handle, engine, "file_receipt", "county", "received", RECEIPT)
    return handle, await open_task(engine, handle.id, "archive_review")


async def decide_review(
    handle: WorkflowHandle, engine: Engine, review: Any, outcome: str, data: dict
) -> Any:
    """The county clerk's decision on the archive review (:func:`at_archive_review`),
    as the ``complete_task`` Update's handle once accepted: its id names the workflow
    task that ran it in the history, ``result()`` its answer."""
    from temporalio.client import WorkflowUpdateStage

    from models.contracts import CompleteTaskInput
    from tests.support import actor
    from workflows.return_home import ReturnHomeWorkflow

    return await handle.start_update(
        ReturnHomeWorkflow.complete_task,
        CompleteTaskInput(
            task_id=review.id,
            actor=actor(engine, "county"),
            outcome=outcome,
            data=data,
        ),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )


class SmsGateway:
    """A local SMS gateway (real HTTP on 127.0.0.1) as the webhook adapter meets it:
    refuses numbers in ``invalid`` with 400, answers 500 while ``down``, and sends each
    ``X-Vetflow-Key`` once — a repeated key is acknowledged and dropped (dedup)."""

    def __init__(self) -> None:
        self.invalid: set[str] = set()
        self.down = False
        self.requests: list[tuple[str, str]] = []  # (key, to) of every request
        self.sent: dict[str, str] = {}  # key -> number, one SMS per key
        self.on_request: Any = None  # called with the key before answering
        self.url = ""


@pytest.fixture
def sms_gateway() -> Iterator[SmsGateway]:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    gw = SmsGateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            key, to = self.headers["X-Vetflow-Key"], body["to"]
            gw.requests.append((key, to))
            if gw.on_request is not None:
                gw.on_request(key)
            if gw.down:
                status = 500
            elif to in gw.invalid:
                status = 400
            else:
                gw.sent.setdefault(key, to)
                status = 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    gw.url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    yield gw
    server.shutdown()
    server.server_close()
