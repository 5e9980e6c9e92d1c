"""The inbox lists: tabs, filters, urgency, sorting and pages on rows written directly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session, select

from api.deps import load_user
from api.inbox_queries import PER_PAGE, InboxFilters, inbox_page
from models.demo import seed_demo
from models.tables import Case, Holiday, HumanTask, OrgUnit, Veteran

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def build(engine, n_open: int = 60):
    seed_demo(engine)
    with Session(engine) as s:
        dg = s.exec(select(OrgUnit).where(OrgUnit.code == "sfx-cgz-dgc")).one()
        zhang = s.exec(select(Veteran).where(Veteran.name == "张伟")).one()
        chen = s.exec(select(Veteran).where(Veteran.name == "陈静")).one()
        for i in range(n_open):
            vet = zhang if i % 2 else chen
            s.add(
                Case(
                    id=f"c{i}",
                    workflow_id=f"c{i}",
                    process="return_home",
                    title="t",
                    veteran_id=vet.id,
                    org_unit_id=dg.id,
                    org_path=dg.path,
                )
            )
            s.flush()
            s.add(
                HumanTask(
                    id=f"c{i}.ic.1",
                    case_id=f"c{i}",
                    workflow_id=f"c{i}",
                    process="return_home",
                    step="information_collection" if i % 3 else "home_visit",
                    title="x",
                    candidate_role="village_staff",
                    org_unit_id=dg.id,
                    org_path=dg.path,
                    created_at=NOW - timedelta(days=1),
                    due_at=NOW + timedelta(hours=i - 10),
                    assignee="village" if i < 5 else None,
                    status="open",
                    overdue=False,
                )
            )
        s.add(
            HumanTask(
                id="c0.done.1",
                case_id="c0",
                workflow_id="c0",
                process="return_home",
                step="home_visit",
                title="x",
                candidate_role="village_staff",
                org_unit_id=dg.id,
                org_path=dg.path,
                status="completed",
                completed_by="village",
                outcome="done",
            )
        )
        s.commit()


def test_tabs_filters_urgency_sort_and_pages(engine):
    build(engine)
    village = load_user(engine, "village")
    page = inbox_page(engine, village, InboxFilters(tab="claimable"), NOW, 24)
    assert page.counts == {"mine": 5, "claimable": 55, "done": 1}
    assert len(page.rows) == PER_PAGE and page.pages == 2
    dues = [r.task.due_at for r in page.rows]
    assert dues == sorted(dues)
    assert (
        page.rows[0].urgency == "overdue"
        and page.rows[0].veteran_id_masked.count("*") == 10
    )
    last = inbox_page(engine, village, InboxFilters(tab="claimable", page=2), NOW, 24)
    assert len(last.rows) == 5
    overdue = inbox_page(
        engine, village, InboxFilters(tab="claimable", urgency="overdue"), NOW, 24
    )
    assert overdue.total == 5 and all(
        r.urgency == "overdue" for r in overdue.rows
    )  # due -5h .. -1h
    risk = inbox_page(
        engine, village, InboxFilters(tab="claimable", urgency="at_risk"), NOW, 24
    )
    assert risk.total == 25 and all(r.urgency == "at_risk" for r in risk.rows)
    by_name = inbox_page(
        engine, village, InboxFilters(tab="claimable", q="张伟"), NOW, 24
    )
    assert by_name.total == 28 and {r.veteran_name for r in by_name.rows} == {"张伟"}
    visits = inbox_page(
        engine,
        village,
        InboxFilters(tab="claimable", step="home_visit", sort="case", desc=True),
        NOW,
        24,
    )
    assert visits.total == 18 and [r.task.case_id for r in visits.rows] == sorted(
        (r.task.case_id for r in visits.rows), reverse=True
    )
    # The clerk of another township sees none of it.
    assert (
        sum(
            inbox_page(
                engine, load_user(engine, "nvillage"), InboxFilters(), NOW, 24
            ).counts.values()
        )
        == 0
    )


def test_filters_read_from_the_query_string():
    f = InboxFilters.from_query(
        {
            "tab": "mine",
            "due_from": "2026-11-01",
            "due_to": "bad",
            "page": "x",
            "sort": "nope",
            "urgency": "overdue",
        }
    )
    assert (f.tab, f.due_from.isoformat(), f.due_to, f.page, f.sort, f.urgency) == (
        "mine",
        "2026-11-01",
        None,
        1,
        "due",
        "overdue",
    )


def test_rows_show_their_subject_unit_and_the_admin_calendar(engine):
    """Each row's veteran (masked) or, for a case about a unit, that unit; the task's
    unit; remaining working days by the admin's overrides; any sort's order."""
    build(engine, n_open=8)  # c5, c6 and c7 claimable
    with Session(engine) as s:
        county = s.exec(select(OrgUnit).where(OrgUnit.code == "sfx")).one()
        dg = s.exec(select(OrgUnit).where(OrgUnit.code == "sfx-cgz-dgc")).one()
        s.add(
            Case(
                id="unit-case",
                workflow_id="unit-case",
                process="return_home",
                title="t",
                veteran_id=None,
                org_unit_id=county.id,
                org_path=dg.path,
            )
        )
        s.flush()
        s.add(
            HumanTask(
                id="unit-case.x.1",
                case_id="unit-case",
                workflow_id="unit-case",
                process="return_home",
                step="home_visit",
                title="x",
                candidate_role="village_staff",
                org_unit_id=dg.id,
                org_path=dg.path,
                created_at=NOW - timedelta(days=3),
                due_at=NOW + timedelta(days=5),
                status="open",
                overdue=False,
            )
        )
        s.commit()
        county_name, dg_name = county.name, dg.name
    village = load_user(engine, "village")
    assert village is not None

    def rows(**kw):
        f = InboxFilters(tab="claimable", **kw)
        return {r.task.id: r for r in inbox_page(engine, village, f, NOW, 24).rows}

    before = rows()
    unit_row, vet_row = before["unit-case.x.1"], before["c6.ic.1"]
    assert (unit_row.subject_unit, unit_row.veteran_name) == (county_name, "")
    assert unit_row.veteran_id == 0 and unit_row.veteran_id_masked == ""
    assert vet_row.subject_unit == "" and vet_row.veteran_name == "陈静"
    assert vet_row.veteran_id > 0 and vet_row.veteran_id_masked.count("*") == 10
    assert {r.org_unit_name for r in before.values()} == {dg_name}
    # Monday 23 Nov 2026 made a holiday: one working day fewer before Wednesday.
    with Session(engine) as s:
        s.add(Holiday(day=date(2026, 11, 23), workday=False, name="test"))
        s.commit()
    after = rows()["unit-case.x.1"]
    assert after.working_days_left == (unit_row.working_days_left or 0) - 1
    by_created = list(rows(sort="created", desc=True).values())
    created = [r.task.id for r in by_created]
    assert created[-1] == "unit-case.x.1" and len(created) == 4
