"""The demo cases `vetflow dev` starts on a freshly seeded database: one waiting at the
village, one in a correction round whose file request turns overdue, one closed — each
of its own veteran, on version 2 of the process, on the real Temporal dev server, a
real worker and the real database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from structlog.testing import capture_logs
from temporalio.client import Client
from temporalio.worker import Worker

from api.demo_cases import DEMO_CASES, FILE_GAPS, start_demo_cases
from models.demo import DESK_CLERK_OF
from models.processes import PROCESSES
from models.processes.return_home import ONE_STOP_DESKS_V2
from models.settings import Settings
from models.tables import Case, HumanTask, Loan, OrgUnit, Rating, Veteran
from tests.support import notices, tasks, wait_for
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


def completed_by(engine: Engine, case_id: str) -> dict[str, str | None]:
    return {t.step: t.completed_by for t in tasks(engine, case_id, status="completed")}


async def test_demo_cases_stand_at_village_correction_and_closed(
    client, settings, seeded_engine, running_worker
):
    e = seeded_engine
    ids = await start_demo_cases(e, client, settings)
    assert len(ids) == len(DEMO_CASES) == 3
    village, correction, closed = ids

    # This year's annual review and this month's payroll are open, as on the 1st.
    def processes() -> bool:
        with Session(e) as s:
            opened = {c.process for c in s.exec(select(Case)).all()}
        return {"annual_review", "monthly_pay"} <= opened

    await wait_for(processes)

    cases = cases_of(e, ids)
    assert set(cases) == set(ids)
    # Each case belongs to a different demo veteran; 张伟 is left for the newcomer.
    with Session(e) as s:
        vets = {v.id: v for v in s.exec(select(Veteran)).all()}
        levels = {u.id: u.level for u in s.exec(select(OrgUnit)).all()}
    assert len({c.veteran_id for c in cases.values()}) == 3
    taken = {vets[c.veteran_id].name for c in cases.values()}
    assert "张伟" not in taken and "黄建国" not in taken  # 军休干部: not served
    spec = PROCESSES["return_home"]
    assert spec.version == 2
    assert all(
        c.process == "return_home"
        and c.started_by == "county"
        and c.spec_version == spec.version
        for c in cases.values()
    )
    # Every case began the version-2 way: the personnel file received by the county.
    for case_id in ids:
        [receipt] = tasks(e, case_id, step="file_receipt")
        assert receipt.completed_by == "county"
        assert receipt.result["transfer_means"] == "机要交通"

    # At the village: information collection waits at a village station, after the
    # early steps, the registration, every one-stop item and the training.
    [task] = open_rows(e, village)
    assert task.step == "information_collection"
    assert levels[task.org_unit_id] == "village"
    assert task.candidate_role == "village_staff"
    assert [t.outcome for t in tasks(e, village, step="archive_review")] == ["approve"]
    by = completed_by(e, village)
    assert {"welcome", "home_visit", "file_filing", "registration"} <= set(by)
    assert by["home_visit"] == "village" and "adaptive_training" in by
    # 刘洋 is no party member and receives retirement pay: no transfer, no subsidy.
    assert [t.status for t in tasks(e, village, step="party_transfer")] == ["skipped"]
    assert [t.status for t in tasks(e, village, step="subsidy_preregistration")] == [
        "skipped"
    ]

    # In a correction round: the archive review named everything at once; the
    # veteran's materials go to the first handler, the file's gaps to the sending unit.
    [review] = tasks(e, correction, step="archive_review")
    assert review.outcome == "return_for_correction"
    assert review.result["missing_materials"] and review.result["file_gaps"]
    [supplement] = tasks(e, correction, step="supplement_materials", status="open")
    assert supplement.round >= 1 and supplement.assignee == "county"
    assert set(supplement.context["requested_materials"]) == {
        *review.result["missing_materials"],
        *review.result["defective_materials"],
    }
    [gap] = tasks(e, correction, step="file_gap_request", status="open")
    assert gap.context["requested_materials"] == FILE_GAPS
    told = await wait_for(lambda: notices(e, correction, "correction_request"))
    assert all(m in told[0].body for m in review.result["missing_materials"])

    # Overdue: nobody answered the file request and its few-second deadline passed;
    # the veteran's own time to bring the materials runs on.
    overdue_rows = await wait_for(
        lambda: [t for t in open_rows(e, correction) if t.overdue], timeout=30
    )
    assert [t.step for t in overdue_rows] == ["file_gap_request"]
    assert await wait_for(lambda: notices(e, correction, "overdue"), timeout=30)
    assert not any(t.overdue for t in open_rows(e, village))
    assert {t.step for t in open_rows(e, correction)} == {
        "supplement_materials",
        "file_gap_request",
    }

    # Closed: every step done up to the report to the province, nothing open; each
    # one-stop item finished by its own desk's clerk.
    assert cases_of(e, [closed])[closed].status == "closed"
    assert open_rows(e, closed) == []
    by = completed_by(e, closed)
    assert {
        "file_receipt",
        "archive_review",
        "welcome",
        "home_visit",
        "file_filing",
        "registration",
        "adaptive_training",
        "information_collection",
        "township_review",
        "county_review",
        "city_review",
        "report_to_province",
    } <= set(by)
    for key, _title, role, _clause in ONE_STOP_DESKS_V2:
        assert by[key] == DESK_CLERK_OF[role], key  # 杨磊 is 自主就业: the subsidy too
    assert by["home_visit"] == "nvillage" and by["township_review"] == "township2"
    assert by["city_review"] == by["report_to_province"] == "city"
    assert await wait_for(lambda: notices(e, closed, "case_summary"))
    assert cases[village].status == cases[correction].status == "running"

    # 杨磊's startup loan: approved by the demo bank and in its repayment phase, the
    # follow-ups scheduled.
    loan_id = f"{settings.case_id_prefix}startup_loan-v{cases[closed].veteran_id}-1"
    loan_case = cases_of(e, [loan_id])[loan_id]
    assert loan_case.status == "repaying"
    with Session(e) as s:
        loan = s.get(Loan, loan_id)
    assert loan is not None and loan.bank == "qdbank"
    assert loan.terms["amount"] == "150000.00" and len(loan.followups_at) == 11

    # The complaints: 刘洋's 非常不满意 of the home visit waits for 问题核实 at 东关村
    # (not for the rated clerk, who is kept from the case), the petition for the
    # county's acceptance decision.
    prefix = settings.case_id_prefix
    with Session(e) as s:
        rating = s.exec(select(Rating)).one()
    assert rating.clerk == "village" and rating.grade == "very_dissatisfied"
    [verify] = await wait_for(lambda: open_rows(e, f"{prefix}complaint-r{rating.id}"))
    assert verify.step == "verify" and verify.candidate_role == "village_staff"
    assert levels[verify.org_unit_id] == "village" and verify.assignee != "village"
    [accept] = await wait_for(lambda: open_rows(e, f"{prefix}complaint-demo-petition"))
    assert (
        accept.step == "acceptance_decision" and levels[accept.org_unit_id] == "county"
    )

    # Once per veteran: a second run starts nothing and says why; under `vetflow dev`
    # that failure is logged and the server goes on.
    with pytest.raises(ExceptionGroup) as failed:
        await start_demo_cases(e, client, settings)
    assert len(failed.value.exceptions) == 3
    with capture_logs() as logs:
        await _start_demo_cases(e, client, settings)
    assert [entry["event"] for entry in logs][-1] == "demo_cases_failed"
    with Session(e) as s:
        demo = s.exec(select(Case).where(Case.process == "return_home")).all()
        assert len(demo) == 3
        reviews = s.exec(select(Case).where(Case.process == "annual_review")).all()
        assert len(reviews) == 1  # the opener ran once
        complaints = s.exec(select(Case).where(Case.process == "complaint")).all()
        assert len(complaints) == 2  # fixed ids: started once
