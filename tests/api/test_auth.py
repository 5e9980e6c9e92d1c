"""Login, the bearer token on every /api path, /api/me and /healthz."""

from __future__ import annotations


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


async def test_every_api_path_needs_a_token(app, http):
    checked = 0
    for path, ops in app.openapi()["paths"].items():
        if not path.startswith("/api") or path == "/api/auth/token":
            continue
        concrete = (
            path.replace("{task_id}", "x")
            .replace("{case_id}", "x")
            .replace("{veteran_id}", "1")
        )
        for method in ops:
            r = await http.request(method.upper(), concrete)
            assert r.status_code == 401, (method, path, r.status_code)
            checked += 1
    assert checked >= 15
    forged = await http.get("/api/me", headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 401


async def test_health_reports_database_and_temporal(http):
    r = await http.get("/healthz")
    assert r.status_code == 200
    assert r.json()["database"] == "ok" and r.json()["temporal"] == "ok"
    assert r.headers["x-request-id"]


async def test_processes_describe_steps_from_the_workflow_definitions(http, auth):
    r = await http.get("/api/processes", headers=await auth("county"))
    assert r.status_code == 200
    (rh,) = [p for p in r.json() if p["key"] == "return_home"]
    steps = {s["key"]: s for s in rh["steps"]}
    assert steps["party_transfer"]["next"] == ["registration"]
    assert steps["party_transfer"]["clause"] == "001 第七条"
    assert (
        steps["hukou"]["group"] == "one_stop" and steps["hukou"]["role"] == "desk_hukou"
    )
    assert "missing_materials" in steps["archive_review"]["form_schema"]["properties"]
    assert rh["start_schema"]["type"] == "object"


async def test_holidays_are_admin_only_and_audited(http, auth, seeded_engine):
    from sqlmodel import Session, select

    from models.tables import AuditEvent

    body = {"day": "2027-10-01", "workday": False, "name": "国庆节"}
    assert (
        await http.post("/api/holidays", json=body, headers=await auth("county"))
    ).status_code == 403
    r = await http.post("/api/holidays", json=body, headers=await auth("admin"))
    assert r.status_code == 200
    listed = await http.get(
        "/api/holidays", params={"year": 2027}, headers=await auth("county")
    )
    assert listed.json() == [body]
    with Session(seeded_engine) as s:
        assert (
            s.exec(select(AuditEvent).where(AuditEvent.action == "holiday_set")).first()
            is not None
        )
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
    from sqlmodel import Session, select

    from models.tables import AuditEvent

    with Session(seeded_engine) as s:
        row = s.exec(
            select(AuditEvent).where(AuditEvent.action == "availability_set")
        ).one()
    assert row.after == {"absent": True, "backup_username": "county2"}
