"""The satisfaction report (GET /api/reports/satisfaction[.csv]) and its dashboard
section, on rows written directly (no workflow runs): ratings, complaint projections
and complaint tasks over the previous and the current Asia/Shanghai month at two
townships, a village below one and the county itself. Every figure below is counted
by hand from the rows of ``_seed``."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.demo import DEMO_PASSWORD
from models.passwords import hash_password
from models.processes.annual_review import TZ
from models.tables import (
    Account,
    AuditEvent,
    Case,
    CaseExclusion,
    Complaint,
    HumanTask,
    OrgUnit,
    Rating,
)
from tests.api.page_login import page_login

TODAY = datetime.now(UTC).astimezone(TZ).date()
THIS = TODAY.replace(day=1)  # "October" of the hand count
PREV = (THIS - timedelta(days=1)).replace(day=1)  # "September"


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time as aware UTC."""
    return datetime.combine(day, time(hour, minute), tzinfo=TZ).astimezone(UTC)


def _seed(engine: Engine) -> dict[str, OrgUnit]:
    with Session(engine) as s:
        units = {u.code: u for u in s.exec(select(OrgUnit)).all()}
        county, cg, dg = units["sfx"], units["sfx-cgz"], units["sfx-cgz-dgc"]
        ng, ngc, city = units["sfx-ngz"], units["sfx-ngz-ngc"], units["sfs"]
        n = 0

        def rating(
            unit: OrgUnit, grade: str, when: datetime, counted: bool = True
        ) -> None:
            nonlocal n
            n += 1
            s.add(
                Rating(
                    link_id=f"link-{n}",
                    process="return_home",
                    step="archive_review",
                    org_unit_id=unit.id or 0,
                    org_path=unit.path,
                    clerk="village",
                    grade=grade,
                    comment="态度很好",
                    rated_at=when,
                    counted=counted,
                )
            )

        # Previous month: 东关村 VS VS VS S D; 南关镇 BS BS VD, and a D uncounted by
        # an upheld appeal.
        for g in ["very_satisfied"] * 3 + ["satisfied", "dissatisfied"]:
            rating(dg, g, at(PREV + timedelta(days=4)))
        for g in ["basically_satisfied"] * 2 + ["very_dissatisfied"]:
            rating(ng, g, at(PREV + timedelta(days=9)))
        rating(ng, "dissatisfied", at(PREV + timedelta(days=9)), counted=False)
        # This month: 城关镇 S S S, and one at 00:30 on the 1st (Shanghai; the UTC date
        # is still last month's); 南关村 VS; the county itself S.
        for _ in range(3):
            rating(cg, "satisfied", at(THIS, 9))
        rating(cg, "satisfied", at(THIS, 0, 30))
        rating(ngc, "very_satisfied", at(THIS, 8))
        rating(county, "satisfied", at(THIS, 8))
        # Outside: before the period, and the city (not in the county's subtree).
        rating(dg, "very_dissatisfied", at(PREV - timedelta(days=1)))
        rating(city, "very_dissatisfied", at(THIS, 8))

        def task(
            case_id: str,
            unit: OrgUnit,
            step: str,
            done: datetime | None,
            due: datetime | None,
            outcome: str = "done",
        ) -> None:
            if s.get(Case, case_id) is None:
                s.add(
                    Case(
                        id=case_id,
                        workflow_id=case_id,
                        process="complaint",
                        org_unit_id=unit.id or 0,
                        org_path=unit.path,
                    )
                )
                s.flush()
            s.add(
                HumanTask(
                    id=f"{case_id}-{step}-{done}-{outcome}",
                    case_id=case_id,
                    workflow_id=case_id,
                    process="complaint",
                    step=step,
                    title=step,
                    candidate_role="county_staff",
                    org_unit_id=unit.id or 0,
                    org_path=unit.path,
                    status="completed" if done else "open",
                    created_at=(done or at(THIS)) - timedelta(days=3),
                    due_at=due,
                    completed_at=done,
                    outcome=outcome if done else None,
                )
            )

        p = PREV
        # 整改: 东关村 on time and late last month (a "complex" answer and an open task
        # not counted); 南关镇 on time this month.
        task(
            "t-r1", dg, "rectify", at(p + timedelta(days=9)), at(p + timedelta(days=14))
        )
        task(
            "t-r2",
            dg,
            "rectify",
            at(p + timedelta(days=19)),
            at(p + timedelta(days=17)),
        )
        task(
            "t-r3",
            dg,
            "rectify",
            at(p + timedelta(days=5)),
            at(p + timedelta(days=14)),
            "complex",
        )
        task("t-r3", dg, "rectify", None, at(p + timedelta(days=40)))
        task("t-r4", ng, "rectify", at(THIS, 11), at(THIS, 12))
        # 信访 at the county: acceptance on time this month (one without a due time not
        # counted); handling: the extension request not counted, the extended handling
        # late; 复查 on time last month. One more acceptance (late) on a case that
        # excludes the manager: the auditor counts it, the manager does not.
        task("t-p1", county, "acceptance_decision", at(THIS, 9), at(THIS, 18))
        task("t-p1", county, "acceptance_decision", at(THIS, 10), None, "accept")
        task(
            "t-p2",
            county,
            "handling",
            at(p + timedelta(days=2)),
            at(p + timedelta(days=3)),
            "request_extension",
        )
        task("t-p2", county, "handling", at(THIS, 15), at(THIS, 14))
        task(
            "t-p3",
            county,
            "review",
            at(p + timedelta(days=7)),
            at(p + timedelta(days=8)),
        )
        task("t-p4", county, "acceptance_decision", at(THIS, 11), at(THIS, 10))
        # A 复核 that calls a hearing (the clock pauses): not an answer, not counted.
        task("t-p3", county, "recheck", at(THIS, 9), at(THIS, 8), "hearing")
        s.add(CaseExclusion(case_id="t-p4", username="manager", reason="reported"))

        def complaint(
            case_id: str,
            unit: OrgUnit,
            channel: str,
            stage: str,
            closed: datetime | None,
            reopens: int = 0,
        ) -> None:
            s.add(
                Complaint(
                    case_id=case_id,
                    channel=channel,
                    org_unit_id=unit.id or 0,
                    org_path=unit.path,
                    received_on=PREV,
                    stage=stage,
                    reopens=reopens,
                    closed_at=closed,
                )
            )

        complaint("t-c1", dg, "rating", "concluded", at(p + timedelta(days=20)), 1)
        complaint("t-c2", dg, "window", "concluded", at(THIS, 16))
        complaint("t-c3", ng, "rating", "concluded", at(THIS, 16))
        complaint("t-c4", ng, "rating", "appeal_upheld", at(THIS, 16))
        complaint("t-c5", county, "petition", "concluded", at(THIS, 16))
        complaint("t-c6", cg, "rating", "rectifying", None, 2)
        s.add(
            Account(
                username="cg_manager",
                display_name="城关镇主任",
                password_hash=hash_password(DEMO_PASSWORD),
                roles=["manager"],
                org_unit_id=cg.id or 0,
            )
        )
        s.commit()
        return {u.code: u for u in s.exec(select(OrgUnit)).all()}


def _unit(report: dict, code_name: str) -> dict:
    return next(u for u in report["units"] if u["org_unit_name"] == code_name)


async def test_satisfaction_report(http, auth, seeded_engine):
    units = _seed(seeded_engine)
    county, cg, ng = units["sfx"], units["sfx-cgz"], units["sfx-ngz"]
    period = {"from": PREV.isoformat(), "to": TODAY.isoformat()}
    manager = await auth("manager")
    r = await http.get("/api/reports/satisfaction", params=period, headers=manager)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert (rep["from"], rep["to"], rep["org_unit_id"]) == (
        PREV.isoformat(),
        TODAY.isoformat(),
        county.id,
    )
    t = rep["totals"]
    assert t["grades"] == {
        "very_satisfied": 4,
        "satisfied": 6,
        "basically_satisfied": 2,
        "dissatisfied": 1,
        "very_dissatisfied": 1,
    }
    assert (t["ratings"], t["satisfied"], t["satisfaction_rate"]) == (14, 12, 0.8571)
    assert (t["goal"], t["meets_goal"], t["bad_reviews"], t["appeals_upheld"]) == (
        0.9,
        False,
        2,
        1,
    )
    assert (t["rectify_completed"], t["rectify_on_time"]) == (3, 2)
    assert t["rectify_on_time_rate"] == 0.6667
    assert (t["complaints_concluded"], t["complaints_reopened"]) == (3, 1)
    assert t["reopen_rate"] == 0.3333
    pet = t["petition"]
    assert pet["acceptance_decision"] == {
        "completed": 1,
        "on_time": 1,
        "on_time_rate": 1.0,
    }
    assert pet["handling"] == {"completed": 1, "on_time": 0, "on_time_rate": 0.0}
    assert pet["review"] == {"completed": 1, "on_time": 1, "on_time_rate": 1.0}
    assert pet["recheck"] == {"completed": 0, "on_time": 0, "on_time_rate": None}
    # Per month (Shanghai): the 00:30 rating of the 1st is this month's.
    prev, this = rep["months"]
    assert (prev["month"], this["month"]) == (
        PREV.strftime("%Y-%m"),
        THIS.strftime("%Y-%m"),
    )
    assert (prev["ratings"], prev["satisfaction_rate"], prev["bad_reviews"]) == (
        8,
        0.75,
        2,
    )
    assert (this["ratings"], this["satisfaction_rate"], this["meets_goal"]) == (
        6,
        1.0,
        True,
    )
    assert (prev["rectify_on_time_rate"], this["rectify_on_time_rate"]) == (0.5, 1.0)
    assert (prev["reopen_rate"], this["reopen_rate"]) == (1.0, 0.0)
    assert this["appeals_upheld"] == 0 and prev["appeals_upheld"] == 1
    # Per unit: the county itself, then each township with everything below it.
    assert [u["org_unit_id"] for u in rep["units"]] == [county.id, cg.id, ng.id]
    own, cgu, ngu = rep["units"]
    assert (own["rolled_up"], own["ratings"], own["satisfaction_rate"]) == (
        False,
        1,
        1.0,
    )
    assert own["rectify_on_time_rate"] is None and own["reopen_rate"] is None
    assert own["petition"]["review"]["completed"] == 1
    assert (cgu["ratings"], cgu["satisfied"], cgu["satisfaction_rate"]) == (
        9,
        8,
        0.8889,
    )
    assert (cgu["rectify_completed"], cgu["complaints_concluded"]) == (2, 2)
    assert (ngu["ratings"], ngu["satisfaction_rate"], ngu["bad_reviews"]) == (
        4,
        0.75,
        1,
    )
    assert (ngu["appeals_upheld"], ngu["reopen_rate"]) == (1, 0.0)
    # Counts only: no rater, comment, clerk or rated case anywhere in the answer.
    for word in ("态度很好", "village", "link-", "t-c1", "t-p"):
        assert word not in r.text
    # The auditor is not excluded from t-p4: its late acceptance counts.
    auditor = await auth("auditor")
    r = await http.get("/api/reports/satisfaction", params=period, headers=auditor)
    assert r.json()["totals"]["petition"]["acceptance_decision"]["on_time_rate"] == 0.5

    # One township: the unit itself and its village.
    r = await http.get(
        "/api/reports/satisfaction",
        params={**period, "org_unit_id": cg.id},
        headers=manager,
    )
    cg_units = r.json()["units"]
    assert [(u["org_unit_name"], u["ratings"]) for u in cg_units] == [
        ("城关镇退役军人服务站", 4),
        ("东关村退役军人服务站", 5),
    ]
    # Scope: a township's manager may not ask for the county (404) nor the other
    # township; by default the report is of their own unit. Clerks: 403.
    cg_manager = await auth("cg_manager")
    for unit_id in (county.id, ng.id, 999999):
        r = await http.get(
            "/api/reports/satisfaction",
            params={**period, "org_unit_id": unit_id},
            headers=cg_manager,
        )
        assert r.status_code == 404, r.text
    r = await http.get("/api/reports/satisfaction", params=period, headers=cg_manager)
    assert r.json()["org_unit_id"] == cg.id and r.json()["totals"]["ratings"] == 9
    r = await http.get(
        "/api/reports/satisfaction", params=period, headers=await auth("township")
    )
    assert r.status_code == 403
    # 422 with the field: from after to, a date that is none, a period too long.
    for params, field in [
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
    ]:
        r = await http.get("/api/reports/satisfaction", params=params, headers=manager)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["query", field]
    # The default period: this month to date.
    r = await http.get("/api/reports/satisfaction", headers=manager)
    assert (r.json()["from"], r.json()["to"]) == (THIS.isoformat(), TODAY.isoformat())
    assert r.json()["totals"]["ratings"] == 6

    # CSV: BOM, CRLF, a header, the totals, three units, two months; a unit name
    # that looks like a formula stays text. Audited.
    with Session(seeded_engine) as s:
        row = s.get(OrgUnit, ng.id)
        assert row is not None
        row.name = "=南关镇"
        s.add(row)
        s.commit()
    r = await http.get("/api/reports/satisfaction.csv", params=period, headers=manager)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())
    text = r.content.decode("utf-8")[1:]
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 1 + 1 + 3 + 2 and len({len(x) for x in rows}) == 1
    head = rows[0]
    total = dict(zip(head, rows[1], strict=True))
    assert (total["范围"], total["评价数(计入)"], total["满意率"]) == (
        "合计",
        "14",
        "85.7%",
    )
    assert (total["达标(≥90%)"], total["复核按期率"]) == ("否", "")
    assert [x[1] for x in rows[2:5]] == [
        "示范县退役军人服务中心(本级)",
        "城关镇退役军人服务站",
        "'=南关镇",
    ]
    assert rows[5][2] == PREV.strftime("%Y-%m")
    with Session(seeded_engine) as s:
        audit = s.exec(
            select(AuditEvent).where(
                AuditEvent.action == "satisfaction_report_exported"
            )
        ).one()
    assert (audit.actor, audit.entity_id) == ("manager", str(county.id))
    r = await http.get(
        "/api/reports/satisfaction.csv",
        params={**period, "org_unit_id": county.id},
        headers=cg_manager,
    )
    assert r.status_code == 404

    # The dashboard's section: the rate against the goal, as charts and tables.
    await page_login(http, "manager")
    page = await http.get("/dashboard")
    assert page.status_code == 200
    section = page.text.split('id="satisfaction"', 1)[1]
    assert "服务评价与投诉" in page.text and "85.7%" in section
    assert "<svg" in section and 'id="satisfaction-units"' in section
    link = re.search(r'href="(/dashboard/satisfaction\.csv\?[^"]+)"', section)
    assert link, section
    r = await http.get(link.group(1).replace("&amp;", "&"))
    assert r.status_code == 200 and r.content.startswith("\ufeff".encode())
    assert r.content.decode("utf-8").count("\r\n") == 7
    page = await http.get("/dashboard", params={"sat_from": "2026-02-30"})
    assert 'id="satisfaction-problem"' in page.text
