"""The staff pages and the read API show the new processes from their step definitions:
a case about an org unit (a county's payroll, no veteran), sensitive form fields
(出入境) masked unless the reader's role may see them (unmasked reads audited), steps the
veteran holds (本人在线报送 / 帮办代报) with the case's split clock, processes clerks do not
start, diagrams with ways back, and every annual-review step form rendered from its
schema and posted back."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.datastructures import FormData

from activities.notifications import notice_facts
from activities.projection import _register
from api.task_reads import mask_history
from api.web.diagram import diagram_svg, step_states
from api.web.forms import data_from_form, field_errors, fields_of
from api.web.i18n import Translator
from models.contracts import (
    Actor,
    CompleteTaskInput,
    NoticeInput,
    RegisterCaseInput,
    StartCaseInput,
    TaskResult,
)
from models.processes import PROCESSES, annual_review, policy_for
from models.tables import Account, AuditEvent, Case, HumanTask, OrgUnit, Veteran
from tests.api.page_login import page_login
from tests.monthly_pay_support import open_month
from tests.support import open_task, tasks, wait_for
from worker import build_worker

TRIPS = [
    {"departed_on": "2026-05-01", "returned_on": "2026-05-08", "destination": "泰国"},
    {"departed_on": "2026-09-01", "destination": "新加坡", "purpose": "探亲"},
]
REPORT = {
    "party_life": "按时参加社区党支部组织生活",
    "associations": ["示范县退役军人志愿者协会"],
    "travel_abroad": TRIPS,
    "rewards_punishments": "无",
    "declaration": True,
}
REVIEW = annual_review.SPEC
PAY = next(p for p in PROCESSES.values() if p.subject == "org_unit")


def _form(step: str, spec: Any = REVIEW) -> type[BaseModel]:
    form: type[BaseModel] = spec.step(step).form
    return form


def _schema(step: str, spec: Any = REVIEW) -> dict[str, Any]:
    return _form(step, spec).model_json_schema()


# --- the step forms, rendered from their schemas and posted back ---------------------


def _kinds(schema: dict[str, Any]) -> dict[str, str]:
    return {f.name: f.kind for f in fields_of(schema, {}, {})}


def test_every_annual_review_form_renders_and_posts_back() -> None:
    # 年度登记信息报送: text, a list of strings, rows of trips, a declaration.
    report = _schema("submit_report")
    assert _kinds(report) == {
        "party_life": "textarea",
        "associations": "list",
        "travel_abroad": "rows",
        "rewards_punishments": "textarea",
        "declaration": "bool",
    }
    trips = next(f for f in fields_of(report, {}, {}) if f.name == "travel_abroad")
    assert [(c.name, c.kind, c.required) for c in trips.columns] == [
        ("departed_on", "date", True),
        ("returned_on", "date", False),
        ("destination", "text", True),
        ("purpose", "text", False),
    ]
    assert len(trips.rows) == 2  # blank rows to fill in
    posted = FormData(
        [
            ("party_life", " 按时参加社区党支部组织生活 "),
            ("associations__other", "示范县退役军人志愿者协会\n\n"),
            ("travel_abroad__0__departed_on", "2026-05-01"),
            ("travel_abroad__0__returned_on", "2026-05-08"),
            ("travel_abroad__0__destination", "泰国"),
            ("travel_abroad__0__purpose", ""),
            ("travel_abroad__1__departed_on", ""),  # a blank row is dropped
            ("travel_abroad__1__destination", " "),
            ("rewards_punishments", "无"),
            ("declaration", "on"),
        ]
    )
    data = data_from_form(report, posted)
    assert data == {
        "party_life": "按时参加社区党支部组织生活",
        "associations": ["示范县退役军人志愿者协会"],
        "travel_abroad": [TRIPS[0]],
        "rewards_punishments": "无",
        "declaration": True,
    }
    _form("submit_report").model_validate(data)
    # What was typed comes back in its rows, with blank rows below it.
    again = next(f for f in fields_of(report, data, {}) if f.name == "travel_abroad")
    assert again.rows[0]["destination"] == "泰国" and again.rows[1:] == [{}, {}]
    # An unticked declaration is posted as False: the form refuses it.
    unticked = data_from_form(report, FormData([("party_life", "无")]))
    assert unticked["declaration"] is False and "travel_abroad" not in unticked

    # 党组织评定意见: a Literal as a select, a bool that defaults to ticked.
    opinion = fields_of(_schema("party_opinion"), {}, {})
    rating = opinion[0]
    assert (rating.name, rating.kind, rating.required) == ("rating", "select", True)
    assert rating.options == list(annual_review.PARTY_RATINGS)
    assert next(f for f in opinion if f.name == "dues_paid").value is True
    data = data_from_form(
        _schema("party_opinion"), FormData([("rating", "合格"), ("dues_paid", "on")])
    )
    assert _form("party_opinion").model_validate(data).rating == "合格"

    # 年度登记审核: the defects one per line, checked against the outcome.
    review = _schema("county_review")
    assert _kinds(review)["defects"] == "list"
    data = data_from_form(
        review, FormData([("defects__other", "出入境日期不全\n奖惩情况未填写")])
    )
    assert data == {"defects": ["出入境日期不全", "奖惩情况未填写"]}
    _form("county_review").model_validate(data, context={"outcome": "correct"})

    # 约谈提醒: a date, a name, the record.
    interview = _schema("interview")
    assert _kinds(interview)["held_on"] == "date"
    data = data_from_form(
        interview,
        FormData(
            [
                ("held_on", "2027-02-01"),
                ("interviewer", "刘副主任"),
                ("record", "提醒按时报送"),
            ]
        ),
    )
    _form("interview").model_validate(data)

    # 逾期未报送处理: an optional date (extend) and a reason.
    late = _schema("non_submission")
    assert _kinds(late) == {"extend_until": "date", "reason": "textarea"}
    data = data_from_form(late, FormData([("extend_until", "2027-04-15")]))
    _form("non_submission").model_validate(data, context={"outcome": "extend"})


def test_payroll_rows_of_veteran_and_reason() -> None:
    schema = _schema("prepare_payroll", PAY)
    held = next(f for f in fields_of(schema, {}, {}) if f.kind == "rows")
    kinds = {c.name: c.kind for c in held.columns}
    assert kinds == {"veteran_id": "number", "reason": "text"}
    data = data_from_form(
        schema,
        FormData(
            [
                (f"{held.name}__0__veteran_id", "12"),
                (f"{held.name}__0__reason", "本人申请暂缓"),
                (f"{held.name}__1__veteran_id", ""),
                (f"{held.name}__1__reason", ""),
            ]
        ),
    )
    assert data == {held.name: [{"veteran_id": "12", "reason": "本人申请暂缓"}]}
    parsed = _form("prepare_payroll", PAY).model_validate(data)
    assert getattr(parsed, held.name)[0].veteran_id == 12


def test_a_row_error_names_its_row() -> None:
    errors, general = field_errors(
        [
            {
                "loc": ["data", "travel_abroad", 1, "destination"],
                "type": "string_too_short",
                "msg": "x",
            }
        ],
        Translator("zh-CN"),
    )
    assert errors == {"travel_abroad": "第2行: 内容过短，请填写完整"} and not general


def test_the_diagram_draws_the_ways_back() -> None:
    svg = diagram_svg(
        REVIEW,
        step_states(
            REVIEW, [("submit_report", "withdrawn"), ("non_submission", "open")]
        ),
    )
    for source, target in (
        ("county_review", "submit_report"),
        ("interview", "county_review"),
        ("non_submission", "submit_report"),
    ):
        assert f'data-from="{source}" data-to="{target}"' in svg
    assert 'data-step="submit_report" data-state="skipped"' in svg
    assert 'data-step="non_submission" data-state="current"' in svg
    for step in PAY.steps:  # the payroll: its own way back (rejected → prepare again)
        assert f'data-step="{step.key}"' in diagram_svg(PAY, {})
    assert 'data-from="approve_payroll" data-to="prepare_payroll"' in diagram_svg(
        PAY, {}
    )


# --- rows as the workflows write them -------------------------------------------------


def _unit(engine: Engine, level: str) -> OrgUnit:
    with Session(engine) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.level == level)).first()
        assert unit is not None
        return unit


def _veteran(engine: Engine, name: str) -> Veteran:
    with Session(engine) as s:
        return s.exec(select(Veteran).where(Veteran.name == name)).one()


def _display_name(engine: Engine, username: str) -> str:
    with Session(engine) as s:
        return (
            s.exec(select(Account).where(Account.username == username))
            .one()
            .display_name
        )


def _add_case(
    engine: Engine,
    case_id: str,
    spec: Any,
    unit: OrgUnit,
    veteran_id: int | None,
    started_at: datetime,
    status: str = "running",
) -> None:
    with Session(engine) as s:
        s.add(
            Case(
                id=case_id,
                workflow_id=case_id,
                process=spec.key,
                title=spec.title,
                veteran_id=veteran_id,
                org_unit_id=unit.id or 0,
                org_path=unit.path,
                status=status,
                started_by="system",
                started_at=started_at,
            )
        )
        s.commit()


def _add_task(
    engine: Engine,
    case_id: str,
    spec: Any,
    step: str,
    unit: OrgUnit,
    *,
    round_no: int = 1,
    role: str | None = None,
    created_at: datetime,
    result: dict[str, Any] | None = None,
    outcome: str | None = None,
    completed_by: str | None = None,
    completed_at: datetime | None = None,
    context: dict[str, Any] | None = None,
) -> str:
    st = spec.step(step)
    task_id = f"{case_id}.{step}.{round_no}"
    with Session(engine) as s:
        s.add(
            HumanTask(
                id=task_id,
                case_id=case_id,
                workflow_id=case_id,
                process=spec.key,
                step=step,
                title=st.title,
                regulation=st.clause,
                candidate_role=role or st.role,
                org_unit_id=unit.id or 0,
                org_path=unit.path,
                status="completed" if completed_at else "open",
                round=round_no,
                created_at=created_at,
                due_at=created_at + timedelta(days=15),
                outcomes=list(st.outcomes),
                form_schema=st.form.model_json_schema(),
                context=context or {},
                outcome=outcome,
                result=result or {},
                completed_by=completed_by,
                completed_at=completed_at,
                assignee=completed_by,
            )
        )
        s.commit()
    return task_id


def _audits(engine: Engine, action: str, actor: str | None = None) -> list[AuditEvent]:
    with Session(engine) as s:
        q = select(AuditEvent).where(AuditEvent.action == action)
        if actor:
            q = q.where(AuditEvent.actor == actor)
        return list(s.exec(q).all())


async def test_a_case_about_an_org_unit_on_every_page(http, auth, seeded_engine):
    """A county's payroll has no veteran: every list and page shows the unit."""
    county = _unit(seeded_engine, "county")
    now = datetime.now(UTC)
    case_id = "pay-county-2027-01"
    _add_case(seeded_engine, case_id, PAY, county, None, now - timedelta(days=3))
    held = {"held": [{"veteran_id": 2, "reason": "本人申请暂缓"}], "note": ""}
    done = _add_task(
        seeded_engine,
        case_id,
        PAY,
        PAY.steps[0].key,
        county,
        created_at=now - timedelta(days=3),
        result=held,
        outcome=PAY.steps[0].outcomes[0],
        completed_by="county",
        completed_at=now - timedelta(days=2),
    )
    # Open at a role the county clerk holds, so that their inbox lists it.
    todo = _add_task(
        seeded_engine,
        case_id,
        PAY,
        PAY.steps[0].key,
        county,
        round_no=2,
        role="county_staff",
        created_at=now - timedelta(days=1),
    )
    approve = PAY.steps[1]
    assert approve.four_eyes_with == PAY.steps[0].key
    checked = _add_task(
        seeded_engine,
        case_id,
        PAY,
        approve.key,
        county,
        created_at=now - timedelta(days=2),
    )
    await page_login(http, "county")
    # 双人复核: the approval names whom it may not be done by.
    page = (await http.get(f"/tasks/{checked}")).text
    note = re.search(r'<p id="four-eyes-note".*?</p>', page, re.S)
    assert note and _display_name(seeded_engine, "county") in note.group(0)
    inbox = await http.get("/inbox", params={"tab": "claimable"})
    row = re.search(rf'<tr[^>]*data-task="{re.escape(todo)}".*?</tr>', inbox.text, re.S)
    assert (
        row and 'class="subject-unit"' in row.group(0) and county.name in row.group(0)
    )
    found = await http.get("/inbox", params={"tab": "claimable", "q": county.name[:3]})
    assert todo in found.text
    listed = await http.get("/cases", params={"q": county.name[:3]})
    assert listed.status_code == 200 and f"/cases/{case_id}" in listed.text
    assert "机构案件" in listed.text
    running = await http.get("/cases", params={"status": "running"})
    assert f"/cases/{case_id}" in running.text
    page = await http.get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert 'data-subject="org_unit"' in page.text and county.name in page.text
    assert f'data-step="{PAY.steps[0].key}"' in page.text  # the diagram
    assert "本人申请暂缓" in page.text  # the held line in the task's data
    task_page = await http.get(f"/tasks/{todo}")
    assert task_page.status_code == 200 and 'data-subject="org_unit"' in task_page.text
    assert 'name="held__0__veteran_id"' in task_page.text
    done_page = await http.get(f"/tasks/{done}")
    assert done_page.status_code == 200 and "本人申请暂缓" in done_page.text
    # The JSON API.
    h = await auth("county")
    detail = (await http.get(f"/api/cases/{case_id}", headers=h)).json()
    assert detail["veteran_id"] is None and detail["veteran_name"] == ""
    assert detail["subject"] == "org_unit" and detail["org_unit_name"] == county.name
    assert set(detail["clock"]) == {"agency_seconds", "veteran_seconds"}
    assert detail["clock"]["veteran_seconds"] == 0  # no step the veteran holds
    assert len(detail["tasks"]) == 3
    listed_api = await http.get(
        "/api/cases", params={"process": PAY.key, "status": "running"}, headers=h
    )
    assert [c["id"] for c in listed_api.json()["data"]] == [case_id]
    assert (
        len(
            (
                await http.get("/api/tasks", params={"case_id": case_id}, headers=h)
            ).json()["data"]
        )
        == 3
    )
    # The auditor's pages.
    http.cookies.clear()
    await page_login(http, "auditor")
    search = await http.get("/audit", params={"veteran": county.name[:3]})
    assert f"/audit/cases/{case_id}" in search.text and county.name in search.text
    audit_page = await http.get(f"/audit/cases/{case_id}")
    assert audit_page.status_code == 200 and county.name in audit_page.text
    assert (
        await http.get("/audit/trail", params={"case_id": case_id})
    ).status_code == 200
    # Notices about the case name the unit's own station; a rebuilt projection
    # registers the case at its unit.
    with Session(seeded_engine) as s:
        facts = notice_facts(
            s,
            NoticeInput(
                key="k",
                case_id=case_id,
                kind="reminder",
                recipient_type="staff",
                recipient="county",
                template="x",
            ),
        )
        assert facts["station"]["name"] == county.name
        _register(
            s,
            RegisterCaseInput(
                case_id="pay-rebuilt",
                workflow_id="pay-rebuilt",
                process=PAY.key,
                title=PAY.title,
                veteran_id=0,
                org_unit_id=county.id,
                started_by="system",
                started_at=now,
            ),
            None,
        )
        s.commit()
        rebuilt = s.get(Case, "pay-rebuilt")
        assert rebuilt is not None and rebuilt.veteran_id is None
        assert rebuilt.org_unit_id == county.id


def _review_case(engine: Engine, case_id: str) -> tuple[Veteran, OrgUnit, str]:
    """An annual review of 刘洋 whose report (with two trips abroad) is in."""
    vet = _veteran(engine, "刘洋")
    village = _unit(engine, "village")
    now = datetime.now(UTC)
    _add_case(engine, case_id, REVIEW, village, vet.id, now - timedelta(days=10))
    report = _add_task(
        engine,
        case_id,
        REVIEW,
        "submit_report",
        village,
        created_at=now - timedelta(days=10),
        result=REPORT,
        outcome="submitted",
        completed_by="village",
        completed_at=now - timedelta(days=8),
    )
    return vet, village, report


async def test_sensitive_fields_are_masked_unless_the_role_may_see_them(
    http, auth, seeded_engine
):
    case_id = "annual_review-2027-mask"
    _vet, _village, report = _review_case(seeded_engine, case_id)
    # The completion's audit row carries the form as submitted.
    with Session(seeded_engine) as s:
        s.add(
            AuditEvent(
                actor="village",
                action="task_completed",
                entity_type="task",
                entity_id=report,
                case_id=case_id,
                after={"status": "completed", "outcome": "submitted", "data": REPORT},
            )
        )
        s.commit()

    # The village clerk (帮办 the report) is not a role that sees it.
    h = await auth("village")
    one = (await http.get(f"/api/tasks/{report}", headers=h)).json()
    assert one["result"]["travel_abroad"] == "已隐藏(2条)"
    assert one["masked_fields"] == ["travel_abroad"] and one["holder"] == "veteran"
    assert one["result"]["party_life"] == REPORT["party_life"]  # the rest stays
    listed = (
        await http.get("/api/tasks", params={"case_id": case_id}, headers=h)
    ).json()
    assert listed["data"][0]["result"]["travel_abroad"] == "已隐藏(2条)"
    case = (await http.get(f"/api/cases/{case_id}", headers=h)).json()
    assert case["tasks"][0]["result"]["travel_abroad"] == "已隐藏(2条)"
    await page_login(http, "village")
    for url in (f"/tasks/{report}", f"/cases/{case_id}"):
        page = await http.get(url)
        assert page.status_code == 200 and "已隐藏(2条)" in page.text
        assert "泰国" not in page.text and "新加坡" not in page.text
    assert _audits(seeded_engine, "unmask_task_data") == []

    # A county clerk's role sees full ID numbers: the trips too, and each read is
    # in the audit trail.
    h = await auth("county")
    full = (await http.get(f"/api/tasks/{report}", headers=h)).json()
    assert full["result"]["travel_abroad"] == TRIPS and full["masked_fields"] == []
    rows = _audits(seeded_engine, "unmask_task_data", "county")
    assert len(rows) == 1 and rows[0].entity_id == report
    assert rows[0].case_id == case_id and rows[0].after == {"fields": ["travel_abroad"]}
    listed = (
        await http.get("/api/tasks", params={"case_id": case_id}, headers=h)
    ).json()  # the list shows it in full too, and audits that read
    assert listed["data"][0]["result"]["travel_abroad"] == TRIPS
    assert listed["data"][0]["masked_fields"] == []
    assert len(_audits(seeded_engine, "unmask_task_data", "county")) == 2
    http.cookies.clear()
    await page_login(http, "county")
    page = await http.get(f"/tasks/{report}")
    assert "泰国" in page.text and "新加坡" in page.text
    assert len(_audits(seeded_engine, "unmask_task_data", "county")) == 3

    # The auditor reads the trail: the completion's data masked there too.
    http.cookies.clear()
    await page_login(http, "auditor")
    trail = await http.get("/audit/trail", params={"case_id": case_id})
    assert trail.status_code == 200 and "task_completed" in trail.text
    assert "已隐藏(2条)" in trail.text and "泰国" not in trail.text
    exported = await http.get("/audit/trail.csv", params={"case_id": case_id})
    assert "泰国" not in exported.text
    assert any(
        "已隐藏(2条)" in cell
        for row in csv.reader(io.StringIO(exported.text))
        for cell in row
    )


def test_raw_history_payloads_are_masked() -> None:
    def payload(value: Any) -> dict[str, Any]:
        return {
            "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
            "data": base64.b64encode(json.dumps(value).encode()).decode(),
        }

    history = {
        "events": [
            {
                "eventId": "7",
                "workflowExecutionUpdateAcceptedEventAttributes": {
                    "acceptedRequest": {
                        "input": {
                            "name": "complete_task",
                            "args": {
                                "payloads": [payload({"task_id": "x", "data": REPORT})]
                            },
                        }
                    }
                },
            },
            {"eventId": "8", "other": {"payloads": [payload({"note": "无"})]}},
        ]
    }
    masked, found = mask_history(history, "annual_review")
    assert found
    text = json.dumps(masked)
    args = masked["events"][0]["workflowExecutionUpdateAcceptedEventAttributes"][
        "acceptedRequest"
    ]["input"]["args"]["payloads"][0]
    decoded = json.loads(base64.b64decode(args["data"]))
    assert decoded["data"]["travel_abroad"] == "已隐藏(2条)"
    assert decoded["data"]["party_life"] == REPORT["party_life"]
    assert masked["events"][1] == history["events"][1]  # nothing sensitive: as it was
    assert "泰国" not in text
    assert mask_history(history, "return_home") == (history, False)


async def test_who_reported_a_step_the_veteran_holds(http, auth, seeded_engine):
    """帮办 by a clerk, online by the veteran, and the open round waiting on them."""
    case_id = "annual_review-2027-holder"
    vet, village, first = _review_case(seeded_engine, case_id)
    now = datetime.now(UTC)
    second = _add_task(
        seeded_engine,
        case_id,
        REVIEW,
        "submit_report",
        village,
        round_no=2,
        created_at=now - timedelta(days=6),
        result=REPORT,
        outcome="submitted",
        completed_by=f"veteran:{vet.id}",
        completed_at=now - timedelta(days=5),
        context={"defects": ["出入境日期不全"]},
    )
    third = _add_task(
        seeded_engine,
        case_id,
        REVIEW,
        "submit_report",
        village,
        round_no=3,
        created_at=now - timedelta(days=1),
        context={"defects": ["奖惩情况未填写"]},
    )
    clerk = _display_name(seeded_engine, "village")
    await page_login(http, "village")
    page = (await http.get(f"/tasks/{first}")).text
    assert 'id="holder-note"' in page and f"帮办代报({clerk})" in page
    page = (await http.get(f"/tasks/{second}")).text
    assert "本人在线报送" in page and 'data-submission="online"' in page
    assert "出入境日期不全" in page  # what the round was told to correct
    page = (await http.get(f"/tasks/{third}")).text
    assert "待退役军人本人报送，或由工作人员帮办代报" in page
    assert 'name="travel_abroad__0__departed_on"' in page  # 帮办: the clerk's form
    inbox = (await http.get("/inbox", params={"tab": "claimable"})).text
    row = re.search(rf'<tr[^>]*data-task="{re.escape(third)}".*?</tr>', inbox, re.S)
    assert row and "holder-veteran" in row.group(0)
    case_page = (await http.get(f"/cases/{case_id}")).text
    assert f"帮办代报({clerk})" in case_page and "本人在线报送" in case_page
    clock = re.search(
        r'id="case-clock" data-agency-seconds="(\d+)" data-veteran-seconds="(\d+)"',
        case_page,
    )
    assert clock, case_page
    # With the veteran: round 1 (2 days), round 2 (1 day), round 3 (open, 1 day).
    assert abs(int(clock.group(2)) - 4 * 86400) < 120
    assert abs(int(clock.group(1)) - 6 * 86400) < 120
    detail = (
        await http.get(f"/api/cases/{case_id}", headers=await auth("village"))
    ).json()
    assert abs(detail["clock"]["veteran_seconds"] - 4 * 86400) < 120
    assert detail["subject"] == "veteran" and detail["veteran_name"] == "刘洋"


async def test_processes_clerks_do_not_start(http, auth, seeded_engine):
    vet = _veteran(seeded_engine, "刘洋")
    await page_login(http, "county")
    page = (await http.get(f"/veterans/{vet.id}")).text
    assert 'id="start-return_home"' in page
    assert (
        'id="start-annual_review"' not in page and f'id="start-{PAY.key}"' not in page
    )
    h = await auth("county")
    for process in ("annual_review", PAY.key):
        r = await http.post(
            "/api/cases", json={"process": process, "veteran_id": vet.id}, headers=h
        )
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"]
    with Session(seeded_engine) as s:
        assert not s.exec(select(Case)).all()  # nothing started
    listed = {p["key"]: p for p in (await http.get("/api/processes", headers=h)).json()}
    review = listed["annual_review"]
    assert review["startable"] is False and review["subject"] == "veteran"
    assert [s["key"] for s in review["steps"]] == [s.key for s in REVIEW.steps]
    assert review["steps"][0]["holder"] == "veteran"
    assert review["status_labels"]["in_correction"] == "补正中"
    assert listed[PAY.key]["subject"] == "org_unit"
    assert listed[PAY.key]["startable"] is False


# --- one review on the real workflow, through the pages -------------------------------


@pytest_asyncio.fixture
async def running_worker(client, settings, seeded_engine):
    async with build_worker(client, settings, seeded_engine) as w:
        yield w


def _case_row(engine: Engine, case_id: str) -> Case | None:
    with Session(engine) as s:
        return s.get(Case, case_id)


async def _post_task(http, csrf: str, task_id: str, fields: list[tuple[str, str]]):
    r = await http.post(
        f"/tasks/{task_id}/complete", data=dict([("csrf_token", csrf), *fields])
    )
    assert r.status_code == 303, r.text[-3000:]


async def test_a_review_with_a_correction_round_through_the_pages(
    http, auth, client, settings, seeded_engine, running_worker
):
    """帮办 report with trips abroad → correction → the veteran's own online report →
    pass; every page shows who reported, the trips masked for those who may not see
    them, the split clock, and the auditor's raw events and evidence pack masked."""
    vet = _veteran(seeded_engine, "刘洋")
    case_id = annual_review.review_case_id(2027, vet.id or 0, settings.case_id_prefix)
    now = datetime.now(UTC)
    await client.start_workflow(
        "AnnualReviewWorkflow",
        StartCaseInput(
            case_id=case_id,
            process="annual_review",
            veteran_id=vet.id or 0,
            started_by="system",
            data={
                "year": 2027,
                "window_end": (now + timedelta(minutes=30)).isoformat(),
            },
            policy=policy_for("annual_review", "fast"),
        ),
        id=case_id,
        task_queue=settings.task_queue,
    )
    report = await open_task(seeded_engine, case_id, "submit_report", timeout=30)

    # 帮办: the village clerk reports for him, with one trip and a blank row.
    csrf = await page_login(http, "village")
    page = (await http.get(f"/tasks/{report.id}")).text
    assert "待退役军人本人报送，或由工作人员帮办代报" in page
    # "添加行" gives the form again with what was typed and more blank rows.
    more = await http.post(
        f"/tasks/{report.id}/complete",
        data={
            "csrf_token": csrf,
            "travel_abroad__0__departed_on": "2026-05-01",
            "travel_abroad__0__destination": "泰国",
            "add_row": "travel_abroad",
        },
    )
    assert (
        more.status_code == 200 and 'name="travel_abroad__2__destination"' in more.text
    )
    assert 'value="泰国"' in more.text
    await _post_task(
        http,
        csrf,
        report.id,
        [
            ("party_life", REPORT["party_life"]),
            ("associations__other", "示范县退役军人志愿者协会"),
            ("travel_abroad__0__departed_on", "2026-05-01"),
            ("travel_abroad__0__returned_on", "2026-05-08"),
            ("travel_abroad__0__destination", "泰国"),
            ("travel_abroad__1__destination", ""),
            ("rewards_punishments", "无"),
            ("declaration", "on"),
            ("outcome", "submitted"),
        ],
    )
    review = await open_task(seeded_engine, case_id, "county_review", timeout=30)
    village_case = (await http.get(f"/cases/{case_id}")).text
    clerk = _display_name(seeded_engine, "village")
    assert f"帮办代报({clerk})" in village_case and "泰国" not in village_case
    assert "village 帮办代报 年度登记信息报送" in village_case  # the timeline

    # The county reviews: the report's summary in the review's context, then a
    # correction (every defect at once).
    http.cookies.clear()
    csrf = await page_login(http, "county")
    page = (await http.get(f"/tasks/{review.id}")).text
    assert 'id="task-context"' in page and REPORT["party_life"] in page
    assert f'href="/tasks/{report.id}"' in page  # 报送内容: the report itself
    assert clerk in page  # 报送人
    await _post_task(
        http,
        csrf,
        review.id,
        [("defects__other", "出入境入境日期待核实"), ("outcome", "correct")],
    )

    # Round 2: the veteran reports online (the self-service link's Update).
    again = await wait_for(
        lambda: [
            t
            for t in tasks(seeded_engine, case_id, step="submit_report", status="open")
            if t.round == 2
        ],
        timeout=30,
    )
    await client.get_workflow_handle(case_id).execute_update(
        "complete_task",
        CompleteTaskInput(
            task_id=again[0].id,
            actor=Actor(
                username=f"veteran:{vet.id}",
                roles=["veteran"],
                org_unit_id=again[0].org_unit_id,
                org_path=again[0].org_path,
            ),
            outcome="submitted",
            data=REPORT,
        ),
        result_type=TaskResult,
    )
    second_review = await wait_for(
        lambda: tasks(seeded_engine, case_id, step="county_review", status="open"),
        timeout=30,
    )
    await _post_task(http, csrf, second_review[0].id, [("outcome", "pass")])
    closed = await wait_for(
        lambda: (row := _case_row(seeded_engine, case_id)) and row.status == "closed",
        timeout=30,
    )
    assert closed

    page = (await http.get(f"/cases/{case_id}")).text
    assert "本人在线报送" in page and f"帮办代报({clerk})" in page
    assert "退役军人本人在线报送 年度登记信息报送" in page  # the timeline
    assert 'data-status="closed"' in page and 'id="case-clock"' in page
    h = await auth("county")
    detail = (await http.get(f"/api/cases/{case_id}", headers=h)).json()
    assert detail["clock"]["veteran_seconds"] > 0
    timeline = (await http.get(f"/api/cases/{case_id}/history", headers=h)).json()
    vias = [e["via"] for e in timeline if e["kind"] == "task_completed" and e["via"]]
    assert vias == ["on_behalf", "online"]

    # The auditor: raw events and the evidence pack's forms keep the trips masked.
    http.cookies.clear()
    await page_login(http, "auditor")
    audit_page = await http.get(f"/audit/cases/{case_id}")
    assert audit_page.status_code == 200 and 'id="raw-events"' in audit_page.text
    raw = audit_page.text.split('id="raw-events"', 1)[1]
    assert "complete_task" in raw
    decoded = [
        base64.b64decode(p).decode("utf-8", "replace")
        for p in re.findall(r"&#34;data&#34;: &#34;([A-Za-z0-9+/=]{40,})&#34;", raw)
    ]
    assert any("已隐藏(1条)" in d for d in decoded), decoded[:3]
    assert not any("泰国" in d for d in decoded)
    pack = await http.get(f"/audit/cases/{case_id}/evidence.zip")
    assert pack.status_code == 200
    forms = json.loads(zipfile.ZipFile(io.BytesIO(pack.content)).read("forms.json"))
    reports = [f for f in forms if f["step"] == "submit_report"]
    assert [f["data"]["travel_abroad"] for f in reports] == [
        "已隐藏(1条)",
        "已隐藏(2条)",
    ]


async def test_a_county_payroll_through_the_pages(
    http, auth, client, settings, seeded_engine, running_worker
):
    """A real monthly_pay case (no veteran): finance prepares the list on the task page
    (a held row with its reason), a leader approves it (the four-eyes note names the
    preparer), finance confirms; every page names the county, none a veteran."""
    county = _unit(seeded_engine, "county")
    vet = _veteran(seeded_engine, "刘洋")
    opened = await open_month(client, settings, 2026, 5)
    (case_id,) = [c for c in opened.opened if f"-{county.id}-" in c]
    prepare = await open_task(seeded_engine, case_id, "prepare_payroll", timeout=30)
    assert _case_row(seeded_engine, case_id).veteran_id is None

    csrf = await page_login(http, "finance")
    inbox = (await http.get("/inbox", params={"tab": "claimable"})).text
    row = re.search(
        rf'<tr[^>]*data-task="{re.escape(prepare.id)}".*?</tr>', inbox, re.S
    )
    assert row and county.name in row.group(0)
    page = (await http.get(f"/tasks/{prepare.id}")).text
    assert 'data-subject="org_unit"' in page and 'data-field="veterans"' in page
    assert vet.name in page  # the month's list, from the step's context
    await _post_task(
        http,
        csrf,
        prepare.id,
        [
            ("held__0__veteran_id", str(vet.id)),
            ("held__0__reason", "本人申请暂缓"),
            ("held__1__veteran_id", ""),
            ("outcome", "prepared"),
        ],
    )
    approve = await open_task(seeded_engine, case_id, "approve_payroll", timeout=30)

    http.cookies.clear()
    csrf = await page_login(http, "leader")
    page = (await http.get(f"/tasks/{approve.id}")).text
    note = re.search(r'<p id="four-eyes-note".*?</p>', page, re.S)
    assert note and _display_name(seeded_engine, "finance") in note.group(0)
    assert "本人申请暂缓" in page and vet.name in page  # the held line, named
    await _post_task(http, csrf, approve.id, [("outcome", "approved")])
    confirm = await open_task(seeded_engine, case_id, "confirm_payment", timeout=30)

    http.cookies.clear()
    csrf = await page_login(http, "finance")
    await _post_task(
        http, csrf, confirm.id, [("paid_on", "2026-05-08"), ("outcome", "paid")]
    )
    await wait_for(
        lambda: (row := _case_row(seeded_engine, case_id)) and row.status == "closed",
        timeout=30,
    )
    page = (await http.get(f"/cases/{case_id}")).text
    assert 'data-subject="org_unit"' in page and county.name in page
    assert 'data-status="closed"' in page and "本人申请暂缓" in page
    assert 'id="case-clock"' not in page  # no step the veteran holds
    detail = (
        await http.get(f"/api/cases/{case_id}", headers=await auth("finance"))
    ).json()
    assert detail["subject"] == "org_unit" and detail["org_unit_name"] == county.name
    assert [t["step"] for t in detail["tasks"]] == [
        "prepare_payroll",
        "approve_payroll",
        "confirm_payment",
    ]
    timeline = (
        await http.get(f"/api/cases/{case_id}/history", headers=await auth("finance"))
    ).json()
    assert any(e["kind"] == "task_completed" for e in timeline)
    http.cookies.clear()
    await page_login(http, "auditor")
    audit = await http.get(f"/audit/cases/{case_id}")
    assert audit.status_code == 200 and county.name in audit.text
