"""Demo cases for a newcomer's first minute: `vetflow dev` on an empty database starts
four return-home cases at different points, so the inbox, the dashboard and the
auditor's pages have something to show.

- ``village``: archive approved, 信息采集 open at the village station;
- ``correction``: archive returned with missing materials, 补充材料 open (round 1);
- ``overdue``: started with a deadline of a few seconds, so its archive review turns
  overdue (and escalates) shortly after the start;
- ``closed``: driven through every step to the end.

They are driven the way clerks would drive them: the case starts like ``POST
/api/cases`` starts it (same id, search attributes, start input), and every step is
finished with the ``complete_task`` Update by a demo account that holds the step's
role in the task's org unit, once the task's row is in the projection. Each case
belongs to a different demo veteran (return home happens once per veteran); 张伟 is
left without a case, for the newcomer to start one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from api.case_actions import _search_attributes
from api.case_queries import veteran_in_subtree
from api.deps import load_user
from models.contracts import (
    CompleteTaskInput,
    ProcessPolicy,
    StartCaseInput,
    TaskPolicy,
)
from models.processes import PROCESSES, policy_for
from models.processes.return_home import ONE_STOP_KEYS
from models.settings import Settings
from models.tables import Account, Case, HumanTask, OrgUnit, Veteran
from models.workdays import TZ
from workflows import PROCESS_WORKFLOWS
from workflows.human_task import ProcessWorkflow

log = structlog.get_logger(__name__)
T = TypeVar("T")

PROCESS = "return_home"
STARTER = "county"  # the county clerk accepts (受理) every demo case
# The overdue case's deadline: every step is due a few seconds after it opens.
OVERDUE_POLICY = ProcessPolicy(
    name="demo-overdue",
    default=TaskPolicy(duration=timedelta(seconds=5), source="demo"),
)
# (scenario, demo veteran) — the names of models/demo.py.
DEMO_CASES: tuple[tuple[str, str], ...] = (
    ("village", "刘洋"),
    ("correction", "陈静"),
    ("overdue", "黄建国"),
    ("closed", "杨磊"),
)
WAIT_SECONDS = 60.0  # how long to wait for a task row (or the closed status)


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
        "overdue": driver.overdue,
        "closed": driver.closed,
    }

    async def one(scenario: str, veteran: str) -> str:
        policy = (
            OVERDUE_POLICY
            if scenario == "overdue"
            else policy_for(PROCESS, settings.policy_profile)
        )
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
    failures = [r for r in results if isinstance(r, Exception)]
    if failures:
        raise ExceptionGroup("demo cases failed", failures)
    return [r for r in results if isinstance(r, str)]


class _Driver:
    """Starts demo cases and completes their tasks as the demo clerks."""

    def __init__(self, engine: Engine, client: Client, settings: Settings) -> None:
        self.engine = engine
        self.client = client
        self.settings = settings

    # --- the four scenarios ---------------------------------------------------------

    async def at_village(self, case_id: str) -> None:
        await self.complete(case_id, "archive_review", "approve", {"note": "档案齐全"})
        await self.open_task(case_id, "information_collection")

    async def in_correction(self, case_id: str) -> None:
        await self.complete(
            case_id,
            "archive_review",
            "return_for_correction",
            {
                "missing_materials": ["户口簿", "党组织关系介绍信"],
                "defective_materials": ["退役证(照片页不清晰)"],
                "note": "请一次性补齐",
            },
        )
        await self.open_task(case_id, "supplement_materials")

    async def overdue(self, case_id: str) -> None:
        # Nobody acts: the archive review passes its due time a few seconds from now.
        await self.open_task(case_id, "archive_review")

    async def closed(self, case_id: str) -> None:
        today = datetime.now(TZ).date().isoformat()
        await self.complete(case_id, "archive_review", "approve")
        await self.complete(
            case_id,
            "information_collection",
            "submitted",
            {
                "hukou_address": "示范县南关镇南关村12号",
                "education": "高中",
                "service_branch": "陆军",
                "photo_collected": True,
            },
        )
        await self.complete(case_id, "township_review", "approve")
        await self.complete(case_id, "county_review", "approve")
        # A party member's organisation moves first (001 第七条); others skip the step.
        step = await self.open_any(case_id, ("party_transfer", "registration"))
        if step.step == "party_transfer":
            await self.complete(
                case_id,
                "party_transfer",
                "done",
                {
                    "receiving_organisation": "南关村党支部",
                    "letter_number": "DEMO-001",
                    "transferred_on": today,
                },
            )
        await self.complete(
            case_id,
            "registration",
            "done",
            {"registration_number": "BD-DEMO-001", "reported_on": today},
        )
        for key in ONE_STOP_KEYS:
            if key == "reserve":
                await self.complete(
                    case_id, key, "not_applicable", {"reason": "不属于预备役登记范围"}
                )
            else:
                await self.complete(case_id, key, "done", {"reference": f"{key}-demo"})
        await self.complete(
            case_id,
            "home_visit",
            "done",
            {
                "visited_on": today,
                "contact_card_number": "LL-DEMO-001",
                "notes": "送达联络服务卡",
            },
        )
        await _poll(lambda: _case_status(self.engine, case_id) == "closed")

    # --- clerk actions ---------------------------------------------------------------

    async def start(self, veteran: str, policy: ProcessPolicy, scenario: str) -> str:
        """Start the process for a demo veteran as ``POST /api/cases`` does."""
        spec = PROCESSES[PROCESS]
        veteran_id = await run_in_threadpool(_veteran_id, self.engine, veteran)
        found = await run_in_threadpool(
            veteran_in_subtree, self.engine, veteran_id, "/"
        )
        if found is None:
            raise RuntimeError(f"demo veteran {veteran} has no org unit")
        _, unit = found
        case_id = f"{self.settings.case_id_prefix}{spec.key}-v{veteran_id}"
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
            search_attributes=_search_attributes(spec.key, unit.path, veteran_id),
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        return case_id

    async def open_task(self, case_id: str, step: str) -> HumanTask:
        return await self.open_any(case_id, (step,))

    async def open_any(self, case_id: str, steps: tuple[str, ...]) -> HumanTask:
        """The open task of one of ``steps``, once its row is in the projection."""
        return await _poll(lambda: _open_task_row(self.engine, case_id, steps))

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
    return min(fits, key=lambda f: (-f[0], f[1]))[1]
