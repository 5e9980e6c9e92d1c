"""Every Temporal call of the API is bounded: with no worker polling the task queue (an
Update cannot complete) or with Temporal itself stopped, the API answers 503 with
Retry-After within the call timeout, never a hanging request or a 500.

Real Temporal dev server, real databases; no worker runs in this module."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from api.update_errors import TIMEOUT_MESSAGE, http_error_for
from models.demo import DEMO_PASSWORD
from models.payload_codec import make_data_converter
from models.settings import Settings
from models.tables import Case, HumanTask, Incident, OrgUnit, Veteran
from tests.conftest import temporal_binary
from tests.support import SQLITE_ONLY, suite_codec

TIMEOUT = 1.5
SLACK = 2.0  # the answer comes within TIMEOUT + SLACK seconds


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings with a short Temporal call timeout."""
    return settings.model_copy(update={"temporal_call_timeout_seconds": TIMEOUT})


def _veteran_of(engine: Engine, unit_code: str) -> Veteran:
    with Session(engine) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).one()
        return s.exec(select(Veteran).where(Veteran.org_unit_id == unit.id)).first()


def _project(engine: Engine, case_id: str, veteran: Veteran) -> tuple[str, str]:
    """Write the rows a worker would have written: the case, its first task (county
    staff, archive review) and an open incident. Returns (task id, incident id)."""
    with Session(engine) as s:
        county = s.exec(select(OrgUnit).where(OrgUnit.code == "sfx")).one()
        unit = s.get(OrgUnit, veteran.org_unit_id)
        s.add(
            Case(
                id=case_id,
                workflow_id=case_id,
                process="return_home",
                veteran_id=veteran.id,
                org_unit_id=unit.id,
                org_path=unit.path,
            )
        )
        s.flush()
        task_id = f"{case_id}.archive_review.1"
        s.add(
            HumanTask(
                id=task_id,
                case_id=case_id,
                workflow_id=case_id,
                process="return_home",
                step="archive_review",
                title="档案审核",
                candidate_role="county_staff",
                org_unit_id=county.id,
                org_path=county.path,
                outcomes=["approve", "return_for_correction"],
            )
        )
        incident_id = f"{case_id}.incident.1"
        s.add(
            Incident(
                id=incident_id,
                case_id=case_id,
                workflow_id=case_id,
                process="return_home",
                step="archive_review",
                activity="open_task",
                error_type="UnknownOrgUnit",
                message="机构不存在",
                org_unit_id=unit.id,
                org_path=unit.path,
            )
        )
        s.commit()
    return task_id, incident_id


def _assert_503(r: httpx.Response, elapsed: float) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "5"
    assert r.json()["detail"] == {"type": "TemporalTimeout", "message": TIMEOUT_MESSAGE}
    assert elapsed < TIMEOUT + SLACK, elapsed


async def _timed(call) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    r = await call
    return r, time.monotonic() - start


async def _page_login(http: httpx.AsyncClient, username: str) -> str:
    """Log in through the login page; the CSRF token of the session."""
    form = await http.get("/login")
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    r = await http.post(
        "/login",
        data={
            "username": username,
            "password": DEMO_PASSWORD,
            "csrf_token": login_csrf,
        },
    )
    assert r.status_code == 303
    page = await http.get("/inbox")
    marker = 'name="csrf_token" value="'
    return page.text.split(marker, 1)[1].split('"', 1)[0]


@SQLITE_ONLY  # Temporal down or slow: the database is not the subject
async def test_no_worker_start_succeeds_then_updates_answer_503(
    http, auth, seeded_engine, client: Client
):
    county = await auth("county")
    veteran = _veteran_of(seeded_engine, "sfx-cgz-dgc")
    # A start needs Temporal only, not a worker.
    r, elapsed = await _timed(
        http.post(
            "/api/cases",
            json={"process": "return_home", "veteran_id": veteran.id},
            headers=county,
        )
    )
    assert r.status_code == 201, r.text
    assert elapsed < TIMEOUT + SLACK
    case_id = r.json()["id"]
    handle = client.get_workflow_handle(case_id)
    try:
        assert (await handle.describe()).status is not None
        task_id, incident_id = _project(seeded_engine, case_id, veteran)

        # Nobody polls the task queue: the Updates cannot complete.
        r, elapsed = await _timed(
            http.post(f"/api/tasks/{task_id}/claim", headers=county)
        )
        _assert_503(r, elapsed)
        r, elapsed = await _timed(
            http.post(
                f"/api/tasks/{task_id}/complete",
                json={"outcome": "approve", "data": {}},
                headers=county,
            )
        )
        _assert_503(r, elapsed)
        r, elapsed = await _timed(
            http.post(
                f"/api/incidents/{incident_id}/retry", headers=await auth("manager")
            )
        )
        _assert_503(r, elapsed)

        # The task page shows the refusal as its error line, with the 503 status.
        csrf = await _page_login(http, "county")
        page, elapsed = await _timed(
            http.post(f"/tasks/{task_id}/claim", data={"csrf_token": csrf})
        )
        assert page.status_code == 503 and elapsed < TIMEOUT + SLACK
        assert "flash error" in page.text and "流程引擎暂时没有响应" in page.text
        # ... and so does the incident list, with Retry-After.
        http.cookies.clear()
        csrf = await _page_login(http, "manager")
        page, elapsed = await _timed(
            http.post(f"/incidents/{incident_id}/retry", data={"csrf_token": csrf})
        )
        assert page.status_code == 503 and elapsed < TIMEOUT + SLACK
        assert page.headers["retry-after"] == "5"
        assert "flash error" in page.text and incident_id in page.text
    finally:
        await handle.terminate(reason="test_temporal_timeouts")


@pytest_asyncio.fixture
async def stopped_temporal() -> AsyncIterator[Client]:
    """A client connected to a Temporal dev server of its own that is then stopped."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=make_data_converter(suite_codec()),
        dev_server_log_level="error",
    )
    temporal = env.client
    await env.shutdown()
    yield temporal


@SQLITE_ONLY  # Temporal down or slow: the database is not the subject
async def test_temporal_down_answers_503_not_500(
    settings, seeded_engine, stopped_temporal: Client
):
    app = create_app(settings, engine=seeded_engine, temporal_client=stopped_temporal)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as http,
    ):
        token = await http.post(
            "/api/auth/token", data={"username": "county", "password": DEMO_PASSWORD}
        )
        county = {"Authorization": f"Bearer {token.json()['access_token']}"}
        veteran = _veteran_of(seeded_engine, "sfx-ngz-ngc")
        r, elapsed = await _timed(
            http.post(
                "/api/cases",
                json={"process": "return_home", "veteran_id": veteran.id},
                headers=county,
            )
        )
        _assert_503(r, elapsed)
        # Starting from the veteran's page: the refusal comes back as the page's
        # message (a redirect with flash), not an error page.
        csrf = await _page_login(http, "county")
        page, elapsed = await _timed(
            http.post(
                f"/veterans/{veteran.id}/cases",
                data={"process": "return_home", "csrf_token": csrf},
            )
        )
        assert page.status_code == 303 and elapsed < TIMEOUT + SLACK
        flash = parse_qs(urlsplit(page.headers["location"]).query)["flash"]
        assert flash == [TIMEOUT_MESSAGE]

        task_id, _ = _project(seeded_engine, f"{settings.case_id_prefix}down", veteran)
        r, elapsed = await _timed(
            http.post(f"/api/tasks/{task_id}/claim", headers=county)
        )
        _assert_503(r, elapsed)


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b""), 503),
        (RPCError("deadline", RPCStatusCode.DEADLINE_EXCEEDED, b""), 503),
        (TimeoutError(), 503),
        (RPCError("gone", RPCStatusCode.NOT_FOUND, b""), 409),
    ],
)
def test_rpc_errors_map_to_503_with_retry_after(exc, status):
    err = http_error_for(exc)
    assert err.status_code == status
    if status == 503:
        assert err.headers == {"Retry-After": "5"}
        assert err.detail["type"] == "TemporalTimeout"


@pytest.mark.parametrize(
    ("type_", "status"),
    [("IncidentNotFound", 404), ("IncidentNotOpen", 409), ("NotAuthorized", 403)],
)
def test_incident_validator_types_map_to_statuses(type_, status):
    failed = WorkflowUpdateFailedError(ApplicationError("refused", type=type_))
    err = http_error_for(failed)
    assert err.status_code == status and err.detail["type"] == type_


def test_other_rpc_errors_are_not_hidden():
    with pytest.raises(RPCError):
        http_error_for(RPCError("bad", RPCStatusCode.INVALID_ARGUMENT, b""))
