"""The manager dashboard's figures, checked exactly on case, task and incident rows
written directly into the demo organisation (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from api.dashboard_queries import DashboardStats, dashboard_stats
from models.tables import Case, HumanTask, Incident, OrgUnit, Veteran

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
H = timedelta(hours=1)
TITLES = {
    "archive_review": "档案审核",
    "information_collection": "信息采集",
    "township_review": "乡镇审核",
    "county_review": "县级审核",
    "home_visit": "走访慰问",
    "party_transfer": "党组织关系转接",
    "review": "审核",
}
UNITS = {
    "dg": "sfx-cgz-dgc",  # 东关村 under 城关镇
    "cg": "sfx-cgz",  # 城关镇
    "ng": "sfx-ngz-ngc",  # 南关村 under 南关镇
    "nz": "sfx-ngz",  # 南关镇
    "county": "sfx",
}
# Cases: id -> (process, unit, status).
CASES = {
    "c1": ("return_home", "dg", "running"),
    "c2": ("return_home", "dg", "closed"),
    "c3": ("return_home", "ng", "running"),
    "c4": ("pension", "cg", "running"),
    "c5": ("return_home", "nz", "closed"),
}
# Open tasks: id -> (case, step, unit, age in hours, due from now in hours, overdue flag).
OPEN = {
    "t1": ("c1", "information_collection", "dg", 0.5, -1, False),  # late by time
    "t2": ("c1", "home_visit", "dg", 40 * 24, 5, False),  # at risk
    "t3": ("c1", "township_review", "cg", 50, 100, True),  # flagged overdue
    "t4": ("c4", "review", "cg", 10 * 24, None, False),  # no deadline: on time
    "t5": ("c3", "information_collection", "ng", 5 * 24, 200, False),  # on time
    "t6": ("c3", "township_review", "nz", 2, 24, False),  # at risk, on the edge
    "t7": ("c1", "county_review", "county", 80, -0.1, False),  # late by time
}
# Escalation rung reached (HumanTask.escalation_level); the rest stay at 0.
ESCALATED = {"t1": 1, "t3": 3, "t5": 1, "t7": 2, "c1.ar2": 3, "s1": 2}
# Incidents: id -> (case, unit, status).
INCIDENTS = {
    "i1": ("c1", "dg", "open"),
    "i2": ("c3", "ng", "open"),
    "i3": ("c4", "cg", "resolved"),  # retried: counted nowhere
    "i4": ("c5", "nz", "open"),
    "i5": ("c1", "county", "open"),
}
# Completed tasks: id -> (case, step, unit, round, created h ago, took h, due after h).
DONE = {
    "c1.ar1": ("c1", "archive_review", "county", 1, 100, 10, 20),  # in time
    "c1.ar2": ("c1", "archive_review", "county", 2, 80, 30, 20),  # late
    "c1.ar3": ("c1", "archive_review", "county", 3, 40, 2, 24),  # in time
    "c2.ar1": ("c2", "archive_review", "county", 1, 200, 4, None),  # not in the rate
    "c3.ar1": ("c3", "archive_review", "county", 1, 300, 6, 48),  # in time
    "c3.ar2": ("c3", "archive_review", "county", 2, 250, 8, 48),  # in time
    "c2.ic": ("c2", "information_collection", "dg", 1, 150, 12, 12),  # due exactly
    "c5.ic": ("c5", "information_collection", "ng", 1, 500, 24, 10),  # late
}


def _task(tid, cid, step, unit, created_h, **kw):
    kw.setdefault("escalation_level", ESCALATED.get(tid, 0))
    return HumanTask(
        id=tid,
        case_id=cid,
        workflow_id=cid,
        process=CASES[cid][0],
        step=step,
        title=TITLES[step],
        candidate_role="x",
        org_unit_id=unit.id,
        org_path=unit.path,
        created_at=NOW - created_h * H,
        **kw,
    )


@pytest.fixture
def units(seeded_engine) -> dict[str, OrgUnit]:
    """Write the cases and tasks above; return the demo units by short name."""
    with Session(seeded_engine, expire_on_commit=False) as s:
        units = {
            k: s.exec(select(OrgUnit).where(OrgUnit.code == code)).one()
            for k, code in UNITS.items()
        }
        vet = s.exec(select(Veteran)).first()
        for cid, (process, unit, status) in CASES.items():
            u = units[unit]
            s.add(
                Case(
                    id=cid,
                    workflow_id=cid,
                    process=process,
                    veteran_id=vet.id,
                    org_unit_id=u.id,
                    org_path=u.path,
                    status=status,
                )
            )
        s.flush()
        for tid, (cid, step, unit, age, due, flag) in OPEN.items():
            due_at = None if due is None else NOW + due * H
            s.add(_task(tid, cid, step, units[unit], age, due_at=due_at, overdue=flag))
        for tid, (cid, step, unit, rnd, age, took, due) in DONE.items():
            created = NOW - age * H
            s.add(
                _task(
                    tid,
                    cid,
                    step,
                    units[unit],
                    age,
                    status="completed",
                    round=rnd,
                    due_at=None if due is None else created + due * H,
                    completed_at=created + took * H,
                )
            )
        for iid, (cid, unit, status) in INCIDENTS.items():
            s.add(
                Incident(
                    id=iid,
                    case_id=cid,
                    workflow_id=cid,
                    process=CASES[cid][0],
                    step="register_case",
                    activity="register_case",
                    error_type="UnknownOrgUnit",
                    message="机构不存在",
                    org_unit_id=units[unit].id,
                    org_path=units[unit].path,
                    status=status,
                    opened_at=NOW - H,
                )
            )
        # Neither open nor completed: counted nowhere.
        s.add(
            _task(
                "s1",
                "c1",
                "party_transfer",
                units["dg"],
                1,
                status="skipped",
                due_at=NOW - 5 * H,
                overdue=True,
            )
        )
        s.commit()
        return units


def test_county_view_counts_the_whole_subtree(seeded_engine, units):
    st = dashboard_stats(
        seeded_engine, units["county"].path, NOW, at_risk_hours=24, username="manager"
    )

    assert st.open_cases_by_process == {"pension": 1, "return_home": 2}
    assert st.closed_cases == 2
    assert (st.open_tasks, st.overdue, st.at_risk, st.on_time) == (7, 3, 2, 2)
    assert [
        (c.process, c.step, c.title, c.count, c.overdue, c.at_risk)
        for c in st.open_tasks_by_step
    ] == [
        ("return_home", "information_collection", "信息采集", 2, 1, 0),
        ("return_home", "township_review", "乡镇审核", 2, 1, 1),
        ("pension", "review", "审核", 1, 0, 0),
        ("return_home", "county_review", "县级审核", 1, 1, 0),
        ("return_home", "home_visit", "走访慰问", 1, 0, 1),
    ]
    assert [
        (o.org_unit_name, o.count, o.overdue) for o in st.open_tasks_by_org_unit
    ] == [
        ("东关村退役军人服务站", 2, 1),
        ("城关镇退役军人服务站", 2, 1),
        ("南关村退役军人服务站", 1, 0),
        ("南关镇退役军人服务站", 1, 0),
        ("示范县退役军人服务中心", 1, 1),
    ]
    assert st.backlog_age == {
        "<1天": 2,
        "1-3天": 1,
        "3-7天": 2,
        "7-30天": 1,
        ">30天": 1,
    }
    assert st.on_time_rate == pytest.approx(5 / 7)
    # archive_review durations [2, 4, 6, 8, 10, 30]: median 7, p90 = 6th of 6.
    assert [
        (d.process, d.step, d.title, d.completed, d.median_hours, d.p90_hours)
        for d in st.step_durations
    ] == [
        ("return_home", "archive_review", "档案审核", 6, 7.0, 30.0),
        ("return_home", "information_collection", "信息采集", 2, 18.0, 24.0),
    ]
    # c1 approved in round 3 (2 corrections), c3 in round 2, c2 first time.
    cr = st.correction_rounds
    assert (cr.avg, cr.max, cr.distribution) == (1.0, 2, {0: 1, 1: 1, 2: 1})
    # Open tasks only: t1, t5 at rung 1, t7 at 2, t3 at 3 (c1.ar2 done, s1 skipped).
    assert st.escalated == {1: 4, 2: 2, 3: 1}
    assert (st.open_incidents, st.failed_notices) == (4, 0)


def test_township_view_excludes_other_townships(seeded_engine, units):
    st = dashboard_stats(seeded_engine, units["nz"].path, NOW, username="manager")

    assert st == DashboardStats(
        open_cases_by_process={"return_home": 1},
        closed_cases=1,
        open_tasks=2,
        overdue=0,
        at_risk=1,
        on_time=1,
        open_tasks_by_step=[
            {
                "process": "return_home",
                "step": "information_collection",
                "title": "信息采集",
                "count": 1,
                "overdue": 0,
                "at_risk": 0,
            },
            {
                "process": "return_home",
                "step": "township_review",
                "title": "乡镇审核",
                "count": 1,
                "overdue": 0,
                "at_risk": 1,
            },
        ],
        open_tasks_by_org_unit=[
            {
                "org_unit_id": units["ng"].id,
                "org_unit_name": "南关村退役军人服务站",
                "count": 1,
                "overdue": 0,
            },
            {
                "org_unit_id": units["nz"].id,
                "org_unit_name": "南关镇退役军人服务站",
                "count": 1,
                "overdue": 0,
            },
        ],
        backlog_age={"<1天": 1, "1-3天": 0, "3-7天": 1, "7-30天": 0, ">30天": 0},
        on_time_rate=0.0,
        step_durations=[
            {
                "process": "return_home",
                "step": "information_collection",
                "title": "信息采集",
                "completed": 1,
                "median_hours": 24.0,
                "p90_hours": 24.0,
            }
        ],
        # c3's archive review sits at the county centre but the case is 南关镇's.
        correction_rounds={"avg": 1.0, "max": 1, "distribution": {1: 1}},
        open_incidents=2,  # i2 (南关村), i4 (南关镇)
        failed_notices=0,
        escalated={1: 1, 2: 0, 3: 0},  # t5
    )
    chengguan = dashboard_stats(
        seeded_engine, units["cg"].path, NOW, username="manager"
    )
    assert (chengguan.open_tasks, chengguan.overdue, chengguan.at_risk) == (4, 2, 1)
    assert chengguan.open_cases_by_process == {"pension": 1, "return_home": 1}
    # i1 (东关村) is open; i3 (城关镇) was resolved; i5 sits at the county above.
    assert chengguan.open_incidents == 1
    assert chengguan.escalated == {1: 2, 2: 1, 3: 1}  # t1, t3


def test_risk_window_and_clock_zone(seeded_engine, units):
    narrow = dashboard_stats(
        seeded_engine, units["county"].path, NOW, at_risk_hours=6, username="manager"
    )
    assert (narrow.overdue, narrow.at_risk, narrow.on_time) == (3, 1, 3)
    wide = dashboard_stats(seeded_engine, units["county"].path, NOW, username="manager")
    # A naive clock is UTC; a Beijing-time clock is the same instant.
    for now in (NOW.replace(tzinfo=None), NOW.astimezone(ZoneInfo("Asia/Shanghai"))):
        assert (
            dashboard_stats(
                seeded_engine, units["county"].path, now, username="manager"
            )
            == wide
        )


def test_empty_subtree(seeded_engine):
    st = dashboard_stats(seeded_engine, "/nowhere/", NOW, username="manager")
    assert (st.open_tasks, st.closed_cases, st.on_time_rate) == (0, 0, None)
    assert st.open_cases_by_process == {} and st.step_durations == []
    assert set(st.backlog_age.values()) == {0}
    assert st.correction_rounds.model_dump() == {
        "avg": 0.0,
        "max": 0,
        "distribution": {},
    }
    assert (st.open_incidents, st.failed_notices) == (0, 0)
    assert st.escalated == {1: 0, 2: 0, 3: 0}


def test_failed_notices_awaiting_a_clerk(seeded_engine, units):
    """Open notice_failed / staff_notice_failed work items of the subtree; a settled
    one, or another township's, is not counted."""
    rows = {
        "n1": ("c1", "notice_failed", "dg", "open"),
        "n2": ("c1", "staff_notice_failed", "county", "open"),
        "n3": ("c1", "notice_failed", "dg", "completed"),
        "n4": ("c3", "notice_failed", "ng", "open"),
        "n5": ("c3", "staff_notice_failed", "nz", "cancelled"),
    }
    with Session(seeded_engine) as s:
        for tid, (cid, step, unit, status) in rows.items():
            s.add(
                HumanTask(
                    id=tid,
                    case_id=cid,
                    workflow_id=f"{cid}.notice.{tid}",
                    process="notice",
                    step=step,
                    title="通知发送失败",
                    candidate_role="county_staff",
                    org_unit_id=units[unit].id,
                    org_path=units[unit].path,
                    status=status,
                    created_at=NOW - H,
                )
            )
        s.commit()

    by_unit = {
        k: dashboard_stats(
            seeded_engine, units[k].path, NOW, username="manager"
        ).failed_notices
        for k in ("county", "cg", "dg", "nz", "ng")
    }
    assert by_unit == {"county": 3, "cg": 1, "dg": 1, "nz": 1, "ng": 1}
    county = dashboard_stats(
        seeded_engine, units["county"].path, NOW, username="manager"
    )
    assert county.open_tasks == len(OPEN) + 3  # they are open tasks like any other
