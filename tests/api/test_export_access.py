"""Who may take a case's raw history out of the system: the API export and the evidence
pack answer auditors, managers and admins (403 for clerks, even of the case's own unit),
and every export leaves an audit row (who, which case, when; not the history)."""

from __future__ import annotations

import json

import pytest_asyncio
from sqlmodel import Session, select

from models.tables import AuditEvent
from tests.api.page_login import page_login
from tests.support import open_task
from worker import build_worker


@pytest_asyncio.fixture
async def running_worker(client, settings, seeded_engine):
    async with build_worker(client, settings, seeded_engine) as w:
        yield w


def _exports(engine) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(AuditEvent)
                .where(AuditEvent.action.in_(["history_exported", "evidence_exported"]))
                .order_by(AuditEvent.id)
            ).all()
        )


async def test_history_export_and_evidence_pack_roles_and_audit(
    http, auth, seeded_engine, running_worker
):
    village = await auth("village")
    vet = (
        await http.get("/api/veterans", params={"q": "张伟"}, headers=village)
    ).json()["data"][0]
    case_id = (
        await http.post(
            "/api/cases",
            json={"process": "return_home", "veteran_id": vet["id"]},
            headers=village,
        )
    ).json()["id"]
    await open_task(seeded_engine, case_id, "file_receipt")
    url = f"/api/cases/{case_id}/history/export"

    # Clerks who can see the case, and a clerk of another township: 403, no export.
    for clerk in ("village", "township", "county", "township2"):
        r = await http.get(url, headers=await auth(clerk))
        assert r.status_code == 403, (clerk, r.text)
    # The timeline in words stays open to the case's clerks.
    assert (
        await http.get(f"/api/cases/{case_id}/history", headers=village)
    ).status_code == 200
    assert _exports(seeded_engine) == []

    # Manager and auditor export; each export is one audit row without the history.
    for who in ("manager", "auditor"):
        r = await http.get(url, headers=await auth(who))
        assert r.status_code == 200, r.text
        assert r.json()["events"] and r.headers["X-History-SHA256"]
    rows = _exports(seeded_engine)
    assert [(r.actor, r.action, r.case_id) for r in rows] == [
        ("manager", "history_exported", case_id),
        ("auditor", "history_exported", case_id),
    ]
    for row in rows:
        assert {"source", "sha256"} <= set(row.after or {})
        assert "events" not in json.dumps(row.after) and row.at is not None
        assert row.request_id

    # The evidence pack (a page route): the same roles.
    zip_url = f"/audit/cases/{case_id}/evidence.zip"
    for clerk in ("village", "county"):
        http.cookies.clear()
        await page_login(http, clerk)
        assert (await http.get(zip_url)).status_code == 403
    http.cookies.clear()
    await page_login(http, "manager")
    r = await http.get(zip_url)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    last = _exports(seeded_engine)[-1]
    assert (last.actor, last.action, last.case_id) == (
        "manager",
        "evidence_exported",
        case_id,
    )
    assert "events" not in json.dumps(last.after)
    assert len(_exports(seeded_engine)) == 3
