"""Incidents over HTTP: who sees which (managers and admins of the subtree only), the
filters, the retry endpoint's refusals, the /incidents page with its CSRF-protected
Retry button, and the dashboard's new figures (SQLite, and PostgreSQL when configured).

Incident rows are written directly into the demo organisation; the end-to-end retry of
a really stuck workflow lives with the workflow tests."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlmodel import Session, select

from models.demo import DEMO_PASSWORD
from models.passwords import hash_password
from models.tables import (
    Account,
    AuditEvent,
    Case,
    HumanTask,
    Incident,
    OrgUnit,
    Veteran,
)
from worker import build_worker

T0 = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
# Incidents: id -> (unit code, status, case id, hours after T0).
INCIDENTS = {
    "inc-dg-1": ("sfx-cgz-dgc", "open", "case-dg", 1),  # 东关村 under 城关镇
    "inc-cg-1": ("sfx-cgz", "open", "case-cg", 3),  # 城关镇
    "inc-cg-old": ("sfx-cgz", "resolved", "case-cg", 0),
    "inc-ng-1": ("sfx-ngz-ngc", "open", "case-ng", 2),  # 南关村 under 南关镇
    "inc-county": ("sfx", "open", "case-county", 4),  # the county centre itself
}


@pytest.fixture
def units(seeded_engine) -> dict[str, OrgUnit]:
    """The incidents above, and a manager of 南关镇 (`ngmanager`)."""
    with Session(seeded_engine, expire_on_commit=False) as s:
        units = {u.code: u for u in s.exec(select(OrgUnit)).all()}
        for iid, (code, status, case_id, hours) in INCIDENTS.items():
            unit = units[code]
            s.add(
                Incident(
                    id=iid,
                    case_id=case_id,
                    workflow_id=f"wf-{case_id}",
                    process="return_home",
                    step="information_collection",
                    activity="open_task",
                    error_type="UnknownOrgUnit",
                    message=f"机构 {code} 不存在",
                    org_unit_id=unit.id,
                    org_path=unit.path,
                    status=status,
                    opened_at=T0 + timedelta(hours=hours),
                    retried_by="manager" if status == "resolved" else None,
                    resolved_at=T0 + timedelta(hours=5)
                    if status == "resolved"
                    else None,
                )
            )
        s.add(
            Account(
                username="ngmanager",
                display_name="南关镇主任",
                password_hash=hash_password(DEMO_PASSWORD),
                roles=["manager"],
                org_unit_id=units["sfx-ngz"].id,
            )
        )
        s.commit()
        return units


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["data"])
    return [i["id"] for i in body["data"]]


async def test_managers_see_their_subtree_newest_first(http, auth, units):
    manager = await auth("manager")  # county centre: the whole county
    r = await http.get("/api/incidents", headers=manager)
    assert ids(r) == ["inc-county", "inc-cg-1", "inc-ng-1", "inc-dg-1"]
    first = r.json()["data"][0]
    assert first == {
        "id": "inc-county",
        "case_id": "case-county",
        "workflow_id": "wf-case-county",
        "process": "return_home",
        "step": "information_collection",
        "activity": "open_task",
        "error_type": "UnknownOrgUnit",
        "message": "机构 sfx 不存在",
        "org_unit_id": units["sfx"].id,
        "status": "open",
        "opened_at": first["opened_at"],
        "retried_by": None,
        "resolved_at": None,
    }
    assert datetime.fromisoformat(first["opened_at"]).replace(
        tzinfo=UTC
    ) == T0 + timedelta(hours=4)
    resolved = await http.get(
        "/api/incidents", params={"status": "resolved"}, headers=manager
    )
    assert ids(resolved) == ["inc-cg-old"]
    assert resolved.json()["data"][0]["retried_by"] == "manager"
    by_case = await http.get(
        "/api/incidents", params={"case_id": "case-cg"}, headers=manager
    )
    assert ids(by_case) == ["inc-cg-1"]  # open by default
    admin = await http.get("/api/incidents", headers=await auth("admin"))
    assert ids(admin) == ids(r)
    assert (
        await http.get("/api/incidents", params={"status": "all"}, headers=manager)
    ).status_code == 422


async def test_a_township_manager_sees_only_the_township(http, auth, units):
    ng = await auth("ngmanager")
    assert ids(await http.get("/api/incidents", headers=ng)) == ["inc-ng-1"]
    # 城关镇's incidents, and the county's above, do not exist for 南关镇.
    assert (
        ids(await http.get("/api/incidents", params={"case_id": "case-cg"}, headers=ng))
        == []
    )
    for iid in ("inc-cg-1", "inc-dg-1", "inc-county"):
        r = await http.post(f"/api/incidents/{iid}/retry", headers=ng)
        assert r.status_code == 404, r.text
    assert (
        await http.post("/api/incidents/no-such-incident/retry", headers=ng)
    ).status_code == 404


@pytest.mark.parametrize("username", ["township2", "county", "village", "auditor"])
async def test_other_roles_get_403(http, auth, units, username):
    headers = await auth(username)
    listed = await http.get("/api/incidents", headers=headers)
    assert listed.status_code == 403 and "manager" in listed.json()["detail"]
    # Even for an incident of their own subtree.
    retried = await http.post("/api/incidents/inc-ng-1/retry", headers=headers)
    assert retried.status_code == 403


async def test_retry_when_the_workflow_is_gone_is_409_and_not_audited(
    http, auth, units, seeded_engine
):
    """The row names a workflow Temporal does not know (the case has ended)."""
    r = await http.post("/api/incidents/inc-cg-1/retry", headers=await auth("manager"))
    assert r.status_code == 409, r.text
    assert r.json()["detail"]["type"] == "CaseClosed"
    with Session(seeded_engine) as s:
        assert not s.exec(
            select(AuditEvent).where(AuditEvent.action == "incident_retry_requested")
        ).all()


@pytest_asyncio.fixture
async def running_worker(client, settings, seeded_engine):
    async with build_worker(client, settings, seeded_engine) as w:
        yield w


async def test_retry_refused_by_the_workflow_validator(
    http, auth, units, seeded_engine, running_worker
):
    """A running case that has no such incident: the Update's validator answers
    IncidentNotFound, which is 404."""
    county = await auth("county")
    with Session(seeded_engine) as s:
        vet = s.exec(
            select(Veteran).where(Veteran.org_unit_id == units["sfx-cgz-dgc"].id)
        ).first()
    r = await http.post(
        "/api/cases",
        json={"process": "return_home", "veteran_id": vet.id},
        headers=county,
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    with Session(seeded_engine) as s:
        row = s.get(Incident, "inc-dg-1")
        row.workflow_id = case_id
        s.add(row)
        s.commit()
    r = await http.post("/api/incidents/inc-dg-1/retry", headers=await auth("manager"))
    assert r.status_code == 404, r.text
    assert r.json()["detail"]["type"] == "IncidentNotFound"


# --- pages ------------------------------------------------------------------------


async def login(http, username: str) -> str:
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
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)


async def test_incident_page_lists_and_retries_with_csrf(http, units):
    token = await login(http, "manager")
    page = await http.get("/incidents")
    assert page.status_code == 200
    listed = re.findall(r'data-incident="([^"]+)"', page.text)
    assert listed == ["inc-county", "inc-cg-1", "inc-ng-1", "inc-dg-1"]
    assert page.text.count('class="primary retry"') == 4
    assert 'action="/incidents/inc-cg-1/retry"' in page.text
    resolved = await http.get("/incidents", params={"status": "resolved"})
    assert re.findall(r'data-incident="([^"]+)"', resolved.text) == ["inc-cg-old"]
    assert 'class="primary retry"' not in resolved.text

    # No CSRF token: refused before anything happens.
    assert (await http.post("/incidents/inc-cg-1/retry")).status_code == 403
    # The workflow is gone: the list again, with the refusal as its error line.
    refused = await http.post("/incidents/inc-cg-1/retry", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "flash error" in refused.text and "案件流程已结束" in refused.text
    assert 'data-incident="inc-cg-1"' in refused.text
    # Not in the subtree: the error page.
    http.cookies.clear()
    token = await login(http, "ngmanager")
    missing = await http.post("/incidents/inc-cg-1/retry", data={"csrf_token": token})
    assert missing.status_code == 404 and 'id="error-page"' in missing.text
    assert re.findall(
        r'data-incident="([^"]+)"', (await http.get("/incidents")).text
    ) == ["inc-ng-1"]


async def test_incident_page_is_for_managers(http, units):
    token = await login(http, "township")
    page = await http.get("/incidents")
    assert page.status_code == 403 and 'id="error-page"' in page.text
    retry = await http.post("/incidents/inc-cg-1/retry", data={"csrf_token": token})
    assert retry.status_code == 403


async def test_dashboard_shows_incidents_failed_notices_and_escalations(
    http, units, seeded_engine
):
    """Exact figures of the county's and 南关镇's dashboards, with their links."""
    with Session(seeded_engine) as s:
        vet = s.exec(select(Veteran)).first()
        cg, ng, county = units["sfx-cgz"], units["sfx-ngz-ngc"], units["sfx"]
        s.add(
            Case(
                id="case-1",
                workflow_id="case-1",
                process="return_home",
                veteran_id=vet.id,
                org_unit_id=cg.id,
                org_path=cg.path,
            )
        )
        s.flush()
        # id: (step, unit, status, escalation level)
        tasks = {
            "t-nf-1": ("notice_failed", cg, "open", 0),
            "t-nf-2": ("staff_notice_failed", ng, "open", 1),
            "t-nf-3": ("notice_failed", cg, "completed", 0),
            "t-esc-1": ("township_review", cg, "open", 1),
            "t-esc-2": ("county_review", county, "open", 2),
            "t-esc-3": ("county_review", county, "open", 3),
            "t-esc-x": ("county_review", county, "completed", 3),
        }
        for tid, (step, unit, status, level) in tasks.items():
            s.add(
                HumanTask(
                    id=tid,
                    case_id="case-1",
                    workflow_id="case-1",
                    process="notice" if "notice" in step else "return_home",
                    step=step,
                    title=step,
                    candidate_role="county_staff",
                    org_unit_id=unit.id,
                    org_path=unit.path,
                    status=status,
                    escalation_level=level,
                )
            )
        s.commit()

    await login(http, "manager")
    page = await http.get("/dashboard")
    assert page.status_code == 200

    def kpi(html: str, kpi_id: str) -> tuple[str, int]:
        m = re.search(
            rf'<a class="[^"]*" href="([^"]*)" id="{kpi_id}"><div class="v">(\d+)</div>',
            html,
        )
        assert m, kpi_id
        return m.group(1), int(m.group(2))

    assert kpi(page.text, "kpi-incidents") == ("/incidents", 4)
    href, n = kpi(page.text, "kpi-failed-notices")
    assert n == 2 and href == "/dashboard/tasks?step=notice_failed,staff_notice_failed"
    assert [kpi(page.text, f"kpi-escalated-{r}")[1] for r in (1, 2, 3)] == [4, 2, 1]

    # Each figure's link lists the tasks behind it.
    def listed(html: str) -> set[str]:
        return set(re.findall(r'data-task="([^"]+)"', html))

    assert listed((await http.get(href)).text) == {"t-nf-1", "t-nf-2"}
    esc2 = await http.get(kpi(page.text, "kpi-escalated-2")[0])
    assert listed(esc2.text) == {"t-esc-2", "t-esc-3"}

    # 南关镇's manager: only 南关村's incident, notice and escalated task.
    http.cookies.clear()
    await login(http, "ngmanager")
    page = await http.get("/dashboard")
    assert kpi(page.text, "kpi-incidents")[1] == 1
    assert kpi(page.text, "kpi-failed-notices")[1] == 1
    assert [kpi(page.text, f"kpi-escalated-{r}")[1] for r in (1, 2, 3)] == [1, 0, 0]


async def test_dashboard_texts_in_english(http, units):
    token = await login(http, "manager")
    await http.post(
        "/settings/language",
        data={"locale": "en", "next": "/dashboard", "csrf_token": token},
    )
    page = await http.get("/dashboard")
    for text in (
        "Incidents awaiting retry",
        "Failed notices awaiting a clerk",
        "Escalated to rung 3 or higher",
    ):
        assert text in page.text
    incidents = await http.get("/incidents")
    assert "Awaiting retry" in incidents.text and ">Retry<" in incidents.text
