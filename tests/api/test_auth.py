"""Login, the bearer token on every /api path, /api/me and /healthz."""

from __future__ import annotations

import re

import httpx
import pytest
import structlog
from fastapi.routing import APIRoute
from sqlmodel import Session, select
from temporalio.client import Client

from api.main import create_app
from api.security import create_access_token
from models.db import make_engine
from models.demo import DEMO_PASSWORD
from models.tables import Account, AuditEvent


async def test_login_and_me(http, auth):
    bad = await http.post(
        "/api/auth/token", data={"username": "county", "password": "wrong"}
    )
    assert bad.status_code == 401
    unknown = await http.post(
        "/api/auth/token", data={"username": "nobody", "password": "demo-password"}
    )
    assert unknown.status_code == 401
    me = await http.get("/api/me", headers=await auth("township"))
    assert me.status_code == 200
    body = me.json()
    assert body["username"] == "township" and body["roles"] == ["township_staff"]
    assert (
        body["org_unit"]["name"] == "城关镇退役军人服务站"
        and body["org_unit"]["level"] == "township"
    )


def flat_routes(app):
    """The app's routes with their full paths (FastAPI >= 0.16x keeps included routers
    as one lazy entry in ``app.routes``; ``iter_route_contexts`` expands them)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


async def test_every_api_route_needs_a_token(app, http):
    """Every route under /api of the app, also those hidden from OpenAPI, answers 401
    without a token and with a forged one."""
    checked = 0
    for route in flat_routes(app):
        if not isinstance(getattr(route, "original_route", route), APIRoute):
            continue
        if not route.path.startswith("/api") or route.path == "/api/auth/token":
            continue
        concrete = re.sub(r"{[^}]+}", "1", route.path)
        for method in sorted(route.methods):
            if method == "OPTIONS":
                # A CORS preflight carries no credentials by design (the codec's, for
                # the Temporal UI); it answers headers only: see test_route_matrix.
                continue
            r = await http.request(method, concrete)
            assert r.status_code == 401, (method, route.path, r.status_code)
            # Banks authenticate by signature, staff by bearer token.
            scheme = (
                'HMAC-SHA256 realm="vetflow-bank"'
                if route.path == "/api/bank/callbacks"
                else "Bearer"
            )
            assert r.headers["www-authenticate"] == scheme
            forged = await http.request(
                method, concrete, headers={"Authorization": "Bearer not-a-token"}
            )
            assert forged.status_code == 401, (method, route.path)
            checked += 1
    assert checked >= 15


async def test_expired_token_and_inactive_account_are_refused(
    http, auth, settings, seeded_engine
):
    expired = create_access_token(
        settings.model_copy(update={"token_ttl_minutes": -1}),
        "county",
        session_id="no-such-session",
    )
    r = await http.get("/api/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401
    other_key = settings.model_copy(update={"secret_key": "k" * 40})
    r = await http.get(
        "/api/me",
        headers={
            "Authorization": f"Bearer {create_access_token(other_key, 'county', session_id='x')}"
        },
    )
    assert r.status_code == 401
    headers = await auth("county2")
    with Session(seeded_engine) as s:
        acc = s.exec(select(Account).where(Account.username == "county2")).one()
        acc.active = False
        s.add(acc)
        s.commit()
    assert (await http.get("/api/me", headers=headers)).status_code == 401
    r = await http.post(
        "/api/auth/token", data={"username": "county2", "password": DEMO_PASSWORD}
    )
    assert r.status_code == 401


@pytest.mark.parametrize("key", ["", "short-key"])
def test_the_app_refuses_to_start_without_a_real_key(settings, key):
    with pytest.raises(ValueError, match="32"):
        create_app(settings.model_copy(update={"secret_key": key}))


async def test_request_id_reaches_logs_and_audit(http, auth, seeded_engine):
    h = await auth("admin")
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as logs:
        r = await http.post(
            "/api/holidays",
            json={"day": "2031-01-01", "workday": False, "name": "元旦"},
            headers={**h, "X-Request-ID": "req-2031-a"},
        )
    assert r.status_code == 200 and r.headers["x-request-id"] == "req-2031-a"
    (line,) = [e for e in logs if e["event"] == "request"]
    assert line["request_id"] == "req-2031-a" and line["user"] == "admin"
    assert line["status"] == 200 and line["path"] == "/api/holidays"
    with Session(seeded_engine) as s:
        row = s.exec(select(AuditEvent).where(AuditEvent.action == "holiday_set")).one()
    assert row.request_id == "req-2031-a" and row.actor == "admin"
    # An id that is not a short plain token is replaced, not echoed.
    r = await http.get("/healthz", headers={"X-Request-ID": "x" * 200})
    assert len(r.headers["x-request-id"]) == 16


async def test_health_reports_database_and_temporal(http):
    r = await http.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["database"] == "ok" and r.json()["temporal"] == "ok"
    assert r.headers["x-request-id"]


async def test_health_answers_503_naming_the_part_that_is_down(settings, client):
    """Real unreachable parts: nothing listens on 127.0.0.1:1."""
    dead_db = make_engine("postgresql://postgres@127.0.0.1:1/none")
    dead_temporal = await Client.connect("127.0.0.1:1", lazy=True)
    for engine, temporal, down in [
        (dead_db, client, "database"),
        (None, dead_temporal, "temporal"),
    ]:
        app = create_app(settings, engine=engine, temporal_client=temporal)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test"
            ) as http,
        ):
            r = await http.get("/healthz")
        up = ({"database", "temporal"} - {down}).pop()
        assert r.status_code == 503, r.text
        assert r.json()["status"] == "degraded" and r.json()[up] == "ok"
        assert r.json()[down].startswith("error")
    dead_db.dispose()


async def test_processes_describe_steps_from_the_workflow_definitions(http, auth):
    r = await http.get("/api/processes", headers=await auth("county"))
    assert r.status_code == 200
    (rh,) = [p for p in r.json() if p["key"] == "return_home"]
    # New cases start on the newest definition (version 2).
    assert rh["version"] == 2 and rh["first"] == "file_receipt"
    steps = {s["key"]: s for s in rh["steps"]}
    assert steps["party_transfer"]["next"] == ["registration"]
    assert steps["party_transfer"]["clause"] == "001 第七条; 003 §6.2.2"
    assert steps["league_transfer"]["role"] == "desk_league"
    assert (
        steps["hukou"]["group"] == "one_stop" and steps["hukou"]["role"] == "desk_hukou"
    )
    assert "missing_materials" in steps["archive_review"]["form_schema"]["properties"]
    assert rh["start_schema"]["type"] == "object"


async def test_holidays_are_admin_only_upserted_and_audited(http, auth, seeded_engine):
    body = {"day": "2027-10-01", "workday": False, "name": "国庆节"}
    denied = await http.post("/api/holidays", json=body, headers=await auth("county"))
    assert denied.status_code == 403 and "admin" in denied.json()["detail"]
    admin = await auth("admin")
    assert (
        await http.post("/api/holidays", json=body, headers=admin)
    ).status_code == 200
    # The same day again replaces it (upsert), e.g. a 调休 Saturday set by mistake.
    changed = {**body, "workday": True, "name": "调休上班"}
    assert (
        await http.post("/api/holidays", json=changed, headers=admin)
    ).status_code == 200
    other = {"day": "2028-01-01", "workday": False, "name": "元旦"}
    await http.post("/api/holidays", json=other, headers=admin)
    county = await auth("county")
    listed = await http.get("/api/holidays", params={"year": 2027}, headers=county)
    assert listed.json() == [changed]
    every = await http.get("/api/holidays", headers=county)
    assert [h["day"] for h in every.json()] == ["2027-10-01", "2028-01-01"]
    with Session(seeded_engine) as s:
        rows = s.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "holiday_set")
            .order_by(AuditEvent.id)
        ).all()
    assert [(r.entity_id, r.before) for r in rows] == [
        ("2027-10-01", None),
        ("2027-10-01", {"workday": False, "name": "国庆节"}),
        ("2028-01-01", None),
    ]
    assert rows[1].after == {"workday": True, "name": "调休上班"}
    units = await http.get("/api/org-units", headers=await auth("township"))
    assert {u["name"] for u in units.json()} == {
        "城关镇退役军人服务站",
        "东关村退役军人服务站",
    }


async def test_a_clerk_names_a_backup_and_marks_absence(http, auth, seeded_engine):
    h = await auth("county")
    r = await http.put(
        "/api/me/availability", json={"backup_username": "village"}, headers=h
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == [
        "body",
        "backup_username",
    ]
    r = await http.put(
        "/api/me/availability",
        json={"backup_username": "county2", "absent": True},
        headers=h,
    )
    assert (
        r.status_code == 200
        and r.json()["absent"] is True
        and r.json()["backup_username"] == "county2"
    )
    with Session(seeded_engine) as s:
        row = s.exec(
            select(AuditEvent).where(AuditEvent.action == "availability_set")
        ).one()
    assert row.after == {"absent": True, "backup_username": "county2"}
