"""A startup loan's subsidy approved in Chromium (003 §6.3.2.7): a real case is driven
through the Updates the API sends (registration, application, verification, the
bank's approval and early repayment as its verified callbacks, one 贷后回访, the
repayment record, the subsidy review) with a loan "month" of two seconds; then the
preparer, a leader too, is refused on the approval page (双人复核), another leader
reads the plan's lines and approves, the payment task opens, and the case page shows
the loan, its follow-ups and the plan."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from models.contracts import CompleteTaskInput, StartCaseInput, TaskResult
from models.loan_contracts import BankEvent
from models.loan_subsidy import Repayment
from models.processes import startup_loan
from models.processes.startup_loan import BankDecision
from models.search_attributes import case_search_attributes
from models.settings import Settings
from models.tables import Loan, OrgUnit, Veteran
from tests.monthly_pay_support import add_account
from tests.support import actor, open_task, tasks, wait_for

CONTRACT = date(2023, 1, 10)
REPAYMENTS = [
    Repayment(
        paid_on=date(2023, 7, 10),
        principal=Decimal("100000.00"),
        interest=Decimal("3450.00"),
    ),
    Repayment(
        paid_on=date(2024, 1, 10),
        principal=Decimal("100000.00"),
        interest=Decimal("1725.00"),
    ),
]
# Full interest within the window (3 years from the contract): both periods whole.
TOTAL = "5,175.00"


def _policy() -> Any:
    """The fast profile with a loan month of two seconds: the first follow-up falls
    due six seconds into the loan."""
    fast = startup_loan.FAST_POLICY
    return fast.model_copy(
        update={
            "name": "browser",
            "timers": {**fast.timers, "month": timedelta(seconds=2)},
            "counts": {"followup_every_months": 3, "servicing_rollover": 2},
        }
    )


def _veteran(engine: Engine) -> tuple[int, str]:
    """A demo veteran of 东关村 and the path of their station."""
    with Session(engine) as s:
        for v in s.exec(select(Veteran).order_by(Veteran.id)).all():
            unit = s.get(OrgUnit, v.org_unit_id)
            if unit is not None and unit.name.startswith("东关村"):
                return v.id or 0, unit.path
    raise AssertionError("no demo veteran in 东关村")


async def _finish(
    client: Client,
    engine: Engine,
    case_id: str,
    step: str,
    username: str,
    outcome: str,
    data: dict[str, Any],
) -> TaskResult:
    """Complete the open task of ``step`` as the API does: the Update goes to the
    workflow holding the task (the case, or its repayment phase)."""
    task = await open_task(engine, case_id, step, timeout=60)
    result: TaskResult = await client.get_workflow_handle(
        task.workflow_id
    ).execute_update(
        "complete_task",
        CompleteTaskInput(
            task_id=task.id,
            actor=actor(engine, username),
            outcome=outcome,
            data=data,
        ),
        result_type=TaskResult,
    )
    return result


def _loan(engine: Engine, case_id: str) -> Loan | None:
    with Session(engine) as s:
        return s.get(Loan, case_id)


async def drive_to_approval(client: Client, settings: Settings, engine: Engine) -> str:
    """A personal loan from registration to its subsidy plan awaiting approval. The
    county's steps are worked by ``countylead`` (a county clerk who is a leader too),
    who took the application and so holds every later county step (首办负责)."""
    vid, path = _veteran(engine)
    case_id = f"{settings.case_id_prefix}{startup_loan.PROCESS_KEY}-v{vid}-1"
    handle = await client.start_workflow(
        "StartupLoanWorkflow",
        StartCaseInput(
            case_id=case_id,
            process=startup_loan.PROCESS_KEY,
            veteran_id=vid,
            started_by="county",
            policy=_policy(),
            spec_version=startup_loan.SPEC.version,
        ),
        id=case_id,
        task_queue=settings.task_queue,
        search_attributes=case_search_attributes(startup_loan.PROCESS_KEY, path, vid),
    )
    await _finish(
        client,
        engine,
        case_id,
        "demand_registration",
        "village",
        "submitted",
        {
            "intent_field": "退役军人便民超市",
            "needs_guidance": False,
            "contact_phone": "13900000000",
        },
    )
    await _finish(
        client,
        engine,
        case_id,
        "application",
        "countylead",
        "submitted",
        {
            "loan_type": "personal",
            "amount": "200000.00",
            "term_months": 36,
            "bank": "qdbank",
            "subject_type": "individual",
            "business_plan": "开办退役军人便民超市",
            "bank_data_consent": True,
            "consent_signed_on": "2023-01-05",
        },
    )
    await _finish(
        client,
        engine,
        case_id,
        "county_review",
        "countylead",
        "approve",
        {"identity_verified": True, "subject_verified": True},
    )
    # The bank's approval, once the application has been pushed to it.
    ref = startup_loan.application_ref(case_id, 1)
    await wait_for(
        lambda: (loan := _loan(engine, case_id)) and loan.application_ref == ref,
        timeout=60,
    )
    await handle.execute_update(
        "bank_event",
        BankEvent(
            bank="qdbank",
            reference="QD-CB-1",
            kind="approved",
            application_ref=ref,
            decision=BankDecision(
                bank_reference="QD-2023-0042",
                amount=Decimal("200000.00"),
                annual_rate=Decimal("3.45"),
                lpr=Decimal("3.65"),
                term_months=36,
                contract_date=CONTRACT,
            ),
        ),
        result_type=str,
    )
    # The first 贷后回访, then the bank tells of early repayment.
    await _finish(
        client,
        engine,
        case_id,
        "post_loan_followup",
        "countylead",
        "done",
        {
            "visited_on": "2023-04-12",
            "operating": True,
            "funds_for_business": True,
        },
    )
    await handle.execute_update(
        "bank_event",
        BankEvent(
            bank="qdbank",
            reference="QD-CB-2",
            kind="early_repayment",
            application_ref=ref,
            repaid_on=REPAYMENTS[-1].paid_on,
            repayments=REPAYMENTS,
        ),
        result_type=str,
    )
    await _finish(
        client,
        engine,
        case_id,
        "repayment_proof",
        "countylead",
        "submitted",
        {
            "repayments": [r.model_dump(mode="json") for r in REPAYMENTS],
            "settled_on": REPAYMENTS[-1].paid_on.isoformat(),
            "proof_reference": "JQ-2024-007",
            "subsidy_account": "6222 0000 1111 2222",
        },
    )
    await _finish(
        client, engine, case_id, "subsidy_review", "countylead", "approve", {}
    )
    return case_id


async def test_a_leader_approves_the_subsidy_plan_the_preparer_may_not(
    server, open_session, client, settings, seeded_engine
):
    engine = seeded_engine
    add_account(engine, "countylead", ["county_staff", "leader"])
    case_id = await drive_to_approval(client, settings, engine)
    approval = await open_task(engine, case_id, "subsidy_approval", timeout=60)

    # The preparer, though a leader, is refused: the page says why.
    preparer = await open_session("countylead")
    page = preparer.page
    await page.goto(f"{server}/tasks/{approval.id}")
    await page.wait_for_selector("#task-subsidy-plan")
    await page.click("#outcome-approved")
    await page.wait_for_selector("#form-errors")
    refusal = await page.locator("#form-errors").inner_text()
    assert "双人复核" in refusal and "贴息资格审核及贴息方案" in refusal, refusal
    assert [t.id for t in tasks(engine, case_id, status="open")] == [approval.id]
    await preparer.shot("loan-four-eyes-refused")

    # Another leader reads the plan's lines and approves.
    leader = await open_session("leader")
    page = leader.page
    await page.goto(f"{server}/tasks/{approval.id}")
    plan = page.locator("#task-subsidy-plan")
    periods = await plan.locator("tbody tr").all_inner_texts()
    assert len(periods) == 2, periods
    assert "2023-07-10" in periods[0] and "3,450.00" in periods[0]
    assert "2024-01-10" in periods[1] and "1,725.00" in periods[1]
    assert f"{TOTAL} 元" in await plan.locator(".plan-total").inner_text()
    assert "全额贴息" in await plan.inner_text()
    context = await page.locator("#task-context").inner_text()
    assert "青岛银行 (qdbank)" in context and "200,000.00" in context
    note = await page.locator("#four-eyes-note").inner_text()
    assert "测试 双岗" in note  # the preparer, by name
    await leader.shot("loan-subsidy-approval")
    await page.click("#outcome-approved")
    await page.wait_for_url("**/inbox**")

    # The case moves on: the subsidy is to be paid.
    payment = await open_task(engine, case_id, "subsidy_payment", timeout=60)
    assert payment.context.get("amount") == "5175.00"
    await page.goto(f"{server}/tasks/{payment.id}")
    context = await page.locator("#task-context").inner_text()
    assert "应发贴息金额" in context and TOTAL in context

    # The case page: the loan, its follow-ups and the plan approved.
    await page.goto(f"{server}/cases/{case_id}")
    terms = await page.locator("#loan-terms").inner_text()
    assert "青岛银行" in terms and "200,000.00" in terms and "3.45%" in terms
    assert "提前还款结清" in terms
    rows = page.locator("#loan-followups tbody tr")
    first = rows.first
    assert await first.get_attribute("data-state") == "done"
    states = {await r.get_attribute("data-state") for r in (await rows.all())[1:]} - {
        "missed",
        "not_needed",
    }
    assert not states, states
    total = await page.locator("#case-subsidy-plan .plan-total").inner_text()
    assert TOTAL in total
    text = await page.locator("#case-tasks").inner_text()
    assert re.search("贷后回访", text) and "发放贴息资金" in text
    await leader.shot("loan-case")
