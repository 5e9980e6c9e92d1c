"""The manager dashboard's figures, checked exactly on rows written directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from api.dashboard_queries import dashboard_stats
from models.tables import Case, HumanTask, OrgUnit, Veteran

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def _unit(s, code):
    return s.exec(select(OrgUnit).where(OrgUnit.code == code)).one()


def build(engine):
    with Session(engine) as s:
        dg, ng, county = (
            _unit(s, "sfx-cgz-dgc"),
            _unit(s, "sfx-ngz-ngc"),
            _unit(s, "sfx"),
        )
        vet = s.exec(select(Veteran)).first()

        def case(cid, unit, status="running"):
            s.add(
                Case(
                    id=cid,
                    workflow_id=cid,
                    process="return_home",
                    title="t",
                    veteran_id=vet.id,
                    org_unit_id=unit.id,
                    org_path=unit.path,
                    status=status,
                )
            )

        def task(
            tid,
            cid,
            step,
            unit,
            status="open",
            created_h=1.0,
            due_h=None,
            done_h=None,
            rnd=1,
            overdue=False,
        ):
            s.add(
                HumanTask(
                    id=tid,
                    case_id=cid,
                    workflow_id=cid,
                    process="return_home",
                    step=step,
                    title=step,
                    candidate_role="x",
                    org_unit_id=unit.id,
                    org_path=unit.path,
                    status=status,
                    round=rnd,
                    overdue=overdue,
                    created_at=NOW - timedelta(hours=created_h),
                    due_at=None if due_h is None else NOW + timedelta(hours=due_h),
                    completed_at=None
                    if done_h is None
                    else NOW - timedelta(hours=created_h) + timedelta(hours=done_h),
                )
            )

        case("c1", dg)
        case("c2", dg, "closed")
        case("c3", ng)
        s.flush()
        task(
            "c1.ar.1",
            "c1",
            "archive_review",
            county,
            "completed",
            created_h=100,
            due_h=-50,
            done_h=10,
        )  # on time
        task(
            "c1.ar.2",
            "c1",
            "archive_review",
            county,
            "completed",
            created_h=80,
            due_h=-60,
            done_h=30,
            rnd=2,
        )  # late
        task(
            "c1.ar.3",
            "c1",
            "archive_review",
            county,
            "completed",
            created_h=40,
            due_h=10,
            done_h=2,
            rnd=3,
        )  # on time
        task(
            "c1.ic.1", "c1", "information_collection", dg, created_h=0.5, due_h=-1
        )  # overdue by time
        task(
            "c2.ar.1",
            "c2",
            "archive_review",
            county,
            "completed",
            created_h=200,
            done_h=4,
        )  # no due: not in the rate
        task(
            "c2.hv.1", "c2", "home_visit", dg, created_h=24 * 40, due_h=5
        )  # at risk, >30 days old
        task(
            "c2.tr.1",
            "c2",
            "township_review",
            dg,
            created_h=50,
            due_h=100,
            overdue=True,
        )  # flagged overdue
        task(
            "c3.ic.1", "c3", "information_collection", ng, created_h=24 * 5, due_h=200
        )  # on time, other township
        s.commit()


def test_county_view(engine):
    from models.demo import seed_demo

    seed_demo(engine)
    build(engine)
    with Session(engine) as s:
        county = _unit(s, "sfx")
    st = dashboard_stats(engine, county.path, NOW, at_risk_hours=24)
    assert st.open_cases_by_process == {"return_home": 2} and st.closed_cases == 1
    assert (st.open_tasks, st.overdue, st.at_risk, st.on_time) == (4, 2, 1, 1)
    assert st.backlog_age == {
        "<1天": 1,
        "1-3天": 1,
        "3-7天": 1,
        "7-30天": 0,
        ">30天": 1,
    }
    assert st.on_time_rate == 2 / 3
    ar = next(d for d in st.step_durations if d.step == "archive_review")
    assert (ar.completed, ar.median_hours, ar.p90_hours) == (4, 4.0, 30.0)
    assert (
        st.correction_rounds.distribution == {0: 1, 2: 1}
        and st.correction_rounds.max == 2
        and st.correction_rounds.avg == 1.0
    )
    by_step = {c.step: (c.count, c.overdue, c.at_risk) for c in st.open_tasks_by_step}
    assert by_step == {
        "information_collection": (2, 1, 0),
        "home_visit": (1, 0, 1),
        "township_review": (1, 1, 0),
    }


def test_township_view_excludes_other_townships(engine):
    from models.demo import seed_demo

    seed_demo(engine)
    build(engine)
    with Session(engine) as s:
        nanguan = _unit(s, "sfx-ngz")
    st = dashboard_stats(engine, nanguan.path, NOW)
    assert st.open_cases_by_process == {"return_home": 1} and st.closed_cases == 0
    assert (st.open_tasks, st.overdue, st.at_risk) == (1, 0, 0)
    assert [o.org_unit_name for o in st.open_tasks_by_org_unit] == [
        "南关村退役军人服务站"
    ]
    assert st.on_time_rate is None and st.step_durations == []
