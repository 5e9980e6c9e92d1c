"""vetflow's Temporal Schedules on the real dev server: ensured twice they stay one each
with their calendar (1 January / the 1st, 00:00 Asia/Shanghai); triggered by hand
twice, the annual review's opens exactly one campaign of the current year, with its row
and its case for 刘洋; the monthly pay's opens the month's payroll cases once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest_asyncio
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import (
    Client,
    ScheduleOverlapPolicy,
    ScheduleRange,
)

from activities.schedules import (
    ANNUAL_REVIEW_SCHEDULE,
    MONTHLY_PAY_SCHEDULE,
    ensure_schedules,
)
from models.processes.annual_review import TZ, campaign_id
from models.settings import Settings
from models.tables import Campaign, Case
from tests.support import wait_for

T = TypeVar("T")


@pytest_asyncio.fixture
async def schedules(client: Client, settings: Settings) -> AsyncIterator[list[str]]:
    ids = await ensure_schedules(client, settings)
    yield ids
    for sid in ids:
        await client.get_schedule_handle(sid).delete()


async def until(check: Callable[[], Awaitable[T | None]], timeout: float = 30.0) -> T:
    """Poll an async ``check`` until it answers something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {check}"
        await asyncio.sleep(0.2)


async def _listed(client: Client, prefix: str, n: int) -> list[str] | None:
    ids = sorted(
        [s.id async for s in await client.list_schedules() if s.id.startswith(prefix)]
    )
    return ids if len(ids) >= n else None


async def _workflows(client: Client, kind: str, queue: str, n: int) -> list[str] | None:
    ids = [
        w.id
        async for w in client.list_workflows(
            f'WorkflowType = "{kind}" AND TaskQueue = "{queue}"'
        )
    ]
    return ids if len(ids) >= n else None


async def test_ensured_twice_one_schedule_each_with_its_calendar(
    client: Client, settings: Settings, schedules: list[str]
):
    prefix = settings.case_id_prefix
    assert schedules == [
        f"{prefix}{ANNUAL_REVIEW_SCHEDULE}",
        f"{prefix}{MONTHLY_PAY_SCHEDULE}",
    ]
    paused = client.get_schedule_handle(schedules[1])
    await paused.pause(note="an operator paused it")
    assert await ensure_schedules(client, settings) == schedules
    # Listing is eventually consistent (visibility): wait until both show, then
    # still only those two.
    assert await until(lambda: _listed(client, prefix, 2)) == sorted(schedules)

    annual = (await client.get_schedule_handle(schedules[0]).describe()).schedule
    (calendar,) = annual.spec.calendars
    assert annual.spec.time_zone_name == "Asia/Shanghai"
    assert list(calendar.month) == [ScheduleRange(1)]
    assert list(calendar.day_of_month) == [ScheduleRange(1)]
    assert list(calendar.hour) == [ScheduleRange(0)]
    assert list(calendar.minute) == [ScheduleRange(0)]
    assert annual.action.workflow == "OpenAnnualReviewCampaignWorkflow"
    assert annual.action.task_queue == settings.task_queue
    assert annual.action.id == f"{prefix}vetflow-open-annual-review"
    assert annual.policy.overlap == ScheduleOverlapPolicy.SKIP

    monthly = (await paused.describe()).schedule
    (calendar,) = monthly.spec.calendars
    assert monthly.spec.time_zone_name == "Asia/Shanghai"
    assert list(calendar.month) == [ScheduleRange(1, 12)]
    assert list(calendar.day_of_month) == [ScheduleRange(1)]
    assert list(calendar.hour) == [ScheduleRange(0)]
    assert monthly.action.workflow == "OpenMonthlyPayWorkflow"
    # Ensuring again kept the operator's pause.
    assert monthly.state.paused


def _campaign_cases(engine: Engine, cid: str) -> list[Case]:
    with Session(engine) as s:
        return list(s.exec(select(Case).where(col(Case.campaign_id) == cid)))


async def test_triggered_twice_one_campaign_of_this_year(
    client: Client,
    settings: Settings,
    demo_engine: Engine,
    worker,
    schedules: list[str],
):
    year = datetime.now(UTC).astimezone(TZ).year
    cid = campaign_id(year, settings.case_id_prefix)
    handle = client.get_schedule_handle(schedules[0])
    await handle.trigger()
    await wait_for(lambda: _campaign_cases(demo_engine, cid), timeout=30)
    # Again, even overlapping: the opener finds the campaign and leaves it.
    await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)

    async def both_openers_done() -> bool:
        info = (await handle.describe()).info
        return info.num_actions >= 2 and not info.running_actions

    await until(both_openers_done)
    queue = settings.task_queue
    openers = await until(
        lambda: _workflows(client, "OpenAnnualReviewCampaignWorkflow", queue, 2)
    )
    assert len(openers) == 2, openers
    campaigns = await until(
        lambda: _workflows(client, "AnnualReviewCampaignWorkflow", queue, 1)
    )
    assert campaigns == [cid]
    with Session(demo_engine) as s:
        row = s.get(Campaign, cid)
        assert row is not None and row.year == year and row.opened_by == "schedule"
        rows = s.exec(select(Campaign)).all()
        assert [r.id for r in rows] == [cid]
    assert len(_campaign_cases(demo_engine, cid)) == 1
    for case_row in _campaign_cases(demo_engine, cid):
        await client.get_workflow_handle(case_row.id).terminate(reason="test")
    await client.get_workflow_handle(cid).terminate(reason="test")


def _pay_cases(engine: Engine) -> list[Case]:
    with Session(engine) as s:
        return list(s.exec(select(Case).where(Case.process == "monthly_pay")))


async def test_monthly_pay_triggered_twice_opens_the_month_once(
    client: Client,
    settings: Settings,
    demo_engine: Engine,
    worker,
    schedules: list[str],
):
    handle = client.get_schedule_handle(schedules[1])
    await handle.trigger()
    first = await wait_for(lambda: _pay_cases(demo_engine), timeout=30)
    month = datetime.now(UTC).astimezone(TZ).strftime("%Y-%m")
    assert all(c.id.endswith(month) for c in first), [c.id for c in first]
    await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)

    async def both_openers_done() -> bool:
        info = (await handle.describe()).info
        return info.num_actions >= 2 and not info.running_actions

    await until(both_openers_done)
    assert sorted(c.id for c in _pay_cases(demo_engine)) == sorted(c.id for c in first)
    for case_row in first:
        await client.get_workflow_handle(case_row.id).terminate(reason="test")
