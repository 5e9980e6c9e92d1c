"""The demo cases `vetflow dev` starts on a freshly seeded database: one waiting at the
village, one in a correction round, one overdue, one closed — each of its own veteran,
on the real Temporal dev server, a real worker and the real database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from structlog.testing import capture_logs
from temporalio.client import Client
from temporalio.worker import Worker

from api.demo_cases import DEMO_CASES, start_demo_cases
from models.settings import Settings
from models.tables import Case, HumanTask, OrgUnit, Veteran
from tests.support import tasks, wait_for
from vetflow_cli import _start_demo_cases
from worker import build_worker


@pytest_asyncio.fixture
async def running_worker(
    client: Client, settings: Settings, seeded_engine: Engine
) -> AsyncIterator[Worker]:
    async with build_worker(client, settings, seeded_engine) as w:
        yield w


def cases_of(engine: Engine, ids: list[str]) -> dict[str, Case]:
    with Session(engine) as s:
        return {c.id: c for c in s.exec(select(Case)).all() if c.id in ids}


def open_rows(engine: Engine, case_id: str) -> list[HumanTask]:
    return tasks(engine, case_id, status="open")


async def test_demo_cases_stand_at_village_correction_overdue_and_closed(
    client, settings, seeded_engine, running_worker
):
    e = seeded_engine
    ids = await start_demo_cases(e, client, settings)
    assert len(ids) == len(DEMO_CASES) == 4
    village, correction, overdue, closed = ids

    cases = cases_of(e, ids)
    assert set(cases) == set(ids)
    # Each case belongs to a different demo veteran; one veteran is left for the newcomer.
    with Session(e) as s:
        vets = {v.id: v for v in s.exec(select(Veteran)).all()}
        levels = {u.id: u.level for u in s.exec(select(OrgUnit)).all()}
    assert len({c.veteran_id for c in cases.values()}) == 4 < len(vets)
    assert all(
        c.process == "return_home" and c.started_by == "county" for c in cases.values()
    )

    # At the village: the archive was approved, information collection waits at a village station.
    [task] = open_rows(e, village)
    assert task.step == "information_collection"
    assert levels[task.org_unit_id] == "village"
    assert task.candidate_role == "village_staff"
    assert [t.outcome for t in tasks(e, village, step="archive_review")] == ["approve"]

    # In a correction round: the archive review came back with the missing materials.
    [task] = open_rows(e, correction)
    assert task.step == "supplement_materials" and task.round >= 1
    [review] = tasks(e, correction, step="archive_review")
    assert review.outcome == "return_for_correction"
    assert review.result["missing_materials"]
    assert set(task.context["requested_materials"]) >= set(
        review.result["missing_materials"]
    )

    # Overdue: nobody acted on the archive review and its few-second deadline passed.
    overdue_task = await wait_for(
        lambda: [t for t in open_rows(e, overdue) if t.overdue], timeout=30
    )
    assert [t.step for t in overdue_task] == ["archive_review"]
    assert not any(t.overdue for c in (village, correction) for t in open_rows(e, c))

    # Closed: every step done, nothing open.
    assert cases_of(e, [closed])[closed].status == "closed"
    assert open_rows(e, closed) == []
    done = {t.step for t in tasks(e, closed, status="completed")}
    assert {"archive_review", "county_review", "registration", "home_visit"} <= done
    assert cases[village].status == cases[correction].status == "running"

    # Once per veteran: a second run starts nothing and says why; under `vetflow dev`
    # that failure is logged and the server goes on.
    with pytest.raises(ExceptionGroup) as failed:
        await start_demo_cases(e, client, settings)
    assert len(failed.value.exceptions) == 4
    with capture_logs() as logs:
        await _start_demo_cases(e, client, settings)
    assert [entry["event"] for entry in logs][-1] == "demo_cases_failed"
    with Session(e) as s:
        assert len(s.exec(select(Case)).all()) == 4
