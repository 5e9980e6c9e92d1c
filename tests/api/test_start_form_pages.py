"""Starting a case whose start form asks for data, from the veteran's page, through
FastAPI's whole stack on the real Temporal dev server: 黄建国 (the demo 军休干部)'s
page links to the death report's start page, drawn by the task pages' form renderer
and titled with the process and its clauses; a missing field answers 422 with the
error beside it and the values kept; a valid report starts the case (the new case's
page, its row and its audit) and a second one names the existing case (409); a
veteran the process does not serve is not offered it; outside the caller's subtree
404. A process whose start form asks for nothing keeps its one-click start."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.worker import Worker

from models.processes.retiree_aftercare import LOST_CONTACT_KEY, SPEC
from models.settings import Settings
from models.tables import AuditEvent, Case, Veteran
from tests.api.page_login import page_login
from worker import build_worker

AFTERCARE = SPEC.key
REPORT = {
    "died_on": "2025-03-10",
    "cause": "illness",
    "place": "示范县人民医院",
    "reported_by": "黄小明",
    "reporter_relation": "儿子",
    "cause_detail": "肺癌晚期",
    "flag_covering_requested": "on",
    "flag_basis": "wish",
    "farewell_on": "2025-03-15",
}


@pytest_asyncio.fixture
async def running_worker(
    client: Client, settings: Settings, seeded_engine: Engine
) -> AsyncIterator[Worker]:
    async with build_worker(client, settings, seeded_engine) as w:
        yield w


def veteran_id(engine: Engine, name: str) -> int:
    with Session(engine) as s:
        return s.exec(select(Veteran).where(Veteran.name == name)).one().id or 0


def cases_of(engine: Engine, vid: int, process: str) -> list[Case]:
    with Session(engine) as s:
        q = select(Case).where(Case.veteran_id == vid, Case.process == process)
        return list(s.exec(q).all())


def field_html(page: str, name: str) -> str:
    """The markup of one field of the form (its input and the error beside it)."""
    m = re.search(
        rf'<div class="field[^"]*" data-field="{name}">(.*?)</div>', page, re.S
    )
    assert m, f"no field {name}"
    return m.group(1)


async def post_start(
    http: httpx.AsyncClient, csrf: str, vid: int, process: str, data: dict[str, Any]
) -> httpx.Response:
    return await http.post(
        f"/veterans/{vid}/start/{process}", data={**data, "csrf_token": csrf}
    )


async def test_the_cadre_page_leads_to_the_death_report_form(
    http: httpx.AsyncClient, seeded_engine: Engine
) -> None:
    await page_login(http, "township")
    vid = veteran_id(seeded_engine, "黄建国")
    page = (await http.get(f"/veterans/{vid}")).text
    start = f'href="/veterans/{vid}/start/{AFTERCARE}" id="start-{AFTERCARE}"'
    assert start in page
    assert f'href="/veterans/{vid}/start/{LOST_CONTACT_KEY}"' in page
    # No one-click start for a process that needs its start form.
    assert f'name="process" value="{AFTERCARE}"' not in page

    r = await http.get(f"/veterans/{vid}/start/{AFTERCARE}")
    assert r.status_code == 200, r.text
    page = html.unescape(r.text)
    assert "军休干部逝世善后" in page and "004 §6.10" in page
    assert "军人抚恤优待条例 第十五–十八条" in page
    assert "黄建国" in page and 'id="start-form"' in page
    assert f'action="/veterans/{vid}/start/{AFTERCARE}"' in page
    assert 'name="csrf_token"' in page
    for name in ("died_on", "place", "reported_by", "reporter_relation"):
        # required: said to assistive technology and marked "*" on screen
        required = field_html(page, name)
        assert 'required aria-required="true"' in required, name
        assert '<span class="req" aria-hidden="true">*</span>' in required, name
    assert "required" not in field_html(page, "cause_detail")
    cause = field_html(page, "cause")
    assert '<option value="illness" >病故</option>' in cause
    assert ">烈士</option>" in cause
    assert ">本人遗愿</option>" in field_html(page, "flag_basis")
    assert 'type="checkbox" name="flag_covering_requested"' in page

    r = await http.get(f"/veterans/{vid}/start/{LOST_CONTACT_KEY}")
    assert r.status_code == 200
    assert (
        '最后联系日期 <span class="req" aria-hidden="true">*</span>'
        in html.unescape(r.text)
    )


async def test_a_missing_field_answers_422_beside_it_with_the_values_kept(
    http: httpx.AsyncClient, seeded_engine: Engine
) -> None:
    csrf = await page_login(http, "township")
    vid = veteran_id(seeded_engine, "黄建国")
    report = {k: v for k, v in REPORT.items() if k != "place"}
    r = await post_start(http, csrf, vid, AFTERCARE, report)
    assert r.status_code == 422, r.text
    page = html.unescape(r.text)
    assert '<span class="field-error" id="error-place">此项为必填项</span>' in page
    assert 'class="field has-error" data-field="place"' in page
    assert 'value="黄小明"' in field_html(page, "reported_by")
    assert 'value="2025-03-10"' in field_html(page, "died_on")
    assert 'value="illness" selected' in field_html(page, "cause")
    assert "肺癌晚期" in field_html(page, "cause_detail")
    assert "checked" in field_html(page, "flag_covering_requested")
    assert "提交未成功，请按提示修改" in page
    assert not cases_of(seeded_engine, vid, AFTERCARE)

    # The form's own check (a flag covering needs its basis) about the whole form.
    r = await post_start(http, csrf, vid, AFTERCARE, {**REPORT, "flag_basis": ""})
    assert r.status_code == 422
    assert 'id="form-errors"' in r.text and "申请覆盖党旗/军旗须写明依据" in r.text

    # In English: the error and the field titles.
    r = await http.post(
        f"/veterans/{vid}/start/{AFTERCARE}",
        data={**report, "csrf_token": csrf},
        headers={"Accept-Language": "en"},
    )
    assert r.status_code == 422
    assert "Start the case" in r.text and "死亡地点" not in r.text


async def test_a_valid_report_starts_the_case_once(
    http: httpx.AsyncClient,
    seeded_engine: Engine,
    running_worker: Worker,
) -> None:
    csrf = await page_login(http, "township")
    vid = veteran_id(seeded_engine, "黄建国")
    r = await post_start(http, csrf, vid, AFTERCARE, REPORT)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert location.startswith("/cases/") and AFTERCARE in location
    case_id = location.removeprefix("/cases/")
    [case] = cases_of(seeded_engine, vid, AFTERCARE)
    assert case.id == case_id and case.started_by == "township"
    assert case.data["place"] == "示范县人民医院" and case.data["flag_basis"] == "wish"
    assert (await http.get(location)).status_code == 200
    with Session(seeded_engine) as s:
        audit = s.exec(
            select(AuditEvent).where(
                AuditEvent.case_id == case_id, AuditEvent.action == "case_started"
            )
        ).one()
    assert audit.actor == "township"

    # The veteran page no longer offers it; a second report names the case.
    page = (await http.get(f"/veterans/{vid}")).text
    assert f"/start/{AFTERCARE}" not in page
    r = await post_start(http, csrf, vid, AFTERCARE, REPORT)
    assert r.status_code == 409, r.text
    assert "该退役军人已有同类案件" in r.text
    assert f'<a href="/cases/{case_id}" id="existing-case-link">' in r.text
    assert 'value="黄小明"' in r.text
    assert len(cases_of(seeded_engine, vid, AFTERCARE)) == 1


async def test_a_veteran_not_served_is_not_offered_it(
    http: httpx.AsyncClient, seeded_engine: Engine
) -> None:
    csrf = await page_login(http, "township")
    vid = veteran_id(seeded_engine, "张伟")
    page = (await http.get(f"/veterans/{vid}")).text
    assert f"start-{AFTERCARE}" not in page and f"start-{LOST_CONTACT_KEY}" not in page
    # The loan asks for nothing at its start: one click, as before.
    assert 'name="process" value="startup_loan"' in page
    assert "/start/startup_loan" not in page

    r = await http.get(f"/veterans/{vid}/start/{AFTERCARE}")
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"/veterans/{vid}?flash=")
    r = await post_start(http, csrf, vid, AFTERCARE, REPORT)
    assert r.status_code == 422  # the API's refusal of the category, on the page
    assert 'id="form-errors"' in r.text
    assert not cases_of(seeded_engine, vid, AFTERCARE)


async def test_outside_the_subtree_or_not_a_starter(
    http: httpx.AsyncClient, seeded_engine: Engine
) -> None:
    vid = veteran_id(seeded_engine, "黄建国")
    csrf = await page_login(http, "township2")  # 南关镇: not 黄建国's township
    assert (await http.get(f"/veterans/{vid}/start/{AFTERCARE}")).status_code == 404
    r = await post_start(http, csrf, vid, AFTERCARE, REPORT)
    assert r.status_code == 404
    assert "黄建国" not in r.text

    csrf = await page_login(http, "county")
    assert (await http.get(f"/veterans/{vid}/start/no_such")).status_code == 404
    # Opened by its campaign, never by hand.
    assert (await http.get(f"/veterans/{vid}/start/annual_review")).status_code == 404

    await http.post("/logout", data={"csrf_token": csrf})
    await page_login(http, "manager")  # sees 黄建国, may not start cases
    assert (await http.get(f"/veterans/{vid}/start/{AFTERCARE}")).status_code == 403
    assert not cases_of(seeded_engine, vid, AFTERCARE)
