"""The campaign API on the real Temporal dev server: managers open a year's annual
review once (202, then 200 with the same campaign, also when two requests race), the
campaign opens 刘洋's case, and the progress answers per station of the caller's
subtree; other roles 403, a bad year 422, Temporal down 503."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest_asyncio
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from api.update_errors import TIMEOUT_MESSAGE
from models.demo import DEMO_PASSWORD
from models.payload_codec import make_data_converter
from models.processes.annual_review import TZ, campaign_id
from models.settings import Settings
from models.tables import AuditEvent, Campaign, Case
from tests.conftest import temporal_binary
from tests.support import suite_codec, wait_for
from worker import build_worker

THIS_YEAR = datetime.now(UTC).astimezone(TZ).year


def _audits(engine: Engine, cid: str) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "campaign_opened", AuditEvent.entity_id == cid
                )
            )
        )


def _cases(engine: Engine, cid: str) -> list[Case]:
    with Session(engine) as s:
        return list(s.exec(select(Case).where(col(Case.campaign_id) == cid)))


async def test_only_managers_open_and_the_year_is_checked(http, auth, settings):
    for who in ("village", "county", "auditor"):
        r = await http.post(
            "/api/campaigns/annual-review",
            json={"year": THIS_YEAR},
            headers=await auth(who),
        )
        assert r.status_code == 403, (who, r.text)
    manager = await auth("manager")
    for year in (1999, THIS_YEAR + 2, THIS_YEAR - 2, "x"):
        r = await http.post(
            "/api/campaigns/annual-review", json={"year": year}, headers=manager
        )
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "year"]
    r = await http.get(f"/api/campaigns/annual-review/{THIS_YEAR}", headers=manager)
    assert r.status_code == 404
    assert (await http.post("/api/campaigns/annual-review", json={})).status_code == 401


async def test_open_once_then_progress_per_station(
    http, auth, settings, seeded_engine, client: Client
):
    manager = await auth("manager")
    cid = campaign_id(THIS_YEAR, settings.case_id_prefix)
    async with build_worker(client, settings, seeded_engine):
        r = await http.post(
            "/api/campaigns/annual-review", json={"year": THIS_YEAR}, headers=manager
        )
        assert r.status_code == 202, r.text
        body = r.json()
        assert (body["id"], body["year"], body["status"]) == (cid, THIS_YEAR, "open")
        assert body["opened_by"] == "manager" and body["window_end"]
        # Again, and by the admin: the same campaign, nothing started.
        for who in ("manager", "admin"):
            again = await http.post(
                "/api/campaigns/annual-review",
                json={"year": THIS_YEAR},
                headers=await auth(who),
            )
            assert again.status_code == 200, again.text
            assert again.json()["id"] == cid
            assert again.json()["opened_by"] == "manager"
        # The workflow writes the row and opens 刘洋's case (东关村): the case row,
        # then its status, in two writes a few ms apart; wait for the second.
        await wait_for(
            lambda: [
                c
                for c in _cases(seeded_engine, cid)
                if c.status == "awaiting_submission"
            ],
            timeout=30,
        )
        with Session(seeded_engine) as s:
            assert s.get(Campaign, cid) is not None
        r = await http.get(f"/api/campaigns/annual-review/{THIS_YEAR}", headers=manager)
        assert r.status_code == 200, r.text
        progress = r.json()
        assert progress["campaign"]["id"] == cid
        assert progress["totals"]["opened"] == 1
        assert [u["org_unit_name"] for u in progress["units"]] == [
            "东关村退役军人服务站"
        ]
        unit = progress["units"][0]
        assert unit["opened"] == 1 and unit["awaiting_submission"] == 1
        assert unit["avg_veteran_days"] is not None
        # The other township sees the campaign without 东关村's cases.
        other = await http.get(
            f"/api/campaigns/annual-review/{THIS_YEAR}", headers=await auth("township2")
        )
        assert other.status_code == 200
        assert other.json()["totals"]["opened"] == 0 and other.json()["units"] == []
        listed = await http.get("/api/campaigns", headers=await auth("village"))
        assert listed.status_code == 200
        assert [c["campaign"]["id"] for c in listed.json()["data"]] == [cid]
        assert listed.json()["data"][0]["totals"]["opened"] == 1
        assert len(_audits(seeded_engine, cid)) == 1
    await _end_campaign(client, seeded_engine, cid)


async def test_two_racing_opens_start_one_campaign(
    http, auth, settings, seeded_engine, client: Client
):
    """No worker: the loser of the race finds no row yet and answers from Temporal."""
    manager = await auth("manager")
    year = THIS_YEAR + 1
    cid = campaign_id(year, settings.case_id_prefix)
    answers = await asyncio.gather(
        *(
            http.post(
                "/api/campaigns/annual-review", json={"year": year}, headers=manager
            )
            for _ in range(2)
        )
    )
    try:
        assert sorted(r.status_code for r in answers) == [200, 202], answers
        assert {r.json()["id"] for r in answers} == {cid}
        assert {r.json()["opened_by"] for r in answers} == {"manager"}
        assert len(_audits(seeded_engine, cid)) == 1
    finally:
        await client.get_workflow_handle(cid).terminate(reason="test")


async def _end_campaign(client: Client, engine: Engine, cid: str) -> None:
    """Terminate the campaign and the cases it opened (they share the server)."""
    for case_row in _cases(engine, cid):
        await client.get_workflow_handle(case_row.id).terminate(reason="test")
    await client.get_workflow_handle(cid).terminate(reason="test")


@pytest_asyncio.fixture
async def stopped_temporal() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=make_data_converter(suite_codec()),
        dev_server_log_level="error",
    )
    temporal = env.client
    await env.shutdown()
    yield temporal


async def test_temporal_down_answers_503(
    settings: Settings, seeded_engine, stopped_temporal: Client
):
    settings = settings.model_copy(update={"temporal_call_timeout_seconds": 1.5})
    app = create_app(settings, engine=seeded_engine, temporal_client=stopped_temporal)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as http,
    ):
        token = await http.post(
            "/api/auth/token", data={"username": "manager", "password": DEMO_PASSWORD}
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        r = await http.post(
            "/api/campaigns/annual-review", json={"year": THIS_YEAR}, headers=headers
        )
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "5"
        assert r.json()["detail"]["message"] == TIMEOUT_MESSAGE
        cid = campaign_id(THIS_YEAR, settings.case_id_prefix)
        assert _audits(seeded_engine, cid) == []
