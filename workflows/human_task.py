"""The human-task mechanism every vetflow process shares.

A process workflow subclasses :class:`ProcessWorkflow` and asks for a human step with
one call, ``await self.human_task("archive_review")``: the step's spec (title, clause,
role, level, outcomes, form) comes from the process definition, an activity writes the
task row, and the workflow waits on durable timers for the ``complete_task`` Update —
reminding before the due time, escalating at it (overdue mark, supervisor notice, B角
routing). Claim, unclaim and reassign are Updates too; their validators reject bad or
stale input before anything reaches the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.cases import CaseActivities
    from activities.human_tasks import HumanTaskActivities
    from activities.notifications import NotificationActivities
    from models.contracts import (
        SA_STATUS,
        SUPERVISOR_ROLES,
        Actor,
        ArchiveHistoryInput,
        AssignTaskInput,
        CaseState,
        CaseStatusInput,
        ClaimTaskInput,
        CloseTaskInput,
        CompleteTaskInput,
        EscalateTaskInput,
        NoticeInput,
        OpenTaskInput,
        ReassignTaskInput,
        RegisterCaseInput,
        RegisterCaseResult,
        SkipTaskInput,
        StartCaseInput,
        TaskResult,
        TaskView,
    )
    from models.process_spec import ProcessSpec, StepSpec

# Levels from the bottom up: a village-level step of a veteran who lives directly
# under a township station goes to that township station (002 §3.2 一中心两站).
LEVELS_UP = ("village", "township", "county", "city", "province")

ACTIVITY_TIMEOUT = timedelta(seconds=30)
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["UnknownVeteran", "UnknownOrgUnit"],
)
STATUS_KEY = SearchAttributeKey.for_keyword(SA_STATUS)


def reject(kind: str, message: str, **details: Any) -> ApplicationError:
    """A validator rejection: ``kind`` tells the API which HTTP answer to give."""
    return ApplicationError(message, details, type=kind, non_retryable=True)


@dataclass
class OpenTask:
    """The workflow's own record of a human task (the source of truth)."""

    view: TaskView
    spec: StepSpec
    result: TaskResult | None = None

    @property
    def done(self) -> bool:
        return self.result is not None


class ProcessWorkflow:
    """Base of every process workflow: human tasks, deadlines, notices, case status."""

    spec: ClassVar[ProcessSpec]

    def _setup(self, inp: StartCaseInput) -> None:
        self._input = inp
        self._status = "running"
        self._tasks: dict[str, OpenTask] = {}
        self._rounds: dict[str, int] = {}
        self._completed_steps: list[str] = []
        # 首办负责制 (003 §7.8): (role, org unit) → the clerk who first handled a step.
        self._first_handler: dict[str, str] = {}
        self._case: RegisterCaseResult | None = None

    # --- the process-facing API --------------------------------------------------

    async def register_case(self) -> RegisterCaseResult:
        info = workflow.info()
        self._case = await workflow.execute_activity_method(
            CaseActivities.register_case,
            RegisterCaseInput(
                case_id=self._input.case_id,
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                process=self.spec.key,
                title=self.spec.title,
                veteran_id=self._input.veteran_id,
                started_by=self._input.started_by,
                started_at=workflow.now(),
                data=self._input.data,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        return self._case

    async def human_task(
        self, step_key: str, *, context: dict[str, Any] | None = None
    ) -> TaskResult:
        """Open the step's task, wait for its completion (with reminder and escalation
        timers from the process policy) and return what the clerk submitted."""
        task, opening = self._new_task(step_key, context or {})
        opened = await workflow.execute_activity_method(
            HumanTaskActivities.open_task,
            opening,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        task.view.due_at = opened.due_at
        if not task.done:
            task.view.assignee = opened.assignee
        workflow.logger.info(
            "task opened",
            extra={
                "case_id": self._input.case_id,
                "task_id": task.view.task_id,
                "assignee": task.view.assignee,
            },
        )
        return await self._await_completion(task, opened.remind_at)

    async def skip_step(self, step_key: str, reason: str) -> None:
        """Record that a step does not apply to this case, and why."""
        _, opening = self._new_task(step_key, {}, register=False)
        await workflow.execute_activity_method(
            HumanTaskActivities.record_skipped_step,
            SkipTaskInput(task=opening, reason=reason),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        self._completed_steps.append(step_key)

    async def notify(self, notice: NoticeInput) -> None:
        await workflow.execute_activity_method(
            NotificationActivities.send_notice,
            notice,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                maximum_interval=timedelta(minutes=5),
            ),
        )

    async def notify_veteran(
        self, kind: str, template: str, key: str, context: dict[str, Any]
    ) -> None:
        await self.notify(
            NoticeInput(
                key=f"{self._input.case_id}:{key}",
                case_id=self._input.case_id,
                kind=kind,
                recipient_type="veteran",
                recipient=str(self._input.veteran_id),
                template=template,
                context={
                    "case_id": self._input.case_id,
                    "veteran_name": self.veteran_name,
                    **context,
                },
            )
        )

    async def set_status(self, status: str, *, closed: bool = False) -> None:
        self._status = status
        workflow.upsert_search_attributes([STATUS_KEY.value_set(status)])
        await workflow.execute_activity_method(
            CaseActivities.set_case_status,
            CaseStatusInput(
                case_id=self._input.case_id,
                status=status,
                closed_at=workflow.now() if closed else None,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )

    async def close_case(self) -> CaseState:
        """Close the case, wait for in-flight handlers, and hand its history to the archive."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.set_status("closed", closed=True)
        info = workflow.info()
        await workflow.start_child_workflow(
            "ArchiveHistoryWorkflow",
            ArchiveHistoryInput(
                case_id=self._input.case_id,
                workflow_id=info.workflow_id,
                run_id=info.run_id,
            ),
            id=f"archive-{info.workflow_id}",
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )
        return self.get_state()

    @property
    def veteran_name(self) -> str:
        return self._case.veteran_name if self._case else ""

    def unit_for(self, level: str) -> tuple[int, str, str]:
        """The org unit (id, path, level) at ``level`` in the veteran's chain, or the
        nearest unit above it."""
        if self._case is None:
            raise RuntimeError("register_case() must run before the first step")
        chain = self._case.chain
        for lvl in LEVELS_UP[LEVELS_UP.index(level) :]:
            if lvl in chain.units:
                return chain.units[lvl], chain.paths[lvl], lvl
        raise ApplicationError(
            f"no org unit at or above {level}",
            type="UnknownOrgUnit",
            non_retryable=True,
        )

    # --- messages -----------------------------------------------------------------

    @workflow.query
    def get_state(self) -> CaseState:
        return CaseState(
            case_id=self._input.case_id,
            process=self.spec.key,
            status=self._status,
            open_tasks=[t for t, s in self._tasks.items() if not s.done],
            completed_steps=list(self._completed_steps),
            rounds=dict(self._rounds),
        )

    @workflow.update
    async def complete_task(self, inp: CompleteTaskInput) -> TaskResult:
        """A clerk finishes a step with an outcome and the step's form."""
        task = self._tasks[inp.task_id]
        form = task.spec.form.model_validate(inp.data, context={"outcome": inp.outcome})
        result = TaskResult(
            task_id=inp.task_id,
            step=task.spec.key,
            outcome=inp.outcome,
            data=form.model_dump(mode="json"),
            comment=inp.comment,
            completed_by=inp.actor.username,
            completed_at=workflow.now(),
        )
        # State changes before the first await, so a second completion is rejected.
        task.result = result
        task.view.status = "completed"
        task.view.assignee = inp.actor.username
        self._first_handler.setdefault(_handler_key(task.view), inp.actor.username)
        self._completed_steps.append(task.spec.key)
        await workflow.execute_activity_method(
            HumanTaskActivities.close_task,
            CloseTaskInput(
                task_id=inp.task_id,
                case_id=self._input.case_id,
                status="completed",
                result=result,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        return result

    @complete_task.validator
    def validate_complete_task(self, inp: CompleteTaskInput) -> None:
        task = self._open_task(inp.task_id)
        self._check_may_work(task, inp.actor)
        if task.view.assignee and task.view.assignee != inp.actor.username:
            raise reject(
                "ClaimedByOther",
                f"任务由 {task.view.assignee} 办理中",
                holder=task.view.assignee,
            )
        if inp.outcome not in task.spec.outcomes:
            raise reject(
                "InvalidOutcome",
                f"办理结果须为 {', '.join(task.spec.outcomes)} 之一",
                errors=[
                    {
                        "loc": ["outcome"],
                        "msg": f"must be one of {list(task.spec.outcomes)}",
                    }
                ],
            )
        try:
            task.spec.form.model_validate(inp.data, context={"outcome": inp.outcome})
        except ValidationError as e:
            errors = [
                {"loc": ["data", *e_["loc"]], "msg": e_["msg"], "type": e_["type"]}
                for e_ in e.errors(
                    include_url=False, include_context=False, include_input=False
                )
            ]
            raise reject("InvalidForm", "表单数据有误", errors=errors) from None

    @workflow.update
    async def claim_task(self, inp: ClaimTaskInput) -> TaskView:
        """A clerk takes an open task into their own list (or takes it over, confirmed)."""
        task = self._tasks[inp.task_id]
        action = "takeover" if task.view.assignee else "claim"
        return await self._assign(
            task, inp.actor.username, inp.actor.username, action, ""
        )

    @claim_task.validator
    def validate_claim_task(self, inp: ClaimTaskInput) -> None:
        task = self._open_task(inp.task_id)
        self._check_may_work(task, inp.actor)
        holder = task.view.assignee
        if holder == inp.actor.username:
            raise reject("AlreadyClaimed", "您已认领该任务", holder=holder)
        if holder and not inp.force:
            raise reject(
                "ClaimedByOther",
                f"任务已由 {holder} 认领，确认后方可接手",
                holder=holder,
            )

    @workflow.update
    async def unclaim_task(self, inp: ClaimTaskInput) -> TaskView:
        """The holder (or a supervisor) puts the task back into the shared queue."""
        return await self._assign(
            self._tasks[inp.task_id], None, inp.actor.username, "unclaim", ""
        )

    @unclaim_task.validator
    def validate_unclaim_task(self, inp: ClaimTaskInput) -> None:
        task = self._open_task(inp.task_id)
        if task.view.assignee is None:
            raise reject("NotClaimed", "任务尚未被认领")
        if task.view.assignee != inp.actor.username and not _supervises(
            inp.actor, task.view
        ):
            raise reject("NotAuthorized", "只有办理人或上级可以退回任务")

    @workflow.update
    async def reassign_task(self, inp: ReassignTaskInput) -> TaskView:
        """A supervisor or manager gives the task to another clerk, with a reason."""
        return await self._assign(
            self._tasks[inp.task_id],
            inp.target.username,
            inp.actor.username,
            "reassign",
            inp.reason,
        )

    @reassign_task.validator
    def validate_reassign_task(self, inp: ReassignTaskInput) -> None:
        task = self._open_task(inp.task_id)
        if not _supervises(inp.actor, task.view):
            raise reject("NotAuthorized", "只有上级或管理员可以转派任务")
        if not inp.reason.strip():
            raise reject(
                "InvalidInput",
                "转派须说明原因",
                errors=[{"loc": ["reason"], "msg": "required"}],
            )
        if not _eligible(inp.target, task.view):
            raise reject(
                "InvalidInput",
                f"{inp.target.username} 不具备该环节的角色或不在该机构范围内",
                errors=[{"loc": ["username"], "msg": "not eligible for this task"}],
            )
        if inp.target.absent:
            raise reject(
                "InvalidInput",
                f"{inp.target.username} 不在岗",
                errors=[{"loc": ["username"], "msg": "absent"}],
            )

    # --- internals ----------------------------------------------------------------

    def _new_task(
        self, step_key: str, context: dict[str, Any], register: bool = True
    ) -> tuple[OpenTask, OpenTaskInput]:
        spec = self.spec.step(step_key)
        n = self._rounds[step_key] = self._rounds.get(step_key, 0) + 1
        task_id = f"{self._input.case_id}.{step_key}.{n}"
        org_unit_id, org_path, level = self.unit_for(spec.level)
        role = spec.role
        if level != spec.level and role == f"{spec.level}_staff":
            # A village step of a veteran with no village station goes to the township
            # station's staff (002 §3.2), not to a role nobody there holds.
            role = f"{level}_staff"
        view = TaskView(
            task_id=task_id,
            step=step_key,
            status="open",
            org_unit_id=org_unit_id,
            org_path=org_path,
            candidate_role=role,
            outcomes=list(spec.outcomes),
        )
        preferred = self._first_handler.get(_handler_key(view))
        view.assignee = preferred
        task = OpenTask(view=view, spec=spec)
        if register:
            # Registered before the activity runs: a completion may arrive as soon as the row exists.
            self._tasks[task_id] = task
        opening = OpenTaskInput(
            task_id=task_id,
            case_id=self._input.case_id,
            workflow_id=workflow.info().workflow_id,
            process=self.spec.key,
            step=step_key,
            title=spec.title,
            regulation=spec.clause,
            candidate_role=role,
            org_unit_id=org_unit_id,
            outcomes=list(spec.outcomes),
            context=context,
            round=n,
            created_at=workflow.now(),
            policy=self._input.policy.for_step(step_key),
            preferred_assignee=preferred,
        )
        return task, opening

    async def _await_completion(
        self, task: OpenTask, remind_at: datetime | None
    ) -> TaskResult:
        if remind_at is not None and not task.done:
            if (
                not await _wait(lambda: task.done, remind_at - workflow.now())
                and task.view.assignee
            ):
                await self.notify(
                    self._task_notice(task, "reminder", task.view.assignee)
                )
        due_at = task.view.due_at
        if due_at is not None and not task.done:
            if not await _wait(lambda: task.done, due_at - workflow.now()):
                await self._escalate(task)
        await workflow.wait_condition(lambda: task.done)
        if task.result is None:  # for the type checker: done means a result is set
            raise RuntimeError("task finished without a result")
        return task.result

    async def _escalate(self, task: OpenTask) -> None:
        """At the due time (003 §7.9): overdue mark, supervisors told, B角 takes over if
        the holder is absent (003 §7.7)."""
        task.view.overdue = True
        absent_user = task.view.assignee
        workflow.logger.warning(
            "task overdue",
            extra={"case_id": self._input.case_id, "task_id": task.view.task_id},
        )
        outcome = await workflow.execute_activity_method(
            HumanTaskActivities.escalate_task,
            EscalateTaskInput(
                task_id=task.view.task_id,
                case_id=self._input.case_id,
                assignee=task.view.assignee,
                candidate_role=task.view.candidate_role,
                org_unit_id=task.view.org_unit_id,
                at=workflow.now(),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        if outcome.new_assignee and not task.done:
            task.view.assignee = outcome.new_assignee
            await self.notify(
                self._task_notice(
                    task, "backup_routed", outcome.new_assignee, absent_user=absent_user
                )
            )
        for supervisor in outcome.supervisors:
            await self.notify(
                self._task_notice(
                    task, "overdue", supervisor, assignee=task.view.assignee or "未认领"
                )
            )

    def _task_notice(
        self, task: OpenTask, kind: str, username: str, **extra: Any
    ) -> NoticeInput:
        return NoticeInput(
            key=f"{task.view.task_id}:{kind}:{username}",
            case_id=self._input.case_id,
            task_id=task.view.task_id,
            kind=kind,
            recipient_type="staff",
            recipient=username,
            template=kind,
            context={
                "title": task.spec.title,
                "case_id": self._input.case_id,
                "due_at": task.view.due_at.isoformat() if task.view.due_at else "",
                **extra,
            },
        )

    async def _assign(
        self, task: OpenTask, assignee: str | None, actor: str, action: str, reason: str
    ) -> TaskView:
        task.view.assignee = assignee
        await workflow.execute_activity_method(
            HumanTaskActivities.assign_task,
            AssignTaskInput(
                task_id=task.view.task_id,
                case_id=self._input.case_id,
                assignee=assignee,
                actor=actor,
                action=action,
                reason=reason,
                at=workflow.now(),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        return task.view.model_copy()

    def _open_task(self, task_id: str) -> OpenTask:
        task = self._tasks.get(task_id)
        if task is None:
            raise reject("TaskNotFound", f"任务 {task_id} 不存在")
        if task.done:
            raise reject(
                "TaskNotOpen", "任务已办结，不能重复提交", status=task.view.status
            )
        return task

    def _check_may_work(self, task: OpenTask, actor: Actor) -> None:
        if task.view.assignee == actor.username:
            return
        if not _eligible(actor, task.view):
            raise reject(
                "NotAuthorized",
                f"您不具备“{task.spec.title}”环节的办理角色 ({task.view.candidate_role})",
            )


def _handler_key(view: TaskView) -> str:
    return f"{view.candidate_role}@{view.org_unit_id}"


def _eligible(actor: Actor, view: TaskView) -> bool:
    """Holds the step's role in an org unit at or above the task's unit."""
    return view.candidate_role in actor.roles and actor.within(view.org_path)


def _supervises(actor: Actor, view: TaskView) -> bool:
    """A manager/admin of the subtree, or staff of a unit above the task's unit."""
    if not actor.within(view.org_path):
        return False
    if SUPERVISOR_ROLES.intersection(actor.roles):
        return True
    return actor.org_path != view.org_path and any(
        r.endswith("_staff") for r in actor.roles
    )


async def _wait(done: Any, within: timedelta) -> bool:
    """Wait for ``done`` up to ``within``; False when the time ran out first."""
    if within <= timedelta(0):
        return bool(done())
    try:
        await workflow.wait_condition(done, timeout=within)
        return True
    except TimeoutError:
        return False
