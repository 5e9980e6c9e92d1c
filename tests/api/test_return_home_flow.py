"""A whole return-home case driven only through the HTTP API with the demo accounts,
on the real Temporal dev server and the real database."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

import pytest_asyncio
from sqlmodel import Session, select

from models.processes.return_home import (
    EARLY_STEPS,
    ONE_STOP_DESKS_V2,
    ONE_STOP_KEYS_V2,
)
from models.tables import HistoryArchive, Notice, Veteran
from tests.api.page_login import page_login
from tests.return_home_forms import FILING, INFO, RECEIPT, REPORT, VISIT, WELCOME
from tests.support import SQLITE_ONLY, desk_clerk, record_history, wait_for
from worker import build_worker


@pytest_asyncio.fixture
async def running_worker(client, settings, seeded_engine):
    async with build_worker(client, settings, seeded_engine) as w:
        yield w


def demo_veteran(engine, *, party_member: bool) -> int:
    with Session(engine) as s:
        for v in s.exec(select(Veteran).order_by(Veteran.id)).all():
            if v.party_member == party_member and "东关村" in _unit_name(
                s, v.org_unit_id
            ):
                return v.id or 0
    raise AssertionError("no such demo veteran")


def _unit_name(s, unit_id):
    from models.tables import OrgUnit

    unit = s.get(OrgUnit, unit_id)
    return unit.name if unit else ""


class Clerk:
    """One logged-in demo account talking to the API."""

    def __init__(self, http, headers, username):
        self.http, self.headers, self.username = http, headers, username

    async def open_task(self, case_id: str, step: str) -> dict:
        async def find():
            r = await self.http.get(
                "/api/tasks",
                params={"case_id": case_id, "status": "open"},
                headers=self.headers,
            )
            assert r.status_code == 200, r.text
            found = [t for t in r.json()["data"] if t["step"] == step]
            return found[-1] if found else None

        return await _poll(find)

    async def complete(
        self,
        case_id: str,
        step: str,
        outcome: str,
        data: dict | None = None,
        comment: str = "",
    ) -> dict:
        task = await self.open_task(case_id, step)
        r = await self.http.post(
            f"/api/tasks/{task['id']}/complete",
            json={"outcome": outcome, "data": data or {}, "comment": comment},
            headers=self.headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "completed"
        # The answer is built from the row read before the Update and the recorded
        # completion, not read again: it is the projection's row, field for field.
        again = await self.http.get(f"/api/tasks/{task['id']}", headers=self.headers)
        assert again.json() == r.json()
        return r.json()


async def _poll(fn, timeout: float = 20.0):
    for _ in range(int(timeout / 0.1)):
        value = await fn()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def clerks(http, auth, *names):
    return [Clerk(http, await auth(n), n) for n in names]


async def desk_clerks(http, auth) -> dict[str, Clerk]:
    """Each one-stop desk's own clerk (组织部, 团委, 人社局, …), by step key."""
    roles = {key: role for key, _title, role, _clause in ONE_STOP_DESKS_V2}
    roles |= {"party_transfer": "desk_party", "league_transfer": "desk_league"}
    return {
        step: Clerk(http, await auth(desk_clerk(role)), desk_clerk(role))
        for step, role in roles.items()
    }


async def test_full_return_home_case_over_http(
    http, auth, seeded_engine, running_worker, client
):
    county, village, township, city, auditor = await clerks(
        http, auth, "county", "village", "township", "city", "auditor"
    )
    desks = await desk_clerks(http, auth)
    vid = demo_veteran(seeded_engine, party_member=True)
    r = await http.post(
        "/api/cases",
        json={"process": "return_home", "veteran_id": vid, "data": {}},
        headers=county.headers,
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    assert r.json()["workflow_id"] == case_id and r.json()["status"] == "running"

    # The same veteran cannot have two open return-home cases.
    await county.open_task(case_id, "file_receipt")
    dup = await http.post(
        "/api/cases",
        json={"process": "return_home", "veteran_id": vid},
        headers=county.headers,
    )
    assert dup.status_code == 409

    # The personnel file comes first (003 §6.9.2.2), received by the first handler.
    await county.complete(case_id, "file_receipt", "received", RECEIPT)
    await county.complete(
        case_id,
        "archive_review",
        "return_for_correction",
        {"missing_materials": ["户口本", "近期免冠照片"], "file_gaps": ["入伍登记表"]},
    )
    # 003 §7.8.3: the veteran's materials go back to the clerk who first handled the
    # case; 003 §6.9.2.2: the file's gaps are requested from the sending unit.
    supplement = await county.open_task(case_id, "supplement_materials")
    assert supplement["assignee"] == "county"
    assert supplement["context"]["requested_materials"] == ["户口本", "近期免冠照片"]
    gap = await county.open_task(case_id, "file_gap_request")
    assert gap["context"]["requested_materials"] == ["入伍登记表"]
    assert gap["context"]["sending_unit"] == "某部政治工作部"
    await county.complete(
        case_id,
        "supplement_materials",
        "submitted",
        {"received_materials": ["户口本", "近期免冠照片"]},
    )
    await county.complete(
        case_id,
        "file_gap_request",
        "received",
        {
            "sending_unit": "某部政治工作部",
            "requested_on": "2026-11-03",
            "received_materials": ["入伍登记表"],
            "transfer_means": "机要交通",
            "received_on": "2026-11-06",
        },
    )
    second = await county.open_task(case_id, "archive_review")
    assert second["round"] == 2
    await county.complete(case_id, "archive_review", "approve")

    # Approved: the welcome, the home visit and the filing open at once beside the
    # party transfer at the 组织部 desk.
    await county.open_task(case_id, "welcome")
    await village.open_task(case_id, "home_visit")
    await county.open_task(case_id, "file_filing")
    # Registration is not offered before the party transfer is done (001 第七条).
    await desks["party_transfer"].open_task(case_id, "party_transfer")
    r = await http.get(
        "/api/tasks", params={"case_id": case_id}, headers=county.headers
    )
    assert not {"registration", "information_collection"} & {
        t["step"] for t in r.json()["data"]
    }
    await desks["party_transfer"].complete(
        case_id,
        "party_transfer",
        "done",
        {
            "receiving_organisation": "东关村党支部",
            "letter_number": "Z-1",
            "transferred_on": "2026-11-20",
        },
    )
    await county.complete(
        case_id,
        "registration",
        "done",
        {"registration_number": "BD-9", "reported_on": "2026-11-21"},
    )

    # The one-stop desks and the adaptive training are open together; information
    # collection waits for them (003 §6.2.2).
    async def all_desks_open():
        r = await http.get(
            "/api/tasks",
            params={"case_id": case_id, "status": "open"},
            headers=county.headers,
        )
        steps = {t["step"] for t in r.json()["data"]}
        return steps if set(ONE_STOP_KEYS_V2) | {"adaptive_training"} <= steps else None

    assert "information_collection" not in await _poll(all_desks_open)
    for step in ONE_STOP_KEYS_V2:
        if step == "reserve":
            await desks[step].complete(
                case_id, step, "not_applicable", {"reason": "不属于预备役登记范围"}
            )
        else:
            await desks[step].complete(
                case_id, step, "done", {"reference": f"{step}-001"}
            )
    await county.complete(
        case_id,
        "adaptive_training",
        "enrolled",
        {"offered_on": "2026-11-21", "session": "2026年第4期适应性培训班"},
    )

    # Information collection, reviewed level by level up to the city (003 §6.1.4).
    await village.complete(case_id, "information_collection", "submitted", INFO)
    await township.complete(
        case_id, "township_review", "return", {"reasons": ["伤残等级未填写"]}
    )
    again = await village.open_task(case_id, "information_collection")
    assert again["context"]["returned_reasons"] == ["伤残等级未填写"]
    await village.complete(
        case_id,
        "information_collection",
        "submitted",
        {**INFO, "disability_level": "无"},
    )
    await township.complete(case_id, "township_review", "approve")
    await county.complete(case_id, "county_review", "approve")
    await city.complete(case_id, "city_review", "approve")
    await city.complete(case_id, "report_to_province", "reported", REPORT)
    await village.complete(case_id, "home_visit", "done", VISIT)
    await county.complete(case_id, "welcome", "done", WELCOME)
    await county.complete(case_id, "file_filing", "done", FILING)

    async def closed():
        r = await http.get(f"/api/cases/{case_id}", headers=county.headers)
        return r.json() if r.json()["status"] == "closed" else None

    detail = await _poll(closed)
    assert detail["open_steps"] == []
    assert {t["step"] for t in detail["tasks"]} >= {
        "file_receipt",
        "archive_review",
        "file_gap_request",
        *EARLY_STEPS,
        *ONE_STOP_KEYS_V2,
        "adaptive_training",
        "city_review",
        "report_to_province",
    }

    # Notices travel on their own workflows, off the case's path: the summary may
    # land just after the case closed.
    async def summarised():
        r = await http.get(f"/api/cases/{case_id}", headers=county.headers)
        kinds = {n["kind"] for n in r.json()["notices"]}
        return kinds if {"correction_request", "case_summary"} <= kinds else None

    assert await _poll(summarised)

    timeline = (
        await http.get(f"/api/cases/{case_id}/history", headers=auditor.headers)
    ).json()
    texts = [e["text"] for e in timeline]
    assert any("档案审核" in t and "退回补正" in t for t in texts)
    assert any(e["actor"] == "township" and e["outcome"] == "return" for e in timeline)
    assert any(e["actor"] == "zuzhi" for e in timeline)  # the 组织部 desk's own clerk
    replay = (
        await http.post(f"/api/cases/{case_id}/replay", headers=auditor.headers)
    ).json()
    assert replay["ok"] is True and replay["event_count"] > 50
    await record_history(
        client.get_workflow_handle(case_id),
        "ReturnHomeWorkflow",
        "full_case_with_returns",
    )


async def test_errors_answer_401_404_409_422(http, auth, seeded_engine, running_worker):
    county, township2 = await clerks(http, auth, "county", "township2")
    assert (await http.get("/api/tasks")).status_code == 401
    assert (
        await http.get("/api/tasks/nope", headers=county.headers)
    ).status_code == 404
    bad = await http.post(
        "/api/cases", json={"process": "nope", "veteran_id": 1}, headers=county.headers
    )
    assert bad.status_code == 422 and "process" in str(bad.json())
    bad = await http.post(
        "/api/cases",
        json={
            "process": "return_home",
            "veteran_id": 1,
            "data": {"discharge_date": "not a date"},
        },
        headers=county.headers,
    )
    assert bad.status_code == 422 and "discharge_date" in str(bad.json())

    vid = demo_veteran(seeded_engine, party_member=False)
    case_id = (
        await http.post(
            "/api/cases",
            json={"process": "return_home", "veteran_id": vid},
            headers=county.headers,
        )
    ).json()["id"]
    # The file's receipt waits in the pool for any county clerk: a plain claim.
    receipt = await county.open_task(case_id, "file_receipt")
    assert receipt["assignee"] is None
    r = await http.post(f"/api/tasks/{receipt['id']}/claim", headers=county.headers)
    assert r.status_code == 200 and r.json()["assignee"] == "county"
    await county.complete(case_id, "file_receipt", "received", RECEIPT)
    task = await county.open_task(case_id, "archive_review")
    url = f"/api/tasks/{task['id']}/complete"
    r = await http.post(
        url,
        json={"outcome": "return_for_correction", "data": {}},
        headers=county.headers,
    )
    assert r.status_code == 422 and "一次性" in str(r.json())
    r = await http.post(url, json={"outcome": "bogus"}, headers=county.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "outcome"]
    r = await http.post(
        url,
        json={"outcome": "approve", "data": {"surprise": 1}},
        headers=county.headers,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == [
        "body",
        "data",
        "surprise",
    ]
    # Another township's clerk neither sees nor completes it (404, not 403).
    assert (
        await http.get(f"/api/tasks/{task['id']}", headers=township2.headers)
    ).status_code == 404
    assert (
        await http.post(url, json={"outcome": "approve"}, headers=township2.headers)
    ).status_code == 404
    assert (
        await http.get(f"/api/cases/{case_id}", headers=township2.headers)
    ).status_code == 404
    listed = (await http.get("/api/tasks", headers=township2.headers)).json()
    assert all(t["case_id"] != case_id for t in listed["data"])
    # Held by a colleague: 409 naming the holder; a confirmed takeover works. The
    # review is the first handler's from the start (003 §7.8.3).
    county2 = (await clerks(http, auth, "county2"))[0]
    assert task["assignee"] == "county"
    r = await http.post(f"/api/tasks/{task['id']}/claim", headers=county2.headers)
    assert r.status_code == 409 and r.json()["detail"]["holder"] == "county"
    r = await http.post(
        f"/api/tasks/{task['id']}/claim", json={"force": True}, headers=county2.headers
    )
    assert r.status_code == 200 and r.json()["assignee"] == "county2"
    # Completing twice: the second answer is 409.
    assert (
        await http.post(url, json={"outcome": "approve"}, headers=county2.headers)
    ).status_code == 200
    assert (
        await http.post(url, json={"outcome": "approve"}, headers=county2.headers)
    ).status_code == 409


async def test_reassign_needs_a_supervisor_and_a_reason(
    http, auth, seeded_engine, running_worker
):
    county, manager = await clerks(http, auth, "county", "manager")
    vid = demo_veteran(seeded_engine, party_member=True)
    case_id = (
        await http.post(
            "/api/cases",
            json={"process": "return_home", "veteran_id": vid},
            headers=county.headers,
        )
    ).json()["id"]
    await county.complete(case_id, "file_receipt", "received", RECEIPT)
    task = await county.open_task(case_id, "archive_review")
    url = f"/api/tasks/{task['id']}/reassign"
    assert (
        await http.post(
            url, json={"username": "county2", "reason": "休假"}, headers=county.headers
        )
    ).status_code == 403
    assert (
        await http.post(
            url, json={"username": "county2", "reason": ""}, headers=manager.headers
        )
    ).status_code == 422
    assert (
        await http.post(
            url, json={"username": "village", "reason": "x"}, headers=manager.headers
        )
    ).status_code == 422
    assert (
        await http.post(
            url, json={"username": "ghost", "reason": "x"}, headers=manager.headers
        )
    ).status_code == 422
    r = await http.post(
        url,
        json={"username": "county2", "reason": "county 休假"},
        headers=manager.headers,
    )
    assert r.status_code == 200 and r.json()["assignee"] == "county2"
    # The same request again (a retry after a 503 whose Update went through): 409,
    # neither a second assignment nor a second task_assigned notice.
    again = await http.post(
        url,
        json={"username": "county2", "reason": "county 休假"},
        headers=manager.headers,
    )
    assert again.status_code == 409, again.text
    assert again.json()["detail"]["type"] == "AlreadyAssigned"
    assert again.json()["detail"]["holder"] == "county2"
    # The dashboard's bulk reassignment counts a task already the clerk's as done.
    csrf = await page_login(http, "manager")
    bulk = await http.post(
        "/dashboard/reassign",
        data={
            "task_id": task["id"],
            "username": "county2",
            "reason": "county 休假",
            "csrf_token": csrf,
        },
    )
    assert bulk.status_code == 303
    flash = unquote(bulk.headers["location"])
    assert "已转派 1 项" in flash and "失败" not in flash, flash
    r = await http.post(
        f"/api/tasks/{task['id']}/unclaim", headers=await auth("county2")
    )
    assert r.status_code == 200 and r.json()["assignee"] is None


@SQLITE_ONLY  # it waits for the dev server to delete the history (README, Testing)
async def test_closed_case_history_survives_temporal_deletion(
    http, auth, seeded_engine, running_worker, client
):
    """Temporal drops a closed case after its retention; the archive keeps it for auditors."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest

    county, village, township, city, auditor = await clerks(
        http, auth, "county", "village", "township", "city", "auditor"
    )
    desks = await desk_clerks(http, auth)
    vid = demo_veteran(seeded_engine, party_member=False)
    case_id = (
        await http.post(
            "/api/cases",
            json={"process": "return_home", "veteran_id": vid},
            headers=county.headers,
        )
    ).json()["id"]
    await county.complete(case_id, "file_receipt", "received", RECEIPT)
    await county.complete(case_id, "archive_review", "approve")
    await county.complete(case_id, "welcome", "done", WELCOME)
    await village.complete(case_id, "home_visit", "done", VISIT)
    await county.complete(case_id, "file_filing", "done", FILING)
    await county.complete(
        case_id,
        "registration",
        "done",
        {"registration_number": "BD-2", "reported_on": "2026-11-22"},
    )
    # 刘洋 receives monthly retirement pay: no 一次性经济补助 desk.
    for step in ONE_STOP_KEYS_V2:
        if step != "subsidy_preregistration":
            await desks[step].complete(case_id, step, "done", {"reference": "x"})
    await county.complete(
        case_id,
        "adaptive_training",
        "enrolled",
        {"offered_on": "2026-11-22", "session": "2026年第4期适应性培训班"},
    )
    await village.complete(
        case_id,
        "information_collection",
        "submitted",
        {
            **INFO,
            "hukou_address": "东关村3号",
            "political_status": "群众",
            "placement": "逐月领取退役金",
            "education": "本科",
        },
    )
    await township.complete(case_id, "township_review", "approve")
    await county.complete(case_id, "county_review", "approve")
    await city.complete(case_id, "city_review", "approve")
    await city.complete(case_id, "report_to_province", "reported", REPORT)

    def archived():
        with Session(seeded_engine) as s:
            return s.get(HistoryArchive, case_id)

    row = await wait_for(archived, timeout=30)
    live = await http.get(
        f"/api/cases/{case_id}/history/export", headers=auditor.headers
    )
    assert live.headers["x-history-source"] == "temporal"
    await record_history(
        client.get_workflow_handle(case_id),
        "ReturnHomeWorkflow",
        "non_member_straight_through",
    )
    await record_history(
        client.get_workflow_handle(f"archive-{case_id}"),
        "ArchiveHistoryWorkflow",
        "archive_closed_case",
    )

    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=case_id),
        )
    )

    async def gone():
        r = await http.get(
            f"/api/cases/{case_id}/history/export", headers=auditor.headers
        )
        return r if r.headers.get("x-history-source") == "archive" else None

    # The dev server deletes asynchronously: about 4 s with the suite's transfer-queue
    # checkpoint of 1 s (tests/conftest.py), 33 s with the server's default.
    exported = await _poll(gone, timeout=90)
    assert exported.headers["x-history-sha256"] == row.sha256
    assert len(exported.json()["events"]) == row.event_count
    timeline = (
        await http.get(f"/api/cases/{case_id}/history", headers=auditor.headers)
    ).json()
    assert any("跳过" in e["text"] and "党" in e["text"] for e in timeline)
    replay = (
        await http.post(f"/api/cases/{case_id}/replay", headers=auditor.headers)
    ).json()
    assert replay == {**replay, "ok": True, "source": "archive", "sha256": row.sha256}
    # Replay is for auditors.
    assert (
        await http.post(f"/api/cases/{case_id}/replay", headers=county.headers)
    ).status_code == 403
    with Session(seeded_engine) as s:
        summaries = s.exec(
            select(Notice).where(
                Notice.case_id == case_id, Notice.kind == "case_summary"
            )
        ).all()
    assert len(summaries) == 1


async def test_two_simultaneous_starts_make_one_case(
    http, auth, seeded_engine, running_worker, settings
):
    """The case id is the business key: Temporal refuses the second start even in a race."""
    county = await auth("county")
    vid = demo_veteran(seeded_engine, party_member=True)
    body = {"process": "return_home", "veteran_id": vid}
    answers = await asyncio.gather(
        *(http.post("/api/cases", json=body, headers=county) for _ in range(3))
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [201, 409, 409], [r.text for r in answers]
    created = next(r.json() for r in answers if r.status_code == 201)
    assert created["id"] == f"{settings.case_id_prefix}return_home-v{vid}"
    assert all(
        r.json()["detail"]["case_id"] == created["id"]
        for r in answers
        if r.status_code == 409
    )
