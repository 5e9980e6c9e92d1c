"""The complaint's staff pages through FastAPI's whole stack, from seeded projection
rows (Case, HumanTask, Complaint, ComplaintParty): the case page's complaint section
(channel, grade, stage, the 复核 clock's pause, the final flag, the earlier case, the
台账), the complainant masked until the handling unit's clerk reveals them (audited),
never revealed to a role without the identity or to the recused clerk (403, the
refusal audited); the 问题核实 and 复核 task pages' context in words. In Chinese and
in English."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest_asyncio
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.worker import Worker

from models.idnumber import make_id_number
from models.processes.complaint import SPEC
from models.settings import Settings
from models.tables import (
    AuditEvent,
    Case,
    Complaint,
    ComplaintParty,
    HumanTask,
    OrgUnit,
)
from tests.api.page_login import page_login
from tests.support import tasks, wait_for
from worker import build_worker

T0 = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)
RATER_ID = make_id_number("370102", date(2002, 3, 14), "011")


def _unit(engine: Engine, level: str, code: str) -> OrgUnit:
    with Session(engine) as s:
        return s.exec(
            select(OrgUnit).where(OrgUnit.level == level, OrgUnit.code == code)
        ).one()


def _case(case_id: str, unit: OrgUnit, status: str, data: dict[str, Any]) -> Case:
    return Case(
        id=case_id,
        workflow_id=case_id,
        process=SPEC.key,
        title=SPEC.title,
        veteran_id=None,
        org_unit_id=unit.id or 0,
        org_path=unit.path,
        status=status,
        started_by="system",
        started_at=T0,
        data=data,
    )


def _task(
    case_id: str, unit: OrgUnit, step: str, role: str, context: dict[str, Any]
) -> HumanTask:
    st = SPEC.step(step)
    return HumanTask(
        id=f"{case_id}.{step}.1",
        case_id=case_id,
        workflow_id=case_id,
        process=SPEC.key,
        step=step,
        title=st.title,
        regulation=st.clause,
        candidate_role=role,
        org_unit_id=unit.id or 0,
        org_path=unit.path,
        status="open",
        created_at=T0 + timedelta(minutes=1),
        outcomes=list(st.outcomes),
        form_schema=st.form.model_json_schema(),
        context=context,
    )


def seed(engine: Engine, prefix: str) -> tuple[str, str]:
    """A 非常不满意 rating of 吴信息员 (``village``) at 东关村, its 问题核实 open; and a
    petition at the county in 复核 after a hearing paused the clock 2.5 days, an
    earlier case of the same matter linked. Answers the two case ids."""
    village = _unit(engine, "village", "sfx-cgz-dgc")
    county = _unit(engine, "county", "sfx")
    city = _unit(engine, "city", "sfs")
    rated, petition = f"{prefix}complaint-r1", f"{prefix}complaint-p1"
    ctx = {
        "channel": "差评",
        "category": "服务态度",
        "matter": "窗口办理时态度生硬",
        "received_on": "2026-05-04",
        "grade": "非常不满意",
        "rated_step": "受理登记",
        "rated_clerk": "village",
    }
    ledger = [
        {"key": "1", "at": T0.isoformat(), "stage": "registered", "text": "登记: 差评"}
    ]
    with Session(engine) as s:
        s.add(
            _case(
                rated,
                village,
                "verifying",
                {"channel": "rating", "recused": ["village"]},
            )
        )
        s.add(_task(rated, village, "verify", "village_staff", ctx))
        s.add(
            Complaint(
                case_id=rated,
                channel="rating",
                category="attitude",
                org_unit_id=village.id or 0,
                org_path=village.path,
                received_on=date(2026, 5, 4),
                stage="verifying",
                grade="very_dissatisfied",
                ledger=ledger,
            )
        )
        s.add(
            ComplaintParty(
                case_id=rated,
                name="张伟",
                phone="13800138000",
                id_number=RATER_ID,
                veteran_id=1,
                rated_case_id=f"{prefix}return_home-v1",
            )
        )
        s.add(_case(petition, county, "recheck", {"channel": "petition"}))
        s.add(
            _task(
                petition,
                city,
                "recheck",
                "city_staff",
                {
                    "channel": "信访",
                    "kind": "申诉求决",
                    "category": "待遇保障",
                    "matter": "补助标准有异议",
                    "received_on": "2026-01-05",
                    "request_received_on": "2026-04-01",
                    "request_reason": "复查意见未采纳新证据",
                    "review": {"document_no": "复查〔2026〕3号", "opinion": "维持"},
                    "paused_days": 2.5,
                },
            )
        )
        s.add(
            Complaint(
                case_id=petition,
                channel="petition",
                kind="claim",
                category="benefits",
                org_unit_id=county.id or 0,
                org_path=county.path,
                received_on=date(2026, 1, 5),
                stage="recheck",
                extended_days=20,
                paused_seconds=int(2.5 * 86400),
                final=True,
                related_case_id=rated,
                ledger=ledger,
            )
        )
        s.add(ComplaintParty(case_id=petition, name="李四", phone="13900001111"))
        s.commit()
    return rated, petition


def _section(page: str, id_: str, tag: str = "section|table|dl") -> str:
    found = re.search(rf'id="{id_}".*?</({tag})>', page, re.S)
    assert found, f"no #{id_} in the page"
    return found.group(0)


async def test_complaint_case_and_task_pages(http, settings, seeded_engine) -> None:
    rated, petition = seed(seeded_engine, settings.case_id_prefix)

    # The handling unit's other clerk: the complaint, the rater masked until revealed.
    await page_login(http, "village2")
    r = await http.get(f"/cases/{rated}")
    assert r.status_code == 200, r.text[-2000:]
    facts = _section(r.text, "complaint-facts")
    for text in ("差评", "服务态度", "非常不满意", "问题核实中", "2026-05-04"):
        assert text in facts, text
    party = _section(r.text, "complaint-party")
    assert "张*" in party and "138****8000" in party and "3701" in party
    for secret in ("张伟", "13800138000", RATER_ID, "return_home"):
        assert secret not in r.text, secret
    assert 'id="reveal-party-button"' in r.text
    assert "登记: 差评" in _section(r.text, "complaint-ledger")

    # 问题核实's context in words: the grade, the rated step and clerk by name.
    task = (await http.get(f"/tasks/{rated}.verify.1")).text
    context = _section(task, "task-context")
    for text in ("评价等级", "非常不满意", "被评价的办理环节", "受理登记", "吴信息员"):
        assert text in context, text

    # 显示完整信息: the complainant in full, the read audited.
    r = await http.get(f"/cases/{rated}?reveal=complainant")
    party = _section(r.text, "complaint-party")
    assert "张伟" in party and RATER_ID in party and "return_home-v1" in party
    assert 'id="reveal-party"' not in r.text

    # A desk clerk of the county (no identity role) and the rated clerk (recused):
    # no button, and asking is refused — both audited.
    for who in ("zuzhi", "village"):
        await page_login(http, who)
        page = (await http.get(f"/cases/{rated}")).text
        assert 'id="reveal-party"' not in page and "张伟" not in page
        assert (await http.get(f"/cases/{rated}?reveal=complainant")).status_code == 403
    with Session(seeded_engine) as s:
        audits = s.exec(
            select(AuditEvent).where(
                AuditEvent.case_id == rated,
                AuditEvent.action == "complaint_identity_read",
            )
        ).all()
    assert sorted((a.actor, bool((a.after or {}).get("revealed"))) for a in audits) == [
        ("village", False),
        ("village2", True),
        ("zuzhi", False),
    ]

    await page_login(http, "county")
    # A petition in 复核: extension, the paused clock, final, the earlier case.
    facts = _section((await http.get(f"/cases/{petition}")).text, "complaint-facts")
    for text in (
        "申诉求决",
        "复核中",
        "20 日(负责人批准)",
        "听证期间暂停计时 2.5 天, 期限已顺延",
        "同一事实和理由不再受理",
        f'href="/cases/{rated}"',
    ):
        assert text in facts, text
    en = (await http.get(f"/cases/{petition}", headers={"Accept-Language": "en"})).text
    facts = _section(en, "complaint-facts")
    for text in ("Petition", "Claim", "Under re-examination", "paused 2.5 days"):
        assert text in facts, text

    await page_login(http, "city")
    task = (await http.get(f"/tasks/{petition}.recheck.1")).text
    context = _section(task, "task-context")
    for text in ("复查意见书", "复查〔2026〕3号", "请求理由", "听证暂停计时", "2.5 天"):
        assert text in context, text


@pytest_asyncio.fixture
async def running_worker(
    client: Client, settings: Settings, seeded_engine: Engine
) -> AsyncIterator[Worker]:
    async with build_worker(client, settings, seeded_engine) as w:
        yield w


async def test_register_a_petition_from_the_page(
    http, settings, seeded_engine, running_worker
) -> None:
    """/complaints/new: the township's units only, a petition without its kind
    refused beside the form (422, values kept), then registered at 东关村: the case
    page, 决定是否受理 at the station, the petitioner kept out of the case."""
    csrf = await page_login(http, "township")
    page = await http.get("/complaints/new")
    assert page.status_code == 200
    units = re.findall(
        r'<option value="(\d+)"', _section(page.text, "field-org_unit_id", "select")
    )
    township = _unit(seeded_engine, "township", "sfx-cgz")
    with Session(seeded_engine) as s:
        mine = s.exec(
            select(OrgUnit).where(col(OrgUnit.path).startswith(township.path))
        ).all()
    assert sorted(units) == sorted(str(u.id) for u in mine)  # 城关镇 and 东关村
    village = _unit(seeded_engine, "village", "sfx-cgz-dgc")
    form = {
        "csrf_token": csrf,
        "org_unit_id": str(village.id),
        "channel": "petition",
        "category": "benefits",
        "matter": "优待证办理超期",
        "received_on": "2026-05-06",
        "complainant_name": "赵六",
        "complainant_phone": "13600001111",
        "visitors": "1",
    }
    r = await http.post("/complaints/new", data=form)
    assert r.status_code == 422
    assert "信访件须注明信访类别" in r.text and "优待证办理超期" in r.text
    r = await http.post("/complaints/new", data={**form, "kind": "claim"})
    assert r.status_code == 303, r.text[-1500:]
    case_id = r.headers["location"].removeprefix("/cases/")
    [task] = await wait_for(lambda: tasks(seeded_engine, case_id, status="open"))
    assert task.step == "acceptance_decision" and task.org_unit_id == village.id
    with Session(seeded_engine) as s:
        case = s.get(Case, case_id)
    assert case is not None and "赵六" not in str(case.data)
    assert "赵六" not in str(task.context)
    # Not a starter: 403; the nav offers the page to starters only.
    await page_login(http, "manager")
    assert (await http.get("/complaints/new")).status_code == 403
    assert 'id="nav-complaint-new"' not in (await http.get("/cases")).text
