"""The dashboard's annual review section through HTTP: a manager opens the year's
campaign with the page form (CSRF), once; the section then shows the figures per
station as SVG charts and as a table; clerks may not open it; a bad year comes back
as the page's message."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from models.processes.annual_review import campaign_id
from models.tables import Case
from tests.api.page_login import page_login
from tests.support import wait_for
from worker import build_worker

from .test_campaigns_api import THIS_YEAR


def _cases(engine: Engine, cid: str) -> list[Case]:
    with Session(engine) as s:
        return list(s.exec(select(Case).where(col(Case.campaign_id) == cid)))


def _flash(r) -> str:
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/dashboard?")
    return parse_qs(urlsplit(r.headers["location"]).query)["flash"][0]


async def test_manager_opens_the_campaign_from_the_dashboard(
    http, settings, seeded_engine, client: Client
):
    csrf = await page_login(http, "manager")
    page = await http.get("/dashboard")
    assert page.status_code == 200
    assert 'id="campaign-none"' in page.text and 'id="campaign-open"' in page.text
    # Without the session's CSRF token: refused, nothing started.
    r = await http.post("/dashboard/campaigns/annual-review", data={"year": THIS_YEAR})
    assert r.status_code == 403
    # A year too far off: the page says why.
    r = await http.post(
        "/dashboard/campaigns/annual-review",
        data={"year": THIS_YEAR + 5, "csrf_token": csrf},
    )
    assert "年度须为" in _flash(r) and "error=1" in r.headers["location"]
    cid = campaign_id(THIS_YEAR, settings.case_id_prefix)
    async with build_worker(client, settings, seeded_engine):
        r = await http.post(
            "/dashboard/campaigns/annual-review",
            data={"year": THIS_YEAR, "csrf_token": csrf},
        )
        assert f"已开启{THIS_YEAR}年度登记审核" in _flash(r)
        r = await http.post(
            "/dashboard/campaigns/annual-review",
            data={"year": THIS_YEAR, "csrf_token": csrf},
        )
        assert "未重复开启" in _flash(r)
        await wait_for(lambda: _cases(seeded_engine, cid), timeout=30)
        page = await http.get(f"/dashboard?campaign_year={THIS_YEAR}")
    assert page.status_code == 200
    section = page.text.split('id="campaign"', 1)[1]
    assert 'id="campaign-table"' in section and "<svg" in section
    assert "<figcaption" in section and "东关村退役军人服务站" in section
    row = re.search(r'<th scope="row">东关村退役军人服务站</th><td>(\d+)</td>', section)
    assert row and row.group(1) == "1"
    assert 'id="campaign-opened"><div class="v">1<' in section
    # The rest of the dashboard is still there.
    assert 'id="kpi-open-tasks"' in page.text
    for case_row in _cases(seeded_engine, cid):
        await client.get_workflow_handle(case_row.id).terminate(reason="test")
    await client.get_workflow_handle(cid).terminate(reason="test")


async def test_clerks_may_not_open_it(http):
    csrf = await page_login(http, "county")
    r = await http.post(
        "/dashboard/campaigns/annual-review",
        data={"year": THIS_YEAR, "csrf_token": csrf},
    )
    assert r.status_code == 403


async def test_the_section_reads_in_english(http):
    await page_login(http, "manager")
    page = await http.get("/dashboard", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    section = page.text.split('id="campaign"', 1)[1]
    assert "Annual registration review" in section
