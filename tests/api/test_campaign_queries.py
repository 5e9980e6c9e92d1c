"""The campaign's figures and the split clock, checked exactly on case, task and 台账
rows written directly into the demo organisation (SQLite, and PostgreSQL when
configured); then 2,000 cases answered in one quick GROUP BY."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.campaign_queries import campaign_figures, campaign_summaries
from api.case_clock import case_clock
from models.processes import policy_for
from models.processes.annual_review import campaign_id, window_end
from models.tables import (
    AnnualReviewLedger,
    Campaign,
    Case,
    HumanTask,
    OrgUnit,
    Veteran,
)

NOW = datetime(2027, 2, 20, 4, 0, tzinfo=UTC)
D = timedelta(days=1)
YEAR = 2027
CID = campaign_id(YEAR)


def _units(s: Session) -> dict[str, OrgUnit]:
    return {u.code: u for u in s.exec(select(OrgUnit)).all()}


def _campaign(s: Session, cid: str = CID, year: int = YEAR) -> None:
    opened = datetime(year, 1, 1, tzinfo=UTC)
    s.add(
        Campaign(
            id=cid,
            process="annual_review",
            year=year,
            opened_by="schedule",
            opened_at=opened,
            window_end=window_end(
                year, opened, policy_for("annual_review", "standard")
            ),
        )
    )


def _case(
    s: Session,
    case_id: str,
    unit: OrgUnit,
    status: str,
    started: datetime,
    closed: datetime | None = None,
    *,
    veteran_id: int | None = None,
    cid: str = CID,
) -> None:
    s.add(
        Case(
            id=case_id,
            workflow_id=case_id,
            process="annual_review",
            veteran_id=veteran_id,
            org_unit_id=unit.id or 0,
            org_path=unit.path,
            status=status,
            campaign_id=cid,
            started_at=started,
            closed_at=closed,
        )
    )


def _task(
    s: Session,
    task_id: str,
    case_id: str,
    step: str,
    unit: OrgUnit,
    created: datetime,
    *,
    status: str = "completed",
    completed: datetime | None = None,
    due: datetime | None = None,
) -> None:
    s.add(
        HumanTask(
            id=task_id,
            case_id=case_id,
            workflow_id=case_id,
            process="annual_review",
            step=step,
            title=step,
            candidate_role="village_staff",
            org_unit_id=unit.id or 0,
            org_path=unit.path,
            status=status,
            created_at=created,
            completed_at=completed,
            due_at=due,
        )
    )


def _veteran(s: Session, unit: OrgUnit, n: int) -> int:
    v = Veteran(
        name=f"台账{n}",
        id_number=f"11010119800101{n:04d}",
        gender="男",
        phone="0531-80000000",
        category="逐月领取退役金退役军人",
        org_unit_id=unit.id or 0,
    )
    s.add(v)
    s.flush()
    return v.id or 0


def _seed(engine: Engine) -> None:
    with Session(engine) as s:
        u = _units(s)
        dg, ng = u["sfx-cgz-dgc"], u["sfx-ngz-ngc"]
        _campaign(s)
        s.flush()
        # 东关村: one of each running status, plus the clock cases.
        for i, status in enumerate(
            ("awaiting_submission", "submitted", "in_correction", "interview")
        ):
            _case(s, f"d{i}", dg, status, NOW - D)
        # Veteran 6 days, agency 4 (the report completed after six days).
        _case(s, "clock1", dg, "submitted", NOW - 10 * D)
        _task(s, "clock1.r", "clock1", "submit_report", dg, NOW - 10 * D,
              completed=NOW - 4 * D)  # fmt: skip
        _task(s, "clock1.c", "clock1", "county_review", u["sfx"], NOW - 4 * D,
              status="open")  # fmt: skip
        # Closed, passed (台账): veteran 5 days (withdrawn at its due time), agency 5.
        passed_vid = _veteran(s, dg, 1)
        _case(s, "clock2", dg, "closed", NOW - 20 * D, NOW - 10 * D,
              veteran_id=passed_vid)  # fmt: skip
        _task(s, "clock2.r", "clock2", "submit_report", dg, NOW - 20 * D,
              status="withdrawn", due=NOW - 15 * D)  # fmt: skip
        s.add(AnnualReviewLedger(veteran_id=passed_vid, year=YEAR, result="passed",
                                 case_id="clock2"))  # fmt: skip
        # 南关村: a report still open (veteran 2 days, agency 1), overdue, recorded
        # non-submission (closed), one closed without a 台账 line.
        _case(s, "n1", ng, "awaiting_submission", NOW - 3 * D)
        _task(s, "n1.r", "n1", "submit_report", ng, NOW - 2 * D, status="open",
              due=NOW + 30 * D)  # fmt: skip
        _case(s, "n2", ng, "overdue", NOW - D)
        _case(s, "n3", ng, "not_submitted", NOW - D)
        ns_vid = _veteran(s, ng, 2)
        _case(s, "n4", ng, "closed", NOW - 2 * D, NOW - D, veteran_id=ns_vid)
        s.add(AnnualReviewLedger(veteran_id=ns_vid, year=YEAR,
                                 result="non_submission", case_id="n4"))  # fmt: skip
        _case(s, "n5", ng, "closed", NOW - 2 * D, NOW - D)
        # Another campaign's case and a case of no campaign: never counted.
        _case(s, "x1", dg, "passed", NOW - D, cid=campaign_id(YEAR - 1))
        _case(s, "x2", dg, "running", NOW - D, cid="")
        s.commit()


def test_figures_count_by_status_and_ledger_per_unit(seeded_engine: Engine):
    _seed(seeded_engine)
    totals, units = campaign_figures(seeded_engine, CID, "/", NOW)
    assert [u.org_unit_name for u in units] == [
        "东关村退役军人服务站",
        "南关村退役军人服务站",
    ]
    dg, ng = units
    assert (dg.opened, dg.awaiting_submission, dg.submitted, dg.in_correction) == (
        6, 1, 2, 1
    )  # fmt: skip
    assert (dg.interview, dg.passed, dg.overdue, dg.not_submitted_recorded) == (
        1, 1, 0, 0
    )  # fmt: skip
    assert (ng.opened, ng.awaiting_submission, ng.overdue) == (5, 1, 1)
    assert (ng.not_submitted_recorded, ng.passed, ng.other) == (2, 0, 1)
    assert totals.opened == 11 and totals.passed == 1
    assert totals.not_submitted_recorded == 2 and totals.other == 1
    # The clock, per unit: 东关村 = d0..d3 (1 day each, agency), clock1 (6 vet / 4
    # agency), clock2 (5 / 5) → agency (4 + 4 + 5) / 6, veteran 11 / 6.
    assert dg.avg_veteran_days == round(11 / 6, 2)
    assert dg.avg_agency_days == round(13 / 6, 2)
    # 南关村: n1 (2 vet / 1 agency), n2 n3 (1 agency), n4 n5 (1 agency).
    assert ng.avg_veteran_days == round(2 / 5, 2)
    assert ng.avg_agency_days == round(5 / 5, 2)
    assert totals.avg_veteran_days == round(13 / 11, 2)
    assert totals.avg_agency_days == round(18 / 11, 2)


def test_figures_cover_the_callers_subtree_only(seeded_engine: Engine):
    _seed(seeded_engine)
    with Session(seeded_engine) as s:
        path = _units(s)["sfx-ngz"].path
    totals, units = campaign_figures(seeded_engine, CID, path, NOW)
    assert [u.org_unit_name for u in units] == ["南关村退役军人服务站"]
    assert totals.opened == 5
    summaries = campaign_summaries(seeded_engine, "", path, NOW)
    assert [c.campaign.id for c in summaries] == [CID]
    assert summaries[0].totals.opened == 5


def test_case_clock_of_one_case_matches_the_sql(seeded_engine: Engine):
    _seed(seeded_engine)
    with Session(seeded_engine) as s:
        case_row = s.get(Case, "clock2")
        rows = list(s.exec(select(HumanTask).where(HumanTask.case_id == "clock2")))
    clock = case_clock(case_row, rows, NOW)
    assert (clock.veteran_days, clock.agency_days) == (5.0, 5.0)


def test_two_thousand_cases_answer_fast(seeded_engine: Engine):
    statuses = ["awaiting_submission", "submitted", "passed", "in_correction", "closed"]
    with Session(seeded_engine) as s:
        u = _units(s)
        stations = [u["sfx-cgz-dgc"], u["sfx-ngz-ngc"], u["sfx-cgz"], u["sfx-ngz"]]
        _campaign(s)
        s.flush()
        for i in range(2000):
            unit = stations[i % 4]
            cid = f"bulk{i}"
            started = NOW - (i % 40 + 1) * D
            closed = NOW - D if statuses[i % 5] == "closed" else None
            _case(s, cid, unit, statuses[i % 5], started, closed)
            _task(s, f"{cid}.r", cid, "submit_report", unit, started,
                  completed=started + (i % 7) * timedelta(hours=5))  # fmt: skip
            _task(s, f"{cid}.c", cid, "county_review", u["sfx"],
                  started + D, status="open")  # fmt: skip
        s.commit()
        cases = {c.id: c for c in s.exec(select(Case))}
        tasks = list(s.exec(select(HumanTask)))
    campaign_figures(seeded_engine, CID, "/", NOW)  # warm the connection
    start = time.perf_counter()
    totals, units = campaign_figures(seeded_engine, CID, "/", NOW)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, elapsed
    assert totals.opened == 2000 and len(units) == 4
    assert totals.passed == 400 and totals.other == 400
    # The SQL clock agrees with the per-case function over every case.
    by_case: dict[str, list[HumanTask]] = {}
    for t in tasks:
        by_case.setdefault(t.case_id, []).append(t)
    clocks = [case_clock(c, by_case.get(c.id, []), NOW) for c in cases.values()]
    veteran = sum(c.veteran.total_seconds() for c in clocks) / 2000 / 86400
    agency = sum(c.agency.total_seconds() for c in clocks) / 2000 / 86400
    assert totals.avg_veteran_days == round(veteran, 2)
    assert totals.avg_agency_days == round(agency, 2)
