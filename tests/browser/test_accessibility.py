"""Every type of staff page, in Chinese and in English, without an axe-core violation of
WCAG 2.1 A/AA (GB/T 37668-2019 is aligned with WCAG 2.1) nor of the order rules (headings
in order, landmarks told apart): one sweep, one browser context per account.

The cases are the demo's, started the way `make dev` starts them (api/demo_cases.py),
but only as far as each page needs: a return-home case, a startup loan and a retired
cadre's death report at their first step, this year's annual review and this month's
payroll opened, the county's petition (api/demo_complaints.py). The pages the journeys
open are checked besides, at the end of each journey (conftest.py, ``open_session``)."""

from __future__ import annotations

import asyncio

from playwright.async_api import Browser, Page
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from api.demo_cases import _clerk_for, _Driver, open_demo_campaigns
from api.demo_complaints import start_demo_complaints
from models.contracts import StartCaseInput
from models.processes import PROCESSES, policy_for, retiree_aftercare
from models.search_attributes import case_search_attributes
from models.settings import Settings
from models.tables import HumanTask, OrgUnit, Veteran
from tests.browser.a11y import ORDER_RULES, accessibility_report, browse_in
from tests.browser.conftest import Session as BrowserSession
from tests.support import wait_for

PROCESSES_WITH_TASKS = (
    "return_home",
    "annual_review",
    "monthly_pay",
    "startup_loan",
    "retiree_aftercare",
    "complaint",
)
LANGUAGES = ("zh-CN", "en")


async def _start_cases(client: Client, settings: Settings, engine: Engine) -> None:
    """One case of each process at a step with an open task."""
    driver = _Driver(engine, client, settings)
    await driver.start("张伟", policy_for("return_home", "fast"), "a11y")
    await driver.start(
        "杨磊", policy_for("startup_loan", "fast"), "a11y", process="startup_loan"
    )
    with Session(engine) as s:
        cadre = s.exec(select(Veteran).where(Veteran.name == "黄建国")).one()
        unit = s.get(OrgUnit, cadre.org_unit_id)
        assert unit is not None and cadre.id is not None
    case_id = f"{settings.case_id_prefix}{retiree_aftercare.PROCESS_KEY}-v{cadre.id}"
    await client.start_workflow(
        "RetireeAftercareWorkflow",
        StartCaseInput(
            case_id=case_id,
            process=retiree_aftercare.PROCESS_KEY,
            veteran_id=cadre.id,
            started_by="county",
            data={
                "died_on": "2025-03-10",
                "cause": "illness",
                "place": "示范县人民医院",
                "reported_by": "黄小明",
                "reporter_relation": "儿子",
            },
            policy=retiree_aftercare.FAST_POLICY,
            spec_version=retiree_aftercare.SPEC.version,
        ),
        id=case_id,
        task_queue=settings.task_queue,
        search_attributes=case_search_attributes(
            retiree_aftercare.PROCESS_KEY, unit.path, cadre.id
        ),
    )
    await open_demo_campaigns(client, settings)
    await start_demo_complaints(engine, client, settings)


def _open_tasks(engine: Engine) -> dict[str, HumanTask] | None:
    """The first open task of each process, once all of them are open."""
    with Session(engine) as s:
        rows = s.exec(
            select(HumanTask)
            .where(HumanTask.status == "open")
            .order_by(col(HumanTask.created_at))
        ).all()
    first: dict[str, HumanTask] = {}
    for row in rows:
        first.setdefault(row.process, row)
    return first if set(PROCESSES_WITH_TASKS) <= set(first) else None


def _pages(engine: Engine, tasks: dict[str, HumanTask]) -> dict[str, list[str]]:
    """The pages each account opens: every type of staff page at least once."""
    with Session(engine) as s:
        vet = s.exec(select(Veteran).where(Veteran.name == "张伟")).one()
        cadre = s.exec(select(Veteran).where(Veteran.name == "黄建国")).one()
    pages: dict[str, list[str]] = {
        "village": [
            "/inbox?tab=mine",
            "/inbox?tab=claimable",
            "/inbox?tab=done",
            "/dashboard",  # 403
            "/settings/password",
        ],
        "county": [
            "/cases",
            "/veterans",
            f"/veterans/{vet.id}",
            f"/veterans/{cadre.id}/start/retiree_aftercare",
            "/complaints/new",
            "/cases/no-such-case",  # 404
        ],
        "manager": ["/dashboard", "/dashboard/tasks", "/incidents"],
        "auditor": [
            "/audit",
            f"/audit/cases/{tasks['return_home'].case_id}",
            f"/audit/trail?case_id={tasks['return_home'].case_id}",
        ],
        "leader": ["/inbox"],
    }
    for process in PROCESSES_WITH_TASKS:
        task = tasks[process]
        clerk = _clerk_for(engine, task)
        pages.setdefault(clerk, []).extend(
            [f"/tasks/{task.id}", f"/cases/{task.case_id}"]
        )
    return pages


async def _check(page: Page, base: str, path: str, found: list[str]) -> None:
    """The page in both languages (the browser's preference: no account here chose
    one), each checked once."""
    for lang in LANGUAGES:
        await browse_in(page, lang)
        await page.goto(f"{base}{path}")
        assert await page.evaluate("document.documentElement.lang") == lang, path
        report = await accessibility_report(page, rules_extra=ORDER_RULES)
        if report:
            found.append(report)


async def test_every_staff_page_passes_axe_in_both_languages(
    browser: Browser,
    server: str,
    client: Client,
    settings: Settings,
    seeded_engine: Engine,
) -> None:
    await _start_cases(client, settings, seeded_engine)
    tasks = await wait_for(lambda: _open_tasks(seeded_engine), timeout=60)
    assert all(p in PROCESSES for p in tasks)
    found: list[str] = []
    # The login page, before anyone logs in.
    ctx = await browser.new_context(viewport={"width": 1360, "height": 900})
    await _check(await ctx.new_page(), server, "/login", found)
    await ctx.close()
    two_at_a_time = asyncio.Semaphore(2)  # Chromium renders while the server answers

    async def as_(username: str, paths: list[str]) -> None:
        async with two_at_a_time:
            ctx = await browser.new_context(viewport={"width": 1360, "height": 900})
            try:
                who = BrowserSession(await ctx.new_page(), server)
                await who.login(username)
                for path in paths:
                    await _check(who.page, server, path, found)
            finally:
                await ctx.close()

    await asyncio.gather(
        *(as_(u, paths) for u, paths in _pages(seeded_engine, tasks).items())
    )
    assert not found, "\n\n".join(found)
