"""The pages of a startup loan through FastAPI's whole stack, from seeded projection
rows (Loan, LoanSubsidyLine, the follow-up tasks of its repayment phase): the case
page shows the loan's terms in words (元 with two places, rates in %, labels), the
schedule of 贷后回访 done / open / missed / not yet due, maturity and how it ended,
and the latest round of the subsidy plan with its total and rule; the approver's
task page shows the plan's lines; a reader outside the case's subtree gets 404."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.loan_queries import followup_schedule
from api.web.loan_display import loan_task_view, rate, yuan
from models.loan_subsidy import RULE_TEXT
from models.processes.startup_loan import SPEC, servicing_id
from models.tables import (
    Case,
    HumanTask,
    Loan,
    LoanSubsidyLine,
    OrgUnit,
    Veteran,
)
from tests.api.page_login import page_login

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TERMS = {
    "application_ref": "x.bank.1",
    "bank": "qdbank",
    "bank_reference": "QD-2026-0042",
    "loan_type": "personal",
    "amount": "200000.00",
    "annual_rate": "3.8500",
    "lpr": "3.1000",
    "term_months": 12,
    "contract_date": "2026-03-02",
    "policy_version": "qingdao-2024",
    "subsidy_rule": "full",
    "subsidy_years": 3,
}
# The plan of the second review round (the first was sent back).
LINES = [
    (1, date(2026, 3, 2), date(2026, 9, 2), 184, 184, "3935.56", "200000.00"),
    (2, date(2026, 9, 2), date(2027, 3, 2), 181, 181, "1934.72", "100000.00"),
]
CONTEXT = {
    **{k: TERMS[k] for k in ("bank", "bank_reference", "loan_type", "amount")},
    "loan_type_label": "个人自主创业贷款",
    "annual_rate": "3.8500",
    "lpr": "3.1000",
    "term_months": 12,
    "contract_date": "2026-03-02",
    "policy_version": "qingdao-2024",
    "prepared_by": "county",
    "total": "5870.28",
    "rule": "full",
    "rule_text": RULE_TEXT["full"],
    "window_end": "2029-03-02",
    "lines": [
        {
            "period": p,
            "start": s.isoformat(),
            "end": e.isoformat(),
            "days_in_period": d,
            "days_in_window": w,
            "interest_paid": i,
            "outstanding_principal": o,
            "subsidy": i,
        }
        for p, s, e, d, w, i, o in LINES
    ],
}


def _county(engine: Engine) -> OrgUnit:
    with Session(engine) as s:
        return s.exec(select(OrgUnit).where(OrgUnit.level == "county")).one()


def _task(
    case_id: str,
    unit: OrgUnit,
    step: str,
    n: int,
    status: str,
    *,
    workflow_id: str,
    context: dict[str, Any],
    **extra: Any,
) -> HumanTask:
    st = SPEC.step(step)
    return HumanTask(
        id=f"{workflow_id}.{step}.{n}",
        case_id=case_id,
        workflow_id=workflow_id,
        process=SPEC.key,
        step=step,
        title=st.title,
        regulation=st.clause,
        candidate_role=st.role,
        org_unit_id=unit.id or 0,
        org_path=unit.path,
        status=status,
        round=n,
        created_at=T0 + timedelta(minutes=n),
        outcomes=list(st.outcomes),
        form_schema=st.form.model_json_schema(),
        context=context,
        **extra,
    )


def seed_loan(engine: Engine, case_id: str) -> dict[str, str]:
    """A personal loan repaid early at the county: follow-ups 1 done, 2 missed (withdrawn
    when the loan ended), 3 never opened; two review rounds of the plan; the second
    round's approval open. Answers the ids of its tasks."""
    unit = _county(engine)
    servicing = servicing_id(case_id)
    with Session(engine) as s:
        vid = s.exec(select(Veteran).where(Veteran.name == "刘洋")).one().id or 0
    followups_at = [(T0 + timedelta(days=91 * n)).isoformat() for n in (1, 2, 3)]
    with Session(engine) as s:
        s.add(
            Case(
                id=case_id,
                workflow_id=case_id,
                process=SPEC.key,
                title=SPEC.title,
                veteran_id=vid,
                org_unit_id=unit.id or 0,
                org_path=unit.path,
                status="subsidy_approval",
                started_by="county",
                started_at=T0,
            )
        )
        s.add(
            Loan(
                case_id=case_id,
                veteran_id=vid,
                status="repaid",
                policy_version="qingdao-2024",
                loan_type="personal",
                bank="qdbank",
                application_ref=f"{case_id}.bank.1",
                terms=TERMS,
                followups_at=followups_at,
                maturity_at=T0 + timedelta(days=365),
                ended_kind="early_repayment",
                ended_on=date(2027, 3, 2),
            )
        )
        done = _task(
            case_id,
            unit,
            "post_loan_followup",
            1,
            "completed",
            workflow_id=servicing,
            context={"followup": 1, "of": 3},
            result={"visited_on": "2026-06-03", "operating": True},
            outcome="done",
            completed_by="county2",
            completed_at=T0 + timedelta(days=92),
        )
        missed = _task(
            case_id,
            unit,
            "post_loan_followup",
            2,
            "withdrawn",
            workflow_id=servicing,
            context={"followup": 2, "of": 3},
        )
        review = _task(
            case_id,
            unit,
            "subsidy_review",
            2,
            "completed",
            workflow_id=case_id,
            context={},
            outcome="approve",
            completed_by="county",
            completed_at=T0 + timedelta(days=370),
        )
        approval = _task(
            case_id,
            unit,
            "subsidy_approval",
            2,
            "open",
            workflow_id=case_id,
            context=CONTEXT,
        )
        s.add_all([done, missed, review, approval])
        # Round 1 (sent back) had other figures: the page shows round 2's.
        rows = [(1, 1, "9999.99"), *[(2, p, i) for p, _s, _e, _d, _w, i, _o in LINES]]
        for rnd, period, subsidy in rows:
            line = LINES[period - 1]
            s.add(
                LoanSubsidyLine(
                    case_id=case_id,
                    round=rnd,
                    period=period,
                    start=line[1],
                    end=line[2],
                    days_in_period=line[3],
                    days_in_window=line[4],
                    interest_paid=line[5],
                    outstanding_principal=line[6],
                    subsidy=subsidy,
                    rule="full",
                    policy_version="qingdao-2024",
                )
            )
        s.commit()
        return {"done": done.id, "missed": missed.id, "approval": approval.id}


def _section(page: str, id_: str) -> str:
    found = re.search(rf'id="{id_}".*?</(section|div)>', page, re.S)
    assert found, f"no #{id_} in the page"
    return found.group(0)


def test_amounts_and_rates_in_words() -> None:
    assert yuan("200000") == "200,000.00" and yuan("0.005") == "0.01"
    assert yuan(None) == "—" and yuan("n/a") == "n/a"
    assert rate("3.4500") == "3.45%" and rate("3.1") == "3.10%"
    assert rate("3.4125") == "3.4125%"


def test_a_followup_without_a_task_is_not_due_or_not_needed() -> None:
    loan = Loan(
        case_id="c",
        veteran_id=1,
        followups_at=[T0.isoformat(), (T0 + timedelta(days=1)).isoformat()],
    )
    assert [f.state for f in followup_schedule(loan, [])] == ["scheduled"] * 2
    loan.ended_kind = "matured"
    assert [f.state for f in followup_schedule(loan, [])] == ["not_needed"] * 2


def test_the_approvers_context_in_words() -> None:
    view = loan_task_view("subsidy_approval", CONTEXT)
    facts = {f.name: (f.title, f.text) for f in view.facts}
    assert facts["amount"] == ("贷款金额(元)", "200,000.00")
    assert facts["loan_type"] == ("贷款类型", "个人自主创业贷款")
    assert facts["annual_rate"][1] == "3.85%" and facts["lpr"][1] == "3.10%"
    assert view.plan and view.plan.total == "5,870.28"
    assert [ln.subsidy for ln in view.plan.lines] == ["3,935.56", "1,934.72"]
    # The preparer is left to the generic list (shown by name, as an actor).
    assert view.rest == {"prepared_by": "county"}
    # Paying: the context's amount is the subsidy to pay, not the loan.
    paying = loan_task_view("subsidy_payment", {**CONTEXT, "amount": "5870.28"})
    amount = next(f for f in paying.facts if f.name == "amount")
    assert (amount.title, amount.text) == ("应发贴息金额", "5,870.28")
    assert paying.plan is None


async def test_the_case_page_shows_the_loan_followups_and_plan(
    http, settings, seeded_engine
) -> None:
    case_id = f"{settings.case_id_prefix}startup_loan-v1-1"
    ids = seed_loan(seeded_engine, case_id)
    await page_login(http, "county")
    r = await http.get(f"/cases/{case_id}")
    assert r.status_code == 200, r.text[-2000:]
    page = r.text

    terms = _section(page, "loan-terms")
    for text in (
        "青岛银行 (qdbank)",
        "个人自主创业贷款",
        "200,000.00",
        "3.85%",
        "3.10%",
        ">12<",
        "2026-03-02",
        "QD-2026-0042",
        "qingdao-2024",
        "贴息方案待审批",  # the running case's status
        "提前还款结清 · 2027-03-02",
    ):
        assert text in terms, text
    assert 'data-ended="early_repayment"' in terms

    followups = _section(page, "loan-followups")
    states = re.findall(r'data-followup="(\d)" data-state="(\w+)"', followups)
    assert states == [("1", "done"), ("2", "missed"), ("3", "not_needed")]
    assert f'href="/tasks/{ids["done"]}"' in followups and "2026-06-03" in followups
    assert "钱科员" in followups  # county2 did the first follow-up
    # Beijing time, to the second.
    assert "2026-06-01 09:00:00" in followups

    plan = _section(page, "case-subsidy-plan")
    assert 'data-total="5,870.28"' in plan and "5,870.28 元" in plan
    assert "9,999.99" not in plan  # round 1's plan was sent back
    assert re.findall(r'class="subsidy">([^<]+)<', plan) == ["3,935.56", "1,934.72"]
    assert RULE_TEXT["full"] in plan and "全额贴息" in plan
    assert "第2轮" in _section(page, "loan-subsidy")

    # The follow-ups, tasks of the repayment phase's workflow, are the case's tasks.
    tasks = _section(page, "case-tasks")
    assert f'data-task="{ids["done"]}"' in tasks
    assert f'data-task="{ids["missed"]}"' in tasks
    assert f'data-task="{ids["approval"]}"' in tasks

    # In English too.
    en = await http.get(f"/cases/{case_id}", headers={"Accept-Language": "en"})
    assert "Subsidy plan" in en.text and "Repaid early" in en.text


async def test_the_approver_sees_the_plan(http, settings, seeded_engine) -> None:
    case_id = f"{settings.case_id_prefix}startup_loan-v1-2"
    ids = seed_loan(seeded_engine, case_id)
    await page_login(http, "leader")
    page = (await http.get(f"/tasks/{ids['approval']}")).text
    plan = _section(page, "task-subsidy-plan")
    assert re.findall(r'data-period="(\d)"', plan) == ["1", "2"]
    assert "3,935.56" in plan and "200,000.00" in plan and "5,870.28 元" in plan
    assert RULE_TEXT["full"] in plan and "2029-03-02" in plan
    context = _section(page, "task-context")
    assert "贷款金额(元)" in context and "申请金额" not in context
    assert "青岛银行 (qdbank)" in context
    assert "赵科员" in context  # 编制人: the preparer by name
    assert "'period'" not in page and "rule_text" not in context
    note = re.search(r'<p id="four-eyes-note".*?</p>', page, re.S)
    assert note and "贴息资格审核及贴息方案" in note.group(0)
    assert "赵科员" in note.group(0)


async def test_a_loan_outside_the_readers_subtree_is_not_found(
    http, settings, seeded_engine
) -> None:
    case_id = f"{settings.case_id_prefix}startup_loan-v1-3"
    ids = seed_loan(seeded_engine, case_id)
    await page_login(http, "township")  # a township station below the county
    assert (await http.get(f"/cases/{case_id}")).status_code == 404
    assert (await http.get(f"/tasks/{ids['approval']}")).status_code == 404
