"""Demo cases for a newcomer's first minute: `vetflow dev` on an empty database starts
three return-home cases (version 2, as ``POST /api/cases`` starts them) at different
points, so the inbox, the dashboard and the auditor's pages have something to show.

- ``village`` (刘洋): file received, archive approved, welcomed, visited and filed,
  registered at the one-stop desks (each item by its own desk's clerk) and enrolled
  in the adaptive training; 信息采集 open at the village station;
- ``correction`` (陈静): archive returned at once with what the veteran must bring or
  correct — 补充材料 open with the first handler, the county clerk (003 §7.8.3) — and
  what the personnel file lacks, requested from the sending unit (向移交单位函调,
  003 §6.9.2.2); that request has a deadline of a few seconds, so it turns overdue
  (and escalates) shortly after the return;
- ``closed`` (杨磊): driven through every step, up to the report to the province;
  then his startup loan (``startup_loan-v<id>-1``, he "有创业意向"): demand registered,
  a personal loan applied for with his separate consent, verified, pushed to 青岛银行,
  and approved by the bank (the demo sends the bank's answer as the ``bank_event``
  Update the signed callback would) — the loan runs, 贷后回访 scheduled.

They are driven the way clerks would drive them: the case starts like ``POST
/api/cases`` starts it (same id, search attributes, start input, newest definition),
and every step is finished with the ``complete_task`` Update by a demo account that
holds the step's role in the task's org unit — a one-stop item by its desk's clerk
(A角) — once the task's row is in the projection. Each case belongs to a different
demo veteran (return home happens once per veteran); 张伟 is left without a case, for
the newcomer to start one (黄建国, a 军休干部, is not served by return home).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.case_queries import veteran_in_subtree
from api.demo_complaints import start_demo_complaints
from api.deps import load_user
from models.contracts import (
    CompleteTaskInput,
    OpenCampaignInput,
    OpenMonthlyPayInput,
    ProcessPolicy,
    StartCaseInput,
    TaskPolicy,
)
from models.demo import DESK_CLERK_OF
from models.forms import COLLECTION_MATERIALS
from models.loan_contracts import BankEvent
from models.processes import PROCESSES, policy_for
from models.processes.return_home import ONE_STOP_KEYS_V2
from models.processes.startup_loan import BankDecision
from models.search_attributes import case_search_attributes
from models.settings import Settings
from models.tables import (
    Account,
    BankApplication,
    Case,
    HumanTask,
    OrgUnit,
    Veteran,
)
from models.workdays import TZ
from workflows.human_task import ProcessWorkflow
from workflows.registry import PROCESS_WORKFLOWS

log = structlog.get_logger(__name__)
T = TypeVar("T")

PROCESS = "return_home"
LOAN = "startup_loan"
LOAN_BANK = "qdbank"  # 青岛银行 in models/demo.py: answers by signed callback
STARTER = "county"  # the county clerk accepts (受理) every demo case
# The correction case's file request to the sending unit is due this soon after it
# opens, so the case shows an overdue (and escalated) task within seconds.
OVERDUE_STEP = "file_gap_request"
OVERDUE_AFTER = timedelta(seconds=5)
# (scenario, demo veteran) — the names of models/demo.py.
DEMO_CASES: tuple[tuple[str, str], ...] = (
    ("village", "刘洋"),
    ("correction", "陈静"),
    ("closed", "杨磊"),
)
WAIT_SECONDS = 60.0  # how long to wait for a task row (or the closed status)
# What the county clerk records on receiving each personnel file (003 §6.9.2.2).
SENDING_UNIT = "某部政治工作部"
# The personnel file's gap in the correction case, requested from the sending unit.
FILE_GAPS = ["军队干部转业审批表"]


def demo_policy(scenario: str, base: ProcessPolicy) -> ProcessPolicy:
    """The deadline policy of a demo case: the settings profile's, except that the
    correction case's file request is due a few seconds after it opens."""
    if scenario != "correction":
        return base
    step = base.for_step(OVERDUE_STEP)
    return base.model_copy(
        update={
            "name": f"{base.name}+demo-overdue",
            "steps": {
                **base.steps,
                OVERDUE_STEP: TaskPolicy(
                    duration=OVERDUE_AFTER,
                    source="demo",
                    escalation=step.escalation,
                ),
            },
        }
    )


async def start_demo_cases(
    engine: Engine, client: Client, settings: Settings
) -> list[str]:
    """Start the demo cases and drive each to its point; the case ids, in the order
    of ``DEMO_CASES``. The cases run concurrently; when some fail, the others still
    get to their point and an ExceptionGroup with every failure is raised."""
    driver = _Driver(engine, client, settings)
    scripts: dict[str, Callable[[str], Awaitable[None]]] = {
        "village": driver.at_village,
        "correction": driver.in_correction,
        "closed": driver.closed,
    }

    async def one(scenario: str, veteran: str) -> str:
        policy = demo_policy(scenario, policy_for(PROCESS, settings.policy_profile))
        case_id = await driver.start(veteran, policy, scenario)
        await scripts[scenario](case_id)
        log.info("demo_case_ready", scenario=scenario, case_id=case_id)
        return case_id

    results = await asyncio.gather(
        *(one(scenario, veteran) for scenario, veteran in DEMO_CASES),
        return_exceptions=True,
    )
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, Exception):
            raise r  # cancellation and the like
    # A bad rating of 刘洋's home visit and a petition at the county (fixed ids:
    # started once), so the complaint loop shows in the inboxes.
    await start_demo_complaints(engine, client, settings)
    failures = [r for r in results if isinstance(r, Exception)]
    if failures:
        raise ExceptionGroup("demo cases failed", failures)
    await open_demo_campaigns(client, settings)
    return [r for r in results if isinstance(r, str)]


async def open_demo_campaigns(client: Client, settings: Settings) -> None:
    """Open this year's annual review (刘洋, on monthly pay, gets his link) and this
    month's payroll of the county, as their Schedules would on 1 January and on the
    1st: the same opener workflows, started once (their ids are fixed)."""
    prefix = settings.case_id_prefix
    openers: list[tuple[str, BaseModel, str]] = [
        (
            "OpenAnnualReviewCampaignWorkflow",
            OpenCampaignInput(
                opened_by="demo",
                case_id_prefix=prefix,
                policy=policy_for("annual_review", settings.policy_profile),
            ),
            f"{prefix}demo-open-annual-review",
        ),
        (
            "OpenMonthlyPayWorkflow",
            OpenMonthlyPayInput(
                opened_by="demo",
                case_id_prefix=prefix,
                policy=policy_for("monthly_pay", settings.policy_profile),
            ),
            f"{prefix}demo-open-monthly-pay",
        ),
    ]
    for workflow, arg, wid in openers:
        try:
            handle = await client.start_workflow(
                workflow, arg, id=wid, task_queue=settings.task_queue
            )
            await handle.result()
        except WorkflowAlreadyStartedError:
            pass  # opened on an earlier start of the demo


class _Driver:
    """Starts demo cases and completes their tasks as the demo clerks."""

    def __init__(self, engine: Engine, client: Client, settings: Settings) -> None:
        self.engine = engine
        self.client = client
        self.settings = settings

    # --- the three scenarios --------------------------------------------------------

    async def at_village(self, case_id: str) -> None:
        await self.receive_file(case_id)
        await self.complete(case_id, "archive_review", "approve", {"note": "档案齐全"})
        await self.early_steps(case_id, "东关村")
        await self.register_at_the_desks(case_id, "东关村")
        await self.open_task(case_id, "information_collection")

    async def in_correction(self, case_id: str) -> None:
        await self.receive_file(case_id)
        # Everything at once (一次性告知, 003 §7.6): the veteran's part and the file's.
        await self.complete(
            case_id,
            "archive_review",
            "return_for_correction",
            {
                "missing_materials": ["户口本", "近期免冠照片"],
                "defective_materials": ["退役证或转业证或离退休证(照片页不清晰)"],
                "file_gaps": FILE_GAPS,
                "note": "请一次性补齐",
            },
        )
        await self.open_task(case_id, "supplement_materials")
        # Nobody answers the file request: it passes its due time a few seconds on.
        await self.open_task(case_id, OVERDUE_STEP)

    async def closed(self, case_id: str) -> None:
        await self.receive_file(case_id)
        await self.complete(case_id, "archive_review", "approve")
        await self.early_steps(case_id, "南关村")
        await self.register_at_the_desks(case_id, "南关村")
        await self.complete(
            case_id,
            "information_collection",
            "submitted",
            {
                "hukou_address": "示范县南关镇南关村12号",
                "political_status": "群众",
                "enlisted_on": "2019-09-01",
                "discharged_on": _days_ago(60),
                "rank": "上等兵",
                "service_branch": "陆军",
                "placement": "自主就业",
                "employment": "有创业意向，参加创业培训",
                "education": "高中",
                "materials_checked": list(COLLECTION_MATERIALS[:5]),
            },
        )
        # Reviewed level by level up to the city and reported upward (003 §6.1.4).
        await self.complete(case_id, "township_review", "approve")
        await self.complete(case_id, "county_review", "approve")
        await self.complete(case_id, "city_review", "approve")
        await self.complete(
            case_id,
            "report_to_province",
            "reported",
            {"reported_on": _today(), "channel": "退役军人信息管理系统"},
        )
        await _poll(lambda: _case_status(self.engine, case_id) == "closed")
        await self.startup_loan("杨磊")

    async def startup_loan(self, veteran: str) -> str:
        """A personal startup loan approved by the demo bank, in its repayment phase."""
        case_id = await self.start(
            veteran,
            policy_for(LOAN, self.settings.policy_profile),
            "startup_loan",
            process=LOAN,
        )
        await self.complete(
            case_id,
            "demand_registration",
            "submitted",
            {
                "intent_field": "农产品电商",
                "needs_guidance": True,
                "contact_phone": "13800000000",
                "education": "高中",
            },
        )
        await self.complete(
            case_id,
            "application",
            "submitted",
            {
                "loan_type": "personal",
                "amount": "150000.00",
                "term_months": 36,
                "bank": LOAN_BANK,
                "subject_type": "individual",
                "business_plan": "在南关村开设农产品网店，销售本地特产",
                "bank_data_consent": True,
                "consent_signed_on": _today(),
            },
        )
        await self.complete(
            case_id,
            "county_review",
            "approve",
            {"identity_verified": True, "subject_verified": True},
        )
        await _poll(lambda: _case_status(self.engine, case_id) == "at_bank")
        ref = await _poll(lambda: _application_ref(self.engine, case_id))
        await self.client.get_workflow_handle(case_id).execute_update(
            "bank_event",
            BankEvent(
                bank=LOAN_BANK,
                reference=f"DEMO-{case_id[-8:]}",
                kind="approved",
                application_ref=ref,
                decision=BankDecision(
                    bank_reference=f"QD-{case_id[-6:]}",
                    amount=Decimal("150000.00"),
                    annual_rate=Decimal("3.9500"),
                    lpr=Decimal("3.4500"),
                    term_months=36,
                    contract_date=datetime.now(TZ).date(),
                ),
            ),
        )
        await _poll(lambda: _case_status(self.engine, case_id) == "repaying")
        return case_id

    # --- the steps the scenarios share -------------------------------------------------

    async def receive_file(self, case_id: str) -> None:
        """档案接收: the personnel file came by 机要交通 (003 §6.9.2.2)."""
        await self.complete(
            case_id,
            "file_receipt",
            "received",
            {
                "sending_unit": SENDING_UNIT,
                "transfer_means": "机要交通",
                "received_on": _today(),
            },
        )

    async def early_steps(self, case_id: str, home: str) -> None:
        """The welcome, the home visit (联络服务卡) and the filing, all opened at once
        when the archive is approved (003 §6.2.1)."""
        await self.complete(
            case_id,
            "welcome",
            "done",
            {"welcomed_on": _today(), "activities": ["返乡接待站接待", "佩戴红花"]},
        )
        await self.complete(
            case_id,
            "home_visit",
            "done",
            {
                "visited_on": _today(),
                "talk_notes": f"走访{home}家中，了解家庭情况和就业意向",
                "policies_explained": "退役军人优待证申领、就业创业扶持政策",
                "contact_card_issued": True,
            },
        )
        await self.complete(
            case_id,
            "file_filing",
            "done",
            {
                "filed_on": _today(),
                "storage_location": "档案室A-1",
                "digital_copy_made": True,
            },
        )

    async def register_at_the_desks(self, case_id: str, home: str) -> None:
        """The organisation transfer if any (before the registration, 001 第七条), the
        registration, every one-stop item the veteran has (each by its desk's clerk)
        and the adaptive training."""
        step = await self.open_any(
            case_id, ("party_transfer", "league_transfer", "registration")
        )
        if step.step != "registration":
            await self.complete(
                case_id,
                step.step,
                "done",
                {
                    "receiving_organisation": (
                        f"{home}党支部"
                        if step.step == "party_transfer"
                        else f"{home}团支部"
                    ),
                    "letter_number": "DEMO-001",
                    "transferred_on": _today(),
                },
            )
        await self.complete(
            case_id,
            "registration",
            "done",
            {"registration_number": f"BD-{case_id[-6:]}", "reported_on": _today()},
        )
        for key in ONE_STOP_KEYS_V2:
            if await self.skipped_or_open(case_id, key) == "skipped":
                continue  # e.g. 一次性经济补助, for 自主就业 veterans only
            if key == "housing_fund":
                await self.complete(
                    case_id, key, "not_applicable", {"reason": "入伍前未缴存住房公积金"}
                )
            else:
                await self.complete(case_id, key, "done", {"reference": f"{key}-demo"})
        await self.complete(
            case_id,
            "adaptive_training",
            "enrolled",
            {"offered_on": _today(), "session": "本年度退役军人适应性培训第一期"},
        )

    # --- clerk actions ---------------------------------------------------------------

    async def start(
        self,
        veteran: str,
        policy: ProcessPolicy,
        scenario: str,
        process: str = PROCESS,
    ) -> str:
        """Start the process for a demo veteran as ``POST /api/cases`` does."""
        spec = PROCESSES[process]
        veteran_id = await run_in_threadpool(_veteran_id, self.engine, veteran)
        found = await run_in_threadpool(
            veteran_in_subtree, self.engine, veteran_id, "/"
        )
        if found is None:
            raise RuntimeError(f"demo veteran {veteran} has no org unit")
        veteran_row, unit = found
        elsewhere = spec.excluded_categories.get(veteran_row.category)
        if elsewhere is not None:
            raise RuntimeError(f"demo veteran {veteran} is not served: {elsewhere}")
        key = f"v{veteran_id}" if spec.per_veteran == "once" else f"v{veteran_id}-1"
        case_id = f"{self.settings.case_id_prefix}{spec.key}-{key}"
        data = spec.start_form.model_validate(
            {"note": f"演示案件 (demo case: {scenario})"}
        ).model_dump(mode="json")
        await self.client.start_workflow(
            PROCESS_WORKFLOWS[spec.key].run,
            StartCaseInput(
                case_id=case_id,
                process=spec.key,
                veteran_id=veteran_id,
                started_by=STARTER,
                data=data,
                policy=policy,
                spec_version=spec.version,
            ),
            id=case_id,
            task_queue=self.settings.task_queue,
            search_attributes=case_search_attributes(spec.key, unit.path, veteran_id),
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        return case_id

    async def open_task(self, case_id: str, step: str) -> HumanTask:
        return await self.open_any(case_id, (step,))

    async def open_any(self, case_id: str, steps: tuple[str, ...]) -> HumanTask:
        """The open task of one of ``steps``, once its row is in the projection."""
        return await _poll(lambda: _open_task_row(self.engine, case_id, steps))

    async def skipped_or_open(self, case_id: str, step: str) -> str:
        """``open`` once the step's task is open, ``skipped`` if the case skipped it."""
        return await _poll(lambda: _skipped_or_open(self.engine, case_id, step))

    async def complete(
        self, case_id: str, step: str, outcome: str, data: dict[str, Any] | None = None
    ) -> None:
        """Finish the step's open task as a demo clerk who may work it."""
        task = await self.open_task(case_id, step)
        username = await run_in_threadpool(_clerk_for, self.engine, task)
        user = await run_in_threadpool(load_user, self.engine, username)
        if user is None:
            raise RuntimeError(f"demo account {username} is missing")
        handle = self.client.get_workflow_handle(task.workflow_id)
        await handle.execute_update(
            ProcessWorkflow.complete_task,
            CompleteTaskInput(
                task_id=task.id,
                actor=user.actor(),
                outcome=outcome,
                data=data or {},
                comment="演示数据 (demo)",
            ),
        )


async def _poll(fn: Callable[[], T | None]) -> T:
    """Run the (blocking) query ``fn`` until it answers something truthy."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = await run_in_threadpool(fn)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"demo case: waited {WAIT_SECONDS:.0f}s in vain")
        await asyncio.sleep(0.2)


def _today() -> str:
    return datetime.now(TZ).date().isoformat()


def _days_ago(days: int) -> str:
    return (datetime.now(TZ).date() - timedelta(days=days)).isoformat()


def _veteran_id(engine: Engine, name: str) -> int:
    with Session(engine) as s:
        v = s.exec(select(Veteran).where(Veteran.name == name)).first()
        if v is None or v.id is None:
            raise RuntimeError(f"demo veteran {name} is missing")
        return v.id


def _open_task_row(
    engine: Engine, case_id: str, steps: tuple[str, ...]
) -> HumanTask | None:
    with Session(engine) as s:
        return s.exec(
            select(HumanTask)
            .where(
                HumanTask.case_id == case_id,
                col(HumanTask.step).in_(steps),
                HumanTask.status == "open",
            )
            .order_by(col(HumanTask.round).desc())
        ).first()


def _skipped_or_open(engine: Engine, case_id: str, step: str) -> str | None:
    with Session(engine) as s:
        statuses = set(
            s.exec(
                select(HumanTask.status).where(
                    HumanTask.case_id == case_id, HumanTask.step == step
                )
            ).all()
        )
    return next((st for st in ("open", "skipped") if st in statuses), None)


def _application_ref(engine: Engine, case_id: str) -> str | None:
    with Session(engine) as s:
        row = s.exec(
            select(BankApplication).where(BankApplication.case_id == case_id)
        ).first()
        return row.ref if row else None


def _case_status(engine: Engine, case_id: str) -> str | None:
    with Session(engine) as s:
        case = s.get(Case, case_id)
        return case.status if case else None


def _clerk_for(engine: Engine, task: HumanTask) -> str:
    """The task's holder, else the demo account of the nearest unit at or above the
    task's unit that holds its role (the local clerk before the county's)."""
    if task.assignee:
        return task.assignee
    with Session(engine) as s:
        rows = s.exec(
            select(Account, OrgUnit).where(
                Account.org_unit_id == OrgUnit.id, col(Account.active).is_(True)
            )
        ).all()
    fits = [
        (len(unit.path), acc.username)
        for acc, unit in rows
        if task.candidate_role in acc.roles
        and not acc.absent
        and task.org_path.startswith(unit.path)
    ]
    if not fits:
        raise RuntimeError(f"no demo account may work {task.id}")
    # A one-stop item is worked by its own desk's clerk (A角), e.g. 组织部 for the
    # party transfer; the B角 only when the A角 is away.
    desk = DESK_CLERK_OF.get(task.candidate_role)
    if desk in {username for _, username in fits}:
        return desk
    return min(fits, key=lambda f: (-f[0], f[1]))[1]
