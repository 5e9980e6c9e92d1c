"""Complaints over HTTP with a real worker: staff register a window complaint and
petitions (POST /api/cases), read them (GET /api/complaints/{id}: the party masked,
revealed only to a reader who may and audited), record 复查/复核 requests, and a case's
exclusions hide it from a reported person and a reported unit in every read
(信访工作条例 第二十、三十、三十六条)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
import pytest_asyncio
from sqlmodel import Session, col, select
from structlog.testing import capture_logs

from api.complaint_identity import AUDIT_ACTION
from models.idnumber import make_id_number
from models.tables import (
    AuditEvent,
    Case,
    CaseExclusion,
    Complaint,
    ComplaintParty,
    OrgUnit,
    Veteran,
)
from tests.api.page_login import page_login
from tests.support import open_task, wait_for
from worker import build_worker

ID_NUMBER = make_id_number("110101", date(1990, 5, 17), "123")
NAME, PHONE = "王小明", "13800138000"


@pytest_asyncio.fixture
async def running_worker(client, settings, seeded_engine):
    async with build_worker(client, settings, seeded_engine) as w:
        yield w


def units(engine) -> dict[str, OrgUnit]:
    with Session(engine) as s:
        return {u.code: u for u in s.exec(select(OrgUnit)).all()}


def form(**extra: Any) -> dict[str, Any]:
    return {
        "channel": "window",
        "category": "attitude",
        "matter": "窗口人员态度生硬",
        "received_on": "2026-03-02",
        "complainant_name": NAME,
        "complainant_phone": PHONE,
        "complainant_id_number": ID_NUMBER,
        **extra,
    }


def complaint_row(engine, case_id: str) -> Complaint | None:
    with Session(engine) as s:
        return s.get(Complaint, case_id)


def rows(engine, model: Any, *where: Any) -> list[Any]:
    with Session(engine) as s:
        return list(s.exec(select(model).where(*where)).all())


async def test_registration_identity_exclusions_duplicates_and_requests(
    http, auth, app, seeded_engine, running_worker
):
    u = units(seeded_engine)
    cg, ng, county_unit = u["sfx-cgz"], u["sfx-ngz"], u["sfx"]
    county, township, leader, auditor, county2, township2 = [
        await auth(n)
        for n in ("county", "township", "leader", "auditor", "county2", "township2")
    ]

    async def start(headers, org_unit_id, data, **extra) -> httpx.Response:
        body = {"process": "complaint", "org_unit_id": org_unit_id, "data": data}
        return await http.post("/api/cases", json={**body, **extra}, headers=headers)

    # --- a window complaint, handled by 城关镇 --------------------------------------
    with capture_logs() as logs:
        r = await start(county, cg.id, form())
        assert r.status_code == 201, r.text
        window = r.json()["id"]
        row = await wait_for(lambda: complaint_row(seeded_engine, window))
        await open_task(seeded_engine, window, "verify")
    assert r.json()["veteran_id"] is None and r.json()["org_unit_id"] == cg.id
    assert "-complaint-" in window
    logged = json.dumps(logs, ensure_ascii=False, default=str)
    assert window in logged and not any(x in logged for x in (NAME, PHONE, ID_NUMBER))
    case = rows(seeded_engine, Case, Case.id == window)[0]
    assert (case.org_unit_id, case.org_path, case.veteran_id) == (cg.id, cg.path, None)
    secrets = (NAME, PHONE, ID_NUMBER)
    assert not any(x in json.dumps(case.data, ensure_ascii=False) for x in secrets)
    shown = await http.get(f"/api/cases/{window}", headers=township)
    assert shown.status_code == 200
    assert not any(x in shown.text for x in secrets)
    assert row.channel == "window" and row.org_unit_id == cg.id
    # The party: masked for the township clerk, also without asking to reveal.
    r = await http.get(f"/api/complaints/{window}", headers=township)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["channel_label"] == "窗口投诉" and body["category_label"] == "服务态度"
    assert body["ledger"] and body["may_reveal"] is True
    party = body["party"]
    assert party["masked"] is True and party["name"] == "王**"
    assert party["phone"] == "138****8000"
    assert party["id_number"] == ID_NUMBER[:4] + "*" * 10 + ID_NUMBER[-4:]
    assert not any(x in r.text for x in secrets)
    # Revealed for the leader, audited; an auditor's role may not: 403, audited too.
    r = await http.get(f"/api/complaints/{window}?reveal=true", headers=leader)
    assert r.status_code == 200, r.text
    assert r.json()["party"] == {
        **r.json()["party"],
        "masked": False,
        "name": NAME,
        "phone": PHONE,
        "id_number": ID_NUMBER,
    }
    r = await http.get(f"/api/complaints/{window}?reveal=true", headers=auditor)
    assert r.status_code == 403
    reads = rows(seeded_engine, AuditEvent, col(AuditEvent.action) == AUDIT_ACTION)
    assert [(a.actor, a.case_id, a.after) for a in reads] == [
        ("leader", window, {"revealed": True}),
        ("auditor", window, {"refused": "role"}),
    ]
    # Another township's clerk: not in their subtree.
    r = await http.get(f"/api/complaints/{window}", headers=township2)
    assert r.status_code == 404

    # --- 检举控告 of 南关镇 and of county2, handled by the county ----------------------
    report = form(
        channel="petition",
        kind="report",
        category="rights",
        reported_unit_id=ng.id,
        reported_person="county2",
        complainant_phone="13900001111",
    )
    r = await start(county, county_unit.id, report)
    assert r.status_code == 201, r.text
    informant = r.json()["id"]
    task = await open_task(seeded_engine, informant, "acceptance_decision")
    case = rows(seeded_engine, Case, Case.id == informant)[0]
    assert case.data["recused"] == ["county2"]
    assert "county2" not in json.dumps(case.data["matter"])
    assert {
        (e.username, e.org_path) for e in case_exclusions(seeded_engine, informant)
    } == {
        ("county2", None),
        (None, ng.path),
    }
    # The county sees it; the reported person never: case, task, lists, inbox.
    assert (
        await http.get(f"/api/cases/{informant}", headers=county)
    ).status_code == 200
    assert (await http.get(f"/api/tasks/{task.id}", headers=county)).status_code == 200
    for path in (
        f"/api/cases/{informant}",
        f"/api/tasks/{task.id}",
        f"/api/complaints/{informant}",
        f"/api/cases/{informant}/history",
    ):
        assert (await http.get(path, headers=county2)).status_code == 404, path
    for path in ("/api/cases?limit=500", "/api/tasks?limit=500"):
        listed = await http.get(path, headers=county2)
        assert listed.status_code == 200 and informant not in listed.text
        assert informant in (await http.get(path, headers=county)).text
    for who, sees in (("county", True), ("county2", False)):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as page:
            await page_login(page, who)
            inbox = await page.get("/inbox/list?tab=claimable")
            assert inbox.status_code == 200 and (informant in inbox.text) is sees
            found = await page.get("/cases?q=complaint")
            assert found.status_code == 200 and (informant in found.text) is sees
    # The reported unit's clerk: the case lies outside their unit anyway.
    for who in (township2,):
        assert (
            await http.get(f"/api/cases/{informant}", headers=who)
        ).status_code == 404

    # The unit rule itself: a unit excluded from the window complaint hides it from
    # that unit's clerks and the units below, not from the units above.
    with Session(seeded_engine) as s:
        s.add(CaseExclusion(case_id=window, org_path=cg.path, reason="test"))
        s.commit()
    village = await auth("village")
    for who in (township, village):
        assert (await http.get(f"/api/cases/{window}", headers=who)).status_code == 404
        listed = await http.get("/api/cases?limit=500", headers=who)
        assert window not in listed.text
    assert (await http.get(f"/api/cases/{window}", headers=county)).status_code == 200

    # Handled by the reported unit, or inside it: refused.
    for handling in (ng.id, u["sfx-ngz-ngc"].id):
        r = await start(county, handling, report)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "org_unit_id"]
        assert "被检举单位以外的上级机关" in r.json()["detail"][0]["msg"]

    # --- bad registrations --------------------------------------------------------
    group = form(
        channel="petition",
        kind="claim",
        visitors=12,
        representatives=[{"name": f"代表{i}"} for i in range(6)],
    )
    r = await start(county, cg.id, group)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "data", "representatives"]
    r = await start(county, None, form())
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "org_unit_id"]
    r = await http.post(
        "/api/cases", json={"process": "return_home", "data": {}}, headers=county
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == [
        "body",
        "veteran_id",
    ]
    r = await start(township, ng.id, form())  # not the township's subtree
    assert r.status_code == 404
    with Session(seeded_engine) as s:
        ng_vet = s.exec(
            select(Veteran).where(Veteran.org_unit_id == u["sfx-ngz-ngc"].id)
        ).first()
    assert ng_vet is not None
    r = await start(township, cg.id, form(complainant_veteran_id=ng_vet.id))
    assert r.status_code == 404
    r = await start(auditor, cg.id, form())
    assert r.status_code == 403

    # --- the same matter again: linked while open, refused after 复核 ---------------
    petition = form(channel="petition", kind="claim", category="benefits")
    r = await start(county, cg.id, petition)
    assert r.status_code == 201, r.text
    first = r.json()["id"]
    await wait_for(lambda: complaint_row(seeded_engine, first))
    r = await start(county, cg.id, {**petition, "matter": "同一事项再次反映"})
    assert r.status_code == 201, r.text
    assert r.json()["related_case_id"] == first
    second = r.json()["id"]
    again = await wait_for(lambda: complaint_row(seeded_engine, second))
    assert again.related_case_id == first
    with Session(seeded_engine) as s:
        earlier = s.get(Complaint, first)
        assert earlier is not None
        earlier.final = True
        s.add(earlier)
        s.commit()
    r = await start(county, cg.id, petition)
    assert r.status_code == 409
    assert r.json()["detail"]["case_id"] == first
    assert "第三十六条" in r.json()["detail"]["message"]

    # --- a 复查 request while none is awaited; who may record one --------------------
    request = {"kind": "review", "received_on": "2026-04-01", "reason": "不服处理意见"}
    url = f"/api/complaints/{first}/requests"
    r = await http.post(url, json=request, headers=county)
    assert r.status_code == 409 and r.json()["detail"]["type"] == "NotAwaitingRequest"
    assert (await http.post(url, json=request, headers=auditor)).status_code == 403
    assert (await http.post(url, json=request, headers=township2)).status_code == 404

    # Nothing anywhere in the trail names a complainant.
    trail = rows(seeded_engine, AuditEvent, col(AuditEvent.id).is_not(None))
    dumped = json.dumps(
        [[a.before, a.after, a.entity_id] for a in trail], ensure_ascii=False
    )
    assert not any(x in dumped for x in (*secrets, "13900001111"))
    parties = rows(seeded_engine, ComplaintParty, ComplaintParty.case_id == informant)
    assert parties[0].reported_person == "county2"


def case_exclusions(engine, case_id: str) -> list[CaseExclusion]:
    return rows(engine, CaseExclusion, CaseExclusion.case_id == case_id)


async def test_a_retried_registration_with_an_idempotency_key_opens_one_case(
    http, auth, client, seeded_engine, running_worker
):
    """A client retries after a 503 whose first try went through: with the same
    Idempotency-Key (same caller, same body) it gets the case the first try opened."""
    cg = units(seeded_engine)["sfx-cgz"]
    county, county2 = await auth("county"), await auth("county2")
    body = {"process": "complaint", "org_unit_id": cg.id, "data": form()}

    async def start(headers, key: str, payload=body) -> httpx.Response:
        return await http.post(
            "/api/cases", json=payload, headers={**headers, "Idempotency-Key": key}
        )

    first = await start(county, "retry-key-0001")
    assert first.status_code == 201, first.text
    case_id = first.json()["id"]
    await wait_for(lambda: complaint_row(seeded_engine, case_id))
    first_run = await client.get_workflow_handle(case_id).describe()
    again = await start(county, "retry-key-0001")
    assert again.status_code == 201, again.text
    assert again.json() == first.json()  # the same answer, related to nothing
    assert first.json()["related_case_id"] is None
    assert (
        len(rows(seeded_engine, ComplaintParty, ComplaintParty.case_id == case_id)) == 1
    )
    assert len(rows(seeded_engine, Case, Case.id == case_id)) == 1
    # The retry started nothing: the case is the first try's run, the only one here.
    run = await client.get_workflow_handle(case_id).describe()
    assert run.run_id == first_run.run_id
    complaints_here = rows(
        seeded_engine, Case, Case.process == "complaint", Case.org_unit_id == cg.id
    )
    assert [c.id for c in complaints_here] == [case_id]
    # Another caller, another body or another key: another request, another case.
    other_caller = await start(county2, "retry-key-0001")
    other_body = await start(
        county, "retry-key-0001", {**body, "data": form(matter="另一件事")}
    )
    other_key = await start(county, "retry-key-0002")
    ids = {r.json()["id"] for r in (other_caller, other_body, other_key)}
    assert all(r.status_code == 201 for r in (other_caller, other_body, other_key))
    assert len(ids) == 3 and case_id not in ids
    # A malformed key is refused at once, naming the header.
    bad = await start(county, "no spaces allowed")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
