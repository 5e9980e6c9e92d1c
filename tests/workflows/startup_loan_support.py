"""Helpers of the startup-loan workflow tests (``test_startup_loan.py`` and the
release test): a policy in seconds, banks, a case started as the API starts it, the
steps up to the repayment phase and from it to the end, bank callbacks as Updates."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from models.contracts import (
    CaseState,
    ClaimTaskInput,
    CompleteTaskInput,
    ProcessPolicy,
    StartCaseInput,
    TaskResult,
)
from models.loan_contracts import BankEvent
from models.loan_subsidy import Repayment
from models.processes import startup_loan
from models.processes.startup_loan import BankDecision
from models.search_attributes import case_search_attributes
from models.settings import Settings
from models.tables import Account, HumanTask, OrgUnit, Veteran
from tests.support import actor, open_task, wait_for

CONTRACT = date(2023, 1, 10)


def loan_policy(
    *,
    month: float = 0.3,
    bank_answer: float = 600.0,
    every: int = 3,
    rollover: int = 2,
) -> ProcessPolicy:
    """The fast profile with durations in seconds: a loan "month" lasts ``month``
    seconds, an integrated bank has ``bank_answer`` seconds before a clerk is asked."""
    fast = startup_loan.FAST_POLICY
    return fast.model_copy(
        update={
            "name": "test",
            "timers": {
                **fast.timers,
                "month": timedelta(seconds=month),
                "bank_answer": timedelta(seconds=bank_answer),
            },
            "counts": {"followup_every_months": every, "servicing_rollover": rollover},
        }
    )


def add_staff(engine: Engine, username: str, roles: list[str]) -> None:
    """A county-centre account holding ``roles`` (e.g. a clerk who is also a leader)."""
    with Session(engine) as s:
        county = s.exec(select(OrgUnit).where(OrgUnit.level == "county")).one()
        s.add(
            Account(
                username=username,
                display_name="测试 双岗",
                password_hash="x",
                roles=roles,
                org_unit_id=county.id or 0,
            )
        )
        s.commit()


def a_veteran(engine: Engine) -> tuple[int, str]:
    """A demo veteran of 东关村 and the path of their unit."""
    with Session(engine) as s:
        for v in s.exec(select(Veteran).order_by(Veteran.id)).all():
            unit = s.get(OrgUnit, v.org_unit_id)
            if unit is not None and unit.name.startswith("东关村"):
                return v.id or 0, unit.path
    raise AssertionError("no demo veteran in 东关村")


async def start_loan(
    client: Client,
    settings: Settings,
    engine: Engine,
    policy: ProcessPolicy,
    n: int = 1,
    vid: int | None = None,
) -> WorkflowHandle[Any, CaseState]:
    """A startup-loan case started the way the API starts one (business key, search
    attributes, definition version 1)."""
    veteran, path = a_veteran(engine)
    vid = vid or veteran
    case_id = f"{settings.case_id_prefix}{startup_loan.PROCESS_KEY}-v{vid}-{n}"
    return await client.start_workflow(
        "StartupLoanWorkflow",
        StartCaseInput(
            case_id=case_id,
            process=startup_loan.PROCESS_KEY,
            veteran_id=vid,
            started_by="county",
            policy=policy,
            spec_version=startup_loan.SPEC.version,
        ),
        id=case_id,
        task_queue=settings.task_queue,
        search_attributes=case_search_attributes(startup_loan.PROCESS_KEY, path, vid),
        result_type=CaseState,
    )


async def finish(
    client: Client,
    engine: Engine,
    case_id: str,
    step: str,
    username: str,
    outcome: str,
    data: dict[str, Any],
) -> TaskResult:
    """Complete the open task of ``step`` as the API does: the Update goes to the
    workflow that holds the task (the case, or its repayment phase)."""
    task = await open_task(engine, case_id, step, timeout=60)
    return await client.get_workflow_handle(task.workflow_id).execute_update(
        "complete_task",
        CompleteTaskInput(
            task_id=task.id,
            actor=actor(engine, username),
            outcome=outcome,
            data=data,
        ),
        result_type=TaskResult,
    )


async def take_over(
    client: Client, engine: Engine, case_id: str, step: str, username: str
) -> None:
    """``username`` takes the open task of ``step`` over from its holder (首办负责
    gives every county_staff step to the clerk who handled the first)."""
    task = await open_task(engine, case_id, step, timeout=60)
    await client.get_workflow_handle(task.workflow_id).execute_update(
        "claim_task",
        ClaimTaskInput(task_id=task.id, actor=actor(engine, username), force=True),
    )


async def refused(coro: Any) -> str:
    """The error type of an Update its validator refused."""
    try:
        await coro
    except WorkflowUpdateFailedError as err:
        return str(getattr(err.cause, "type", ""))
    raise AssertionError("the Update was accepted")


def application(**changes: Any) -> dict[str, Any]:
    """A personal loan application with the veteran's separate consent."""
    data: dict[str, Any] = {
        "loan_type": "personal",
        "amount": "200000.00",
        "term_months": 36,
        "bank": "qdbank",
        "subject_type": "individual",
        "business_plan": "开办退役军人便民超市",
        "bank_data_consent": True,
        "consent_signed_on": "2023-01-05",
    }
    return {**data, **changes}


def decision(
    ref: str = "BK-1", term_months: int = 36, amount: str = "200000.00"
) -> BankDecision:
    return BankDecision(
        bank_reference=ref,
        amount=Decimal(amount),
        annual_rate=Decimal("3.45"),
        lpr=Decimal("3.65"),
        term_months=term_months,
        contract_date=CONTRACT,
    )


async def bank_event(
    handle: WorkflowHandle[Any, Any],
    bank: str,
    kind: str,
    application_ref: str,
    reference: str,
    **fields: Any,
) -> str:
    """A verified bank callback, handed to the case as the API hands it."""
    return await handle.execute_update(
        "bank_event",
        BankEvent(
            bank=bank,
            reference=reference,
            kind=kind,
            application_ref=application_ref,
            **fields,
        ),
        result_type=str,
    )


async def apply_and_verify(
    client: Client, engine: Engine, case_id: str, **changes: Any
) -> None:
    """创业需求登记 → an eligible application → the county's verification."""
    demand = {
        "intent_field": "零售",
        "needs_guidance": True,
        "contact_phone": "13900000000",
    }
    await finish(
        client, engine, case_id, "demand_registration", "village", "submitted", demand
    )
    await finish(
        client,
        engine,
        case_id,
        "application",
        "county",
        "submitted",
        application(**changes),
    )
    verified = {"identity_verified": True, "subject_verified": True}
    await finish(
        client, engine, case_id, "county_review", "county", "approve", verified
    )


async def pushed_ref(engine: Engine, case_id: str, n: int) -> str:
    """The n-th push's reference, once the bank_application row is written."""
    from models.tables import BankApplication

    ref = startup_loan.application_ref(case_id, n)

    def written() -> bool:
        with Session(engine) as s:
            return s.get(BankApplication, ref) is not None

    await wait_for(written)
    return ref


def followup(funds_for_business: bool = True) -> dict[str, Any]:
    return {
        "visited_on": "2024-01-10",
        "operating": True,
        "funds_for_business": funds_for_business,
    }


# The repayments as paid of a 200,000 元 personal loan of 10 January 2023 at 3.45 %,
# the last one a month late: its period ends after the subsidy window (3 years).
REPAYMENTS = [
    Repayment(
        paid_on=date(2024, 1, 10),
        principal=Decimal("50000.00"),
        interest=Decimal("6900.00"),
    ),
    Repayment(
        paid_on=date(2025, 1, 10),
        principal=Decimal("50000.00"),
        interest=Decimal("5175.00"),
    ),
    Repayment(
        paid_on=date(2026, 2, 10),
        principal=Decimal("100000.00"),
        interest=Decimal("3737.50"),
    ),
]


def repayment_proof() -> dict[str, Any]:
    return {
        "repayments": [r.model_dump(mode="json") for r in REPAYMENTS],
        "settled_on": "2026-02-10",
        "proof_reference": "JQ-2026-001",
        "subsidy_account": "6222 0000 1111 2222",
    }


async def close_without_subsidy(client: Client, engine: Engine, case_id: str) -> None:
    """After the repayment phase: not repaid as agreed (no subsidy), no reward."""
    await finish(
        client,
        engine,
        case_id,
        "repayment_proof",
        "county",
        "not_repaid",
        {"reason": "逾期未还清"},
    )
    await finish(
        client,
        engine,
        case_id,
        "employment_reward",
        "county",
        "not_applicable",
        {"reason": "未吸纳就业"},
    )


def open_tasks(engine: Engine, case_id: str, step: str) -> list[HumanTask]:
    with Session(engine) as s:
        q = select(HumanTask).where(
            HumanTask.case_id == case_id,
            HumanTask.step == step,
            HumanTask.status == "open",
        )
        return list(s.exec(q).all())


def statuses(engine: Engine, case_id: str) -> list[str]:
    """The case's statuses in the order the audit trail recorded them."""
    from sqlmodel import col

    from models.tables import AuditEvent

    with Session(engine) as s:
        rows = s.exec(
            select(AuditEvent)
            .where(AuditEvent.case_id == case_id, AuditEvent.action == "case_status")
            .order_by(col(AuditEvent.id))
        ).all()
    return [r.after["status"] for r in rows if r.after]


async def runs_of(client: Client, workflow_id: str) -> list[str]:
    """The run ids of a workflow that continued as new, first to last: each run's
    start event names the run it continued (no visibility query, no waiting)."""
    run_id = (await client.get_workflow_handle(workflow_id).describe()).run_id
    runs: list[str] = []
    while run_id:
        runs.insert(0, run_id)
        history = await client.get_workflow_handle(
            workflow_id, run_id=run_id
        ).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id
    return runs
