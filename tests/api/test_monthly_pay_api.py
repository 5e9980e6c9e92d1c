"""The monthly payroll over HTTP: the pay calendar of a year (statutory, then the admin
table for a year chinese-calendar lacks), a month's case worked through
POST /api/tasks/{id}/complete — the preparer refused as approver with 409 — and the
list exported as CSV for Excel (BOM, CRLF, masked unless the role sees ID numbers)."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest
import pytest_asyncio
from sqlmodel import Session, col, select

from models.tables import AuditEvent, Case
from tests.monthly_pay_support import (
    DEMO_COUNTY,
    add_account,
    add_county,
    open_month,
    unit_named,
    veteran_named,
)
from worker import build_worker

HELD_REASON = "年度登记未提交，待核实"


@pytest.fixture
def settings(settings):
    """Leaders see full ID numbers here (finance does not, as by default)."""
    return settings.model_copy(
        update={"unmask_roles": settings.unmask_roles + ",leader"}
    )


@pytest_asyncio.fixture
async def running_worker(client, settings, seeded_engine):
    async with build_worker(client, settings, seeded_engine) as w:
        yield w


async def open_task(http, headers, case_id: str, step: str) -> dict:
    for _ in range(200):
        r = await http.get(
            "/api/tasks",
            params={"case_id": case_id, "status": "open"},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        found = [t for t in r.json()["data"] if t["step"] == step]
        if found:
            return found[-1]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no open {step}")


async def complete(http, headers, case_id, step, outcome, data):
    task = await open_task(http, headers, case_id, step)
    return await http.post(
        f"/api/tasks/{task['id']}/complete",
        json={"outcome": outcome, "data": data, "comment": ""},
        headers=headers,
    )


def rows_of(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM Excel reads UTF-8 by
    text = body.decode("utf-8")[1:]
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    return list(csv.reader(io.StringIO(text, newline="")))


async def test_pay_calendar_of_a_year(http, auth):
    village, admin = await auth("village"), await auth("admin")
    r = await http.get("/api/pay-calendar/2026", headers=village)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["statutory_calendar"] is True and body["warning"] is None
    months = {m["month"]: m for m in body["months"]}
    assert sorted(months) == list(range(1, 13))
    may, october = months[5], months[10]
    assert (may["pay_date"], may["moved"], may["source"]) == (
        "2026-05-09",
        True,
        "chinese_calendar",
    )
    assert "周日" in may["reason"] and may["nominal_date"] == "2026-05-10"
    assert (october["pay_date"], october["moved"]) == ("2026-10-10", False)
    assert "调休" in october["reason"]
    for year in (1999, 2101):
        bad = await http.get(f"/api/pay-calendar/{year}", headers=village)
        assert bad.status_code == 422
        (item,) = bad.json()["detail"]
        assert item["loc"] == ["path", "year"]
    assert (await http.get("/api/pay-calendar/2026")).status_code == 401

    # 2027: chinese-calendar has no data; the admin enters the Spring Festival.
    days = [(f"2027-02-{d:02d}", False, "春节") for d in range(8, 13)]
    days.append(("2027-02-06", True, "春节调休"))
    for day, workday, name in days:
        r = await http.post(
            "/api/holidays",
            json={"day": day, "workday": workday, "name": name},
            headers=admin,
        )
        assert r.status_code == 200, r.text
    body = (await http.get("/api/pay-calendar/2027", headers=village)).json()
    assert body["statutory_calendar"] is False and "2027" in body["warning"]
    months = {m["month"]: m for m in body["months"]}
    feb = months[2]
    assert (feb["pay_date"], feb["moved"], feb["source"], feb["warning"]) == (
        "2027-02-06",
        True,
        "admin",
        None,
    )
    assert "春节" in feb["reason"]
    assert months[1]["source"] == "weekends_only" and months[1]["warning"]
    assert months[1]["pay_date"] == "2027-01-08"  # Sunday the 10th


async def test_a_month_over_http_with_four_eyes_and_the_csv(
    http, auth, client, settings, seeded_engine, running_worker
):
    add_account(seeded_engine, "finlead", ["finance_staff", "leader"])
    other = add_county(seeded_engine, "efx", "二号县退役军人服务中心", veteran="周强")
    add_account(seeded_engine, "finance_b", ["finance_staff"], "二号县退役军人服务中心")
    opened = await open_month(client, settings)
    demo = unit_named(seeded_engine, DEMO_COUNTY).id
    (case_id,) = [c for c in opened.opened if f"monthly_pay-{demo}-" in c]
    (other_case,) = [c for c in opened.opened if f"monthly_pay-{other}-" in c]
    finlead, leader, finance = (
        await auth("finlead"),
        await auth("leader"),
        await auth("finance"),
    )
    liu = veteran_named(seeded_engine, "刘洋")
    csv_url = f"/api/cases/{case_id}/payroll.csv"

    await open_task(http, finance, case_id, "prepare_payroll")
    early = await http.get(csv_url, headers=finance)
    assert early.status_code == 409 and "编制" in early.json()["detail"]
    # A held veteran who is not on the month's list: 422 naming the field.
    other_vet = veteran_named(seeded_engine, "周强")
    r = await complete(
        http,
        finlead,
        case_id,
        "prepare_payroll",
        "prepared",
        {"held": [{"veteran_id": other_vet.id, "reason": "x"}]},
    )
    assert r.status_code == 422
    (item,) = r.json()["detail"]
    assert item["loc"] == ["body", "data", "held"] and "不在本月发放名单" in item["msg"]
    held = {"held": [{"veteran_id": liu.id, "reason": HELD_REASON}]}
    r = await complete(http, finlead, case_id, "prepare_payroll", "prepared", held)
    assert r.status_code == 200, r.text

    # 双人复核: the preparer, though a leader too, may not approve it.
    r = await complete(http, finlead, case_id, "approve_payroll", "approved", {})
    assert r.status_code == 409
    refusal = r.json()["detail"]
    assert refusal["type"] == "FourEyes" and "双人复核" in refusal["message"]
    r = await complete(http, leader, case_id, "approve_payroll", "approved", {})
    assert r.status_code == 200, r.text

    # The list for Excel: masked for finance, in full for a leader (audited).
    r = await http.get(csv_url, headers=finance)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    header, *lines = rows_of(r.content)
    assert header == ["序号", "姓名", "身份证号", "所属服务站", "状态", "暂缓原因"]
    assert lines == [
        [
            "1",
            "刘洋",
            lines[0][2],
            "东关村退役军人服务站",
            "暂缓",
            HELD_REASON,
        ]
    ]
    assert "*" in lines[0][2] and lines[0][2] != liu.id_number
    r = await http.get(csv_url, headers=leader)
    (line,) = rows_of(r.content)[1:]
    assert line[2] == liu.id_number
    with Session(seeded_engine) as s:
        trail = s.exec(
            select(AuditEvent)
            .where(AuditEvent.case_id == case_id)
            .where(col(AuditEvent.action).in_(["unmask_id_number", "payroll_exported"]))
            .order_by(col(AuditEvent.id))
        ).all()
    assert [(a.actor, a.action) for a in trail] == [
        ("finance", "payroll_exported"),
        ("leader", "unmask_id_number"),
        ("leader", "payroll_exported"),
    ]
    assert trail[1].entity_id == str(liu.id)

    # Who may read it: the subtree's finance, leaders, managers and auditors.
    for who in ("manager", "auditor"):
        assert (await http.get(csv_url, headers=await auth(who))).status_code == 200
    for who in ("village", "county", "admin"):
        assert (await http.get(csv_url, headers=await auth(who))).status_code == 403
    finance_b = await auth("finance_b")
    assert (await http.get(csv_url, headers=finance_b)).status_code == 404
    r = await http.get(f"/api/cases/{other_case}/payroll.csv", headers=finance)
    assert r.status_code == 404
    with Session(seeded_engine) as s:
        s.add(
            Case(
                id="not-a-payroll",
                workflow_id="not-a-payroll",
                process="return_home",
                org_unit_id=demo,
                org_path=unit_named(seeded_engine, DEMO_COUNTY).path,
            )
        )
        s.commit()
    r = await http.get("/api/cases/not-a-payroll/payroll.csv", headers=finance)
    assert r.status_code == 404
    assert (await http.get(csv_url)).status_code == 401

    r = await complete(
        http,
        finlead,
        case_id,
        "confirm_payment",
        "paid",
        {"paid_on": "2026-05-09"},
    )
    assert r.status_code == 200, r.text
    result = await client.get_workflow_handle(case_id).result()
    assert result["status"] == "closed"
    for case in opened.opened:
        if case != case_id:
            await client.get_workflow_handle(case).terminate("test done")


@pytest.mark.parametrize("process", ["monthly_pay"])
async def test_a_clerk_cannot_start_a_payroll(http, auth, process):
    r = await http.post(
        "/api/cases",
        json={"process": process, "veteran_id": 1, "data": {}},
        headers=await auth("county"),
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "process"]
