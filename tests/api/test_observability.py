"""/metrics and request-id tracing, through FastAPI with a real worker and dev server.

The scrape is parsed with prometheus-client's own parser; counts come from a real
return-home case (its Updates, its open task) and from rows seeded into the projection
(overdue / at risk / outbox states).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
import structlog
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session, select
from temporalio.client import Client, HeaderCodecBehavior

from api.main import create_app
from models import request_id
from models.demo import DEMO_PASSWORD
from models.tables import Case, HumanTask, Notice, OrgUnit, Veteran
from tests.return_home_forms import RECEIPT
from tests.support import wait_for
from worker import build_worker, connect_temporal

TOKEN = secrets.token_urlsafe(24)
VILLAGE = "sfx-cgz-dgc"  # 东关村
CODEC = HeaderCodecBehavior.CODEC


@pytest_asyncio.fixture
async def app(settings, seeded_engine, client) -> AsyncIterator[FastAPI]:
    app = create_app(
        settings.model_copy(update={"metrics_token": TOKEN}),
        engine=seeded_engine,
        temporal_client=client,
    )
    async with app.router.lifespan_context(app):
        yield app


@pytest_asyncio.fixture
async def http(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        yield c


async def login(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    r = await http.post(
        "/api/auth/token", data={"username": username, "password": DEMO_PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def scrape(http: httpx.AsyncClient) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics as {(name, labels): value}."""
    r = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def sample(name: str, **labels: str) -> tuple[str, frozenset]:
    return (name, frozenset(labels.items()))


async def test_metrics_need_their_own_token(settings, seeded_engine, client, http):
    assert (await http.get("/metrics")).status_code == 401
    wrong = {"Authorization": f"Bearer {TOKEN}x"}
    assert (await http.get("/metrics", headers=wrong)).status_code == 401
    staff = await login(http, "admin")  # a staff login is not the scrape token
    assert (await http.get("/metrics", headers=staff)).status_code == 401
    assert await scrape(http)
    off = create_app(settings, engine=seeded_engine, temporal_client=client)
    async with (
        off.router.lifespan_context(off),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=off), base_url="http://test"
        ) as c,
    ):
        r = await c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 404


def seed_tasks_and_notices(engine) -> None:
    """In 东关村: one overdue, one at risk (due in 2 h < 24 h), one on time and one
    completed task; outbox: two pending (the oldest an hour old), one failed, one sent."""
    now = datetime.now(UTC)
    with Session(engine) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == VILLAGE)).one()
        vet = s.exec(select(Veteran).where(Veteran.org_unit_id == unit.id)).first()
        assert vet is not None

        def task(i: int, due: timedelta, status: str = "open") -> HumanTask:
            return HumanTask(
                id=f"seed-{i}.visit.1",
                case_id=f"seed-{i}",
                workflow_id=f"seed-{i}",
                process="aftercare",
                step="visit",
                title="走访",
                candidate_role="village_staff",
                org_unit_id=unit.id,
                org_path=unit.path,
                status=status,
                created_at=now - timedelta(days=1),
                due_at=now + due,
                outcomes=["done"],
            )

        s.add_all(
            Case(
                id=f"seed-{i}",
                workflow_id=f"seed-{i}",
                process="aftercare",
                title="身后事",
                veteran_id=vet.id,
                org_unit_id=unit.id,
                org_path=unit.path,
            )
            for i in range(1, 5)
        )
        s.flush()
        s.add_all(
            [
                task(1, -timedelta(hours=1)),
                task(2, timedelta(hours=2)),
                task(3, timedelta(days=5)),
                task(4, -timedelta(days=1), status="completed"),
            ]
        )

        def notice(key: str, status: str, age: timedelta) -> Notice:
            return Notice(
                key=key,
                kind="reminder",
                recipient_type="staff",
                recipient="village",
                subject="s",
                body="b",
                status=status,
                created_at=now - age,
            )

        s.add_all(
            [
                notice("n1", "pending", timedelta(hours=1)),
                notice("n2", "pending", timedelta(minutes=1)),
                notice("n3", "failed", timedelta(hours=3)),
                notice("n4", "sent", timedelta(hours=4)),
            ]
        )
        s.commit()


async def test_metrics_count_tasks_notices_and_requests(http, seeded_engine):
    seed_tasks_and_notices(seeded_engine)
    admin = await login(http, "admin")
    for _ in range(2):
        assert (await http.get("/api/tasks/nope", headers=admin)).status_code == 404
    m = await scrape(http)
    unit = {"process": "aftercare", "unit": VILLAGE}
    assert m[sample("vetflow_tasks_open", **unit)] == 3
    assert m[sample("vetflow_tasks_overdue", **unit)] == 1
    assert m[sample("vetflow_tasks_at_risk", **unit)] == 1
    assert m[sample("vetflow_notices", status="pending")] == 2
    assert m[sample("vetflow_notices", status="failed")] == 1
    assert m[sample("vetflow_notices", status="sent")] == 1
    assert m[sample("vetflow_notices", status="resolved")] == 0
    assert 3590 < m[sample("vetflow_outbox_oldest_pending_seconds")] < 3700
    route = {"method": "GET", "route": "/api/tasks/{task_id}", "status": "404"}
    assert m[sample("vetflow_http_request_duration_seconds_count", **route)] == 2
    assert m[sample("vetflow_http_request_duration_seconds_sum", **route)] > 0
    assert m[sample("process_resident_memory_bytes")] > 10_000_000
    assert (await http.get("/no/such/path")).status_code == 404
    m = await scrape(http)
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert m[sample("vetflow_http_request_duration_seconds_count", **unmatched)] == 1


@pytest_asyncio.fixture
async def running_worker(client, settings, seeded_engine):
    """A worker whose client decodes headers, as worker.connect_temporal's does."""
    decoding = Client(**{**client.config(), "header_codec_behavior": CODEC})
    async with build_worker(decoding, settings, seeded_engine) as w:
        yield w


def header_payloads(node: Any) -> Iterator[dict[str, Any]]:
    """Every request-id header payload in an exported history (JSON)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == request_id.HEADER:
                yield value
            else:
                yield from header_payloads(value)
    elif isinstance(node, list):
        for value in node:
            yield from header_payloads(value)


async def test_a_clicks_request_id_reaches_the_activities_and_its_update_is_timed(
    http, client, seeded_engine, running_worker
):
    county = await login(http, "county")
    with Session(seeded_engine) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == VILLAGE)).one()
        vid = s.exec(select(Veteran).where(Veteran.org_unit_id == unit.id)).first().id
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as logs:
        r = await http.post(
            "/api/cases",
            json={"process": "return_home", "veteran_id": vid},
            headers={**county, "X-Request-ID": "start-1"},
        )
        assert r.status_code == 201, r.text
        assert r.headers["x-request-id"] == "start-1"
        case_id = r.json()["id"]

        def open_task() -> HumanTask | None:
            with Session(seeded_engine) as s:
                return s.exec(
                    select(HumanTask).where(
                        HumanTask.case_id == case_id,
                        HumanTask.step == "file_receipt",
                        HumanTask.status == "open",
                    )
                ).first()

        task = await wait_for(open_task)
        for expected in (200, 409):  # the second: AlreadyClaimed, the validator's
            r = await http.post(
                f"/api/tasks/{task.id}/claim",
                json={},
                headers={**county, "X-Request-ID": "claim-1"},
            )
            assert r.status_code == expected, r.text
        done = await http.post(
            f"/api/tasks/{task.id}/complete",
            json={"outcome": "received", "data": RECEIPT, "comment": ""},
            headers={**county, "X-Request-ID": "abc"},
        )
        assert done.status_code == 200, done.text
        assert done.headers["x-request-id"] == "abc"

        def next_task() -> HumanTask | None:
            with Session(seeded_engine) as s:
                return s.exec(
                    select(HumanTask).where(
                        HumanTask.case_id == case_id,
                        HumanTask.status == "open",
                        HumanTask.step != "file_receipt",
                    )
                ).first()

        await wait_for(next_task)
        # The activity logs after its commit: the line may follow the row shortly.
        await wait_for(lambda: [e for e in logs if e["event"] == "task_opened"][1:])
    # A write alone is a `project`, the writes of one activation a `project_all`.
    worker_lines = [e for e in logs if e.get("activity") in ("project", "project_all")]

    def ids_of(event: str) -> set[str | None]:
        return {e.get("request_id") for e in worker_lines if e["event"] == event}

    # The start's id on what the start did, the claim's on the claim's write, and the
    # completion's on the task it closed and on the next task the workflow opened.
    assert ids_of("case_registered") == {"start-1"}
    assert ids_of("task_assigned") == {"claim-1"}
    assert ids_of("task_closed") == {"abc"}
    assert ids_of("task_opened") == {"start-1", "abc"}
    # In Temporal's history the request id is encrypted like every payload.
    keyless = Client(client.service_client, namespace=client.namespace)
    raw = (await keyless.get_workflow_handle(case_id).fetch_history()).to_json()
    ids = list(header_payloads(json.loads(raw)))
    assert ids and all(
        base64.b64decode(p["metadata"]["encoding"]) == b"binary/encrypted" for p in ids
    )
    m = await scrape(http)
    updates = "vetflow_temporal_update_duration_seconds_count"
    assert m[sample(updates, update="complete_task", outcome="ok")] == 1
    assert m[sample(updates, update="claim_task", outcome="ok")] == 1
    assert m[sample(updates, update="claim_task", outcome="rejected")] == 1
    assert m[sample("vetflow_tasks_open", process="return_home", unit="sfx")] >= 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_worker_serves_the_sdk_metrics(http, client, settings, seeded_engine):
    address = f"127.0.0.1:{free_port()}"
    worker_settings = settings.model_copy(
        update={
            "temporal_address": client.service_client.config.target_host,
            "worker_metrics_address": address,
        }
    )
    worker_client = await connect_temporal(worker_settings)
    county = await login(http, "county")
    with Session(seeded_engine) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == VILLAGE)).one()
        vid = s.exec(select(Veteran).where(Veteran.org_unit_id == unit.id)).first().id
    async with build_worker(worker_client, worker_settings, seeded_engine):
        r = await http.post(
            "/api/cases",
            json={"process": "return_home", "veteran_id": vid},
            headers=county,
        )
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]

        def opened() -> HumanTask | None:
            with Session(seeded_engine) as s:
                return s.exec(
                    select(HumanTask).where(HumanTask.case_id == case_id)
                ).first()

        await wait_for(opened)

        async def scraped() -> dict[str, Any] | None:
            """The SDK's series once the workflow task that opened the task has
            completed (the task row is written before it does)."""
            async with httpx.AsyncClient() as c:
                text = (await c.get(f"http://{address}/metrics")).text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            ran = families.get("temporal_workflow_task_execution_latency")
            done = ran is not None and any(
                s.labels.get("task_queue") == settings.task_queue and s.value > 0
                for s in ran.samples
                if s.name.endswith("_count")
            )
            return families if done else None

        for _ in range(100):
            families = await scraped()
            if families:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("no temporal_workflow_task_execution_latency of the queue")
    assert {"temporal_worker_start", "temporal_request", "temporal_num_pollers"} <= set(
        families
    )
