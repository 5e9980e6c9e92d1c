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

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    WorkflowAlreadyStartedError,
)
from temporalio.exceptions import TimeoutError as TimeoutFailure

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.cases import CaseActivities
    from activities.human_tasks import HumanTaskActivities
    from activities.incidents import IncidentActivities
    from activities.notifications import NotificationActivities
    from models.complaint_contracts import (
        ISSUE_RATING_LINK,
        RatingLinkInput,
        RatingLinkIssued,
    )
    from models.contracts import (
        PROJECT,
        PROJECT_ALL,
        SA_STATUS,
        SUPERVISOR_ROLES,
        Actor,
        ArchiveHistoryInput,
        AssignTaskInput,
        CalendarChanged,
        CaseState,
        CaseStatusInput,
        ClaimTaskInput,
        CloseTaskInput,
        CompleteTaskInput,
        DeliverNoticeInput,
        EscalateTaskInput,
        NoticeInput,
        OpenIncidentInput,
        OpenTaskInput,
        OpenTaskResult,
        ProjectionCall,
        ProjectionCalls,
        ProjectionRecord,
        ProjectionRecords,
        ReassignTaskInput,
        RecomputeDueInput,
        RegisterCaseInput,
        RegisterCaseResult,
        ResolveIncidentInput,
        RetryIncidentInput,
        SkipTaskInput,
        StartCaseInput,
        TaskAnnouncement,
        TaskPolicy,
        TaskRecipientsInput,
        TaskResult,
        TaskView,
        task_notice,
    )
    from models.process_spec import ProcessSpec, StepSpec

# Levels from the bottom up: a village-level step of a veteran who lives directly
# under a township station goes to that township station (002 §3.2 一中心两站).
LEVELS_UP = ("village", "township", "county", "city", "province")

# Engine behaviour that changes a case's commands is released behind this patch:
# cases started before it keep the old engine to their end (README, Releasing).
# Behind it: notices as child workflows off the critical path, "task assigned" and
# "review returned" notices, the escalation ladder, reminders to the candidate group,
# deadlines recomputed when the holiday table changes.
ENGINE_V2 = "engine-v2-notices-ladder"
# A holiday-table change that arrives while a task is being opened (its row already
# visible, its notice on the way) moves that task's deadline too; cases started before
# this patch watch for changes only from the moment they start waiting.
ENGINE_CALENDAR_FROM_OPENING = "engine-calendar-from-opening"
# The person served is offered a rating link (003 §9.1.3) when a case closes and when a
# step they took part in (``StepSpec.rated``) is completed; cases that reach those
# points before this patch was released offer none there.
RATING_LINKS = "rating-links"
# The projection writes on a clerk's path (the case row, a task's opening, claim,
# reassignment and closing, a case's status) run as local activities, in the workflow
# task that asks for them: no activity task round trip, their input and result in a
# marker. Cases started before this patch keep regular activities to their end.
# Escalation, deadline recomputation and recipients stay regular activities (rare,
# timer-driven, and a race test drives them), as do notices and a process's own work.
LOCAL_PROJECTION = "local-projection"
LOCAL_RETRY_THRESHOLD = timedelta(milliseconds=1)
# A notice is queued in the outbox by a local activity (``queue_notice``) and delivered
# by the worker's dispatcher (activities/notice_outbox.py), not by a child workflow per
# notice: a child cost the case three history events and a workflow task of its own,
# and the server a workflow of a dozen events. Decided at a case's first notice; cases
# that sent one before this patch keep their child workflows to their end. Behind it,
# only a notice that fails for good becomes a DeliverNoticeWorkflow (its work item).
NOTICE_OUTBOX = "notice-outbox"
# A case started on release 0.8.0 or later records this one patch at its start and takes
# every engine behaviour above (ENGINE_V2 through NOTICE_OUTBOX) from it, instead of one
# patch marker each: every marker also upserts the TemporalChangeVersion search attribute,
# a visibility write on the server for each of a case's five patches. Cases started before
# it decide each behaviour by its own patch, as before.
ENGINE_0_8 = "engine-0.8"
# Release 0.9.0: a task's opening queues the announcement to its first holder in the
# same local write (``OpenTaskInput.announce``), instead of a ``queue_notice`` write
# after it: one local activity and one marker less for every announced task, and the
# announcement goes to the holder the opening chose, never to a clerk whose claim came
# in while a retried opening ran. Recorded at a case's start with everything above
# (ENGINE_0_8's behaviours); a loan's or survivor's phase workflow decides it at its
# first task. Cases started before it keep announcing with their own notice write.
ENGINE_0_9 = "engine-0.9"
# Release 0.10.0: the projection writes a case asks for in one activation — a review's
# approval that skips a step and opens four, the one-stop desks opening together, a
# completion and the openings it leads to — go out as one local activity
# (``project_all``) that runs them in their order (each in its own transaction on
# 0.10.0's and 0.11.0's workers, in one since: activities/projection.py): one marker
# and one trip through the SDK instead of one per write. A write alone still goes out
# as ``project``. If a ``project_all`` fails for good (a write
# refused, or its bounded retries used up), each of its writes runs again on its own,
# so an incident names the step whose write failed and no other. Recorded at a case's
# start with everything above; a phase workflow decides it at its first write. Cases
# started before it write one local activity per write to their end.
ENGINE_0_10 = "engine-0.10"
# Release 0.11.0: a step recorded as not applicable (``skip_step``) no longer holds up
# the process until its row is written: the write joins the activation's batch and the
# process goes on at once, so the steps opened next (an approval's registration line,
# the one-stop desks after a skipped subsidy) go out in the same ``project_all`` instead
# of a second local activity after it. The write keeps its bounded retries and its
# incident; the case closes (``close_case``) only once every such write is done.
# Recorded at a case's start with everything above; a phase workflow decides it with
# ENGINE_0_10 at its first write. Cases started before it wait for each skip's write.
ENGINE_0_11 = "engine-0.11"
# Release 0.12.0: a case's status changes and its notices are written behind the process
# too, as skips are since 0.11.0: the write joins the activation's batch and the process
# goes on, so the step it opens next goes out in the same ``project_all`` (a complaint's
# or a loan's status beside its next step, a one-time notice beside the supplement
# tasks) instead of a second local activity after it. And a case's closed status joins
# the batch of the step that ends the case (the report to the province with the
# veteran's summary, a refusal with its notice) when nothing else is pending, so that
# step is answered after one local activity, not two, with its case closed in the same
# transaction. Each such write keeps its bounded retries and its incident; the closed
# status is written only with or after every write behind the process. Recorded at a
# case's start with everything above. A phase workflow (a loan's servicing, a
# survivor's allowance) ends without ``close_case``, so it keeps 0.11's writes. Cases
# started before it wait for each status and notice write, and close as before.
ENGINE_0_12 = "engine-0.12"
QUEUE_NOTICE = "queue_notice"
# The local projection writes, with the result type each returns (None: nothing).
LOCAL_WRITES: dict[str, type[Any] | None] = {
    "register_case": RegisterCaseResult,
    "set_case_status": None,
    "open_task": OpenTaskResult,
    "record_skipped_step": None,
    "assign_task": None,
    "close_task": None,
    QUEUE_NOTICE: None,
}
RATING_LINK_TTL = timedelta(days=30)

# How an outcome reads in the veteran's case summary (everything else is "done").
SUMMARY_STATUS = {"not_applicable": "not_applicable", "declined": "skipped"}
STATUS_LABELS = {"done": "已办结", "not_applicable": "不适用", "skipped": "未办理"}

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Bounded: about 15 minutes of retries, then an incident a person resolves.
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=20,
    non_retryable_error_types=["UnknownVeteran", "UnknownOrgUnit"],
)
# A local projection write: the bounded retries of a regular one, and every retry
# waits on a durable timer (a failing write ends the workflow task, so the case's
# other commands — an incident, a notice — go out at once).
LOCAL_WRITE_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": ACTIVITY_TIMEOUT,
    "retry_policy": ACTIVITY_RETRY,
    "local_retry_threshold": LOCAL_RETRY_THRESHOLD,
}
# The incident writer is the last resort: it retries until the database answers.
INCIDENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60)
)
STATUS_KEY = SearchAttributeKey.for_keyword(SA_STATUS)


class _WriteAlone(Exception):
    """A ``project_all`` failed for good: the write goes again on its own."""


# A write queued in the batch being collected, and where its record will arrive.
_Queued = tuple[ProjectionCall, "asyncio.Future[Any]"]


def _settle(
    done: asyncio.Future[Any], result: Any = None, error: BaseException | None = None
) -> None:
    """Hand a write's outcome to the coroutine awaiting it (unless it was cancelled)."""
    if done.done():
        return
    if isinstance(error, asyncio.CancelledError):
        done.cancel()
    elif error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)


def _result(name: str, record: ProjectionRecord) -> Any:
    """A local write's result, typed as the write it stands for returns it."""
    result_type = LOCAL_WRITES[name]
    if result_type is None or record.result is None:
        return None
    return result_type.model_validate(record.result)


def reject(kind: str, message: str, **details: Any) -> ApplicationError:
    """A validator rejection: ``kind`` tells the API which HTTP answer to give."""
    return ApplicationError(message, details, type=kind, non_retryable=True)


@dataclass
class OpenTask:
    """The workflow's own record of a human task (the source of truth)."""

    view: TaskView
    spec: StepSpec
    policy: TaskPolicy | None = None  # the deadline policy it was opened with
    created_at: datetime | None = None
    result: TaskResult | None = None
    seq: int = 0  # projection writes made for this task so far
    escalate_at: list[datetime] = field(default_factory=list)
    withdrawn: bool = False  # closed by the process without a result
    deadline_moves: int = 0  # times the process moved its due time

    @property
    def done(self) -> bool:
        return self.result is not None or self.withdrawn

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


@dataclass
class IncidentState:
    """A permanent activity failure the case waits on until a person retries it."""

    incident_id: str
    step: str
    activity: str
    org_path: str
    retried_by: str | None = None


class ProcessWorkflow:
    """Base of every process workflow: human tasks, deadlines, notices, case status."""

    # Every released version of the process definition; a case runs the one it
    # started with (``StartCaseInput.spec_version``).
    specs: ClassVar[dict[int, ProcessSpec]]

    def _setup(self, inp: StartCaseInput) -> None:
        self._input = inp
        if inp.spec_version not in self.specs:
            raise ApplicationError(
                f"{inp.process} has no definition version {inp.spec_version}",
                type="UnknownSpecVersion",
                non_retryable=True,
            )
        self.spec = self.specs[inp.spec_version]
        self._status = "running"
        self._tasks: dict[str, OpenTask] = {}
        self._rounds: dict[str, int] = {}
        self._completed_steps: list[str] = []
        # What became of each step, for the veteran's summary: the latest result of
        # every completed step, and the reason of every step recorded as skipped.
        self._results: dict[str, TaskResult] = {}
        self._skipped: dict[str, tuple[str, str]] = {}
        # 首办负责制 (003 §7.8): (role, org unit) → the clerk who first handled a step.
        self._first_handler: dict[str, str] = {}
        self._case: RegisterCaseResult | None = None
        self._incidents: dict[str, IncidentState] = {}
        self._calendar_changes = 0
        self._status_changes = 0
        self._v2 = False
        self._calendar_from_opening = False
        self._local = False
        self._outbox: bool | None = None  # decided at the first notice
        self._announce_on_open: bool | None = None  # decided at the first task
        self._rating_links: bool | None = None  # decided at the first rating point
        self._batching: bool | None = None  # decided at the first projection write
        self._behind = False  # engine 0.11: skips written behind (with _batching)
        # Engine 0.12 (cases, not phases): status changes and notices written behind
        # too; the closed status in the batch of the step that ends the case.
        self._status_behind = False
        self._behind_writes: set[asyncio.Task[Any]] = set()  # such writes not yet done
        self._behind_error: BaseException | None = None
        # Engine 0.10: the writes asked for in this activation, not yet gone out.
        self._pending_writes: list[_Queued] = []
        self._writer: asyncio.Task[None] | None = None  # the batch collecting now
        self._writing: set[asyncio.Task[None]] = set()  # batches sent, not yet back

    def _setup_phase(
        self,
        case: StartCaseInput,
        registered: RegisterCaseResult,
        rounds: dict[str, int],
        first_handler: dict[str, str],
    ) -> None:
        """A child workflow that works tasks of its parent's case (a loan's repayment
        phase, a survivor's allowance): the parent's input and registration, the step
        rounds and first handlers carried over, on the current engine (notices as
        child workflows, the ladder, the calendar followed from a task's opening)."""
        self._setup(case)
        self._case = registered
        self._v2 = True
        self._calendar_from_opening = True
        self._rounds = dict(rounds)
        self._first_handler = dict(first_handler)

    @property
    def spec_version(self) -> int:
        return self._input.spec_version

    # --- the process-facing API --------------------------------------------------

    async def register_case(self) -> RegisterCaseResult:
        # The first command of every case: decides which engine the case runs on.
        if workflow.patched(ENGINE_0_12):
            self._v2 = self._calendar_from_opening = self._local = True
            self._rating_links = self._outbox = self._announce_on_open = True
            self._batching = self._behind = self._status_behind = True
        elif workflow.patched(ENGINE_0_11):
            self._v2 = self._calendar_from_opening = self._local = True
            self._rating_links = self._outbox = self._announce_on_open = True
            self._batching = self._behind = True
        elif workflow.patched(ENGINE_0_10):
            self._v2 = self._calendar_from_opening = self._local = True
            self._rating_links = self._outbox = self._announce_on_open = True
            self._batching = True
        elif workflow.patched(ENGINE_0_9):
            self._v2 = self._calendar_from_opening = self._local = True
            self._rating_links = self._outbox = self._announce_on_open = True
            self._batching = False
        elif workflow.patched(ENGINE_0_8):
            self._v2 = self._calendar_from_opening = self._local = True
            self._rating_links = self._outbox = True
            self._announce_on_open = False
        else:
            self._v2 = workflow.patched(ENGINE_V2)
            self._calendar_from_opening = workflow.patched(ENGINE_CALENDAR_FROM_OPENING)
            self._local = workflow.patched(LOCAL_PROJECTION)
            self._announce_on_open = False
        info = workflow.info()
        self._case = await self._activity(
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
                spec_version=self.spec_version,
                org_unit_id=self._input.org_unit_id,
                campaign_id=self._input.campaign_id,
            ),
            step="register_case",
        )
        return self._case

    async def human_task(
        self,
        step_key: str,
        *,
        context: dict[str, Any] | None = None,
        notice: str = "task_assigned",
        due_at: datetime | None = None,
    ) -> TaskResult:
        """Open the step's task, wait for its completion (with reminder and escalation
        timers from the process policy) and return what the clerk submitted.

        ``notice`` is the template sent to the task's holder when it opens
        (``review_returned`` when a review sends the step back); ``due_at`` is an
        absolute due time (a window's end, a pay date) instead of the policy's span."""
        result = await self.human_task_until(
            step_key, None, context=context, notice=notice, due_at=due_at
        )
        if result is None:  # for the type checker: no stop condition, a result
            raise RuntimeError("task finished without a result")
        return result

    async def human_task_until(
        self,
        step_key: str,
        stop_when: Callable[[], bool] | None,
        *,
        context: dict[str, Any] | None = None,
        notice: str = "task_assigned",
        due_at: datetime | None = None,
    ) -> TaskResult | None:
        """Like :meth:`human_task`, but the process stops waiting once ``stop_when()``
        holds (an optional opinion the review no longer waits for, a report the
        veteran no longer owes): the task is then withdrawn (row status
        ``withdrawn``) and None returned."""
        task, opening = self._new_task(step_key, context or {}, due_at=due_at)
        reasons = (context or {}).get("returned_reasons")
        announced_by_opening = self._v2 and self._announces_on_open()
        if announced_by_opening:
            opening.announce = TaskAnnouncement(
                template=notice,
                reasons=reasons or [],
                policy=self._input.policy.for_step("notice_failed"),
                attempts=self._input.policy.notice_attempts,
                max_interval=self._input.policy.notice_max_interval,
            )
        calendar_seen = self._calendar_changes
        opened: OpenTaskResult = await self._activity(
            HumanTaskActivities.open_task, opening, step=step_key
        )
        task.view.due_at = opened.due_at
        task.escalate_at = list(opened.escalate_at)
        # The activity may route the task to a B角; a claim that arrived while it ran
        # (the row exists from the activity's write on) wins over the routing.
        if not task.done and task.view.assignee == opening.preferred_assignee:
            task.view.assignee = opened.assignee
        workflow.logger.info(
            "task opened",
            extra={
                "case_id": self._input.case_id,
                "task_id": task.view.task_id,
                "assignee": task.view.assignee,
            },
        )
        if self._v2:
            if not announced_by_opening or opened.assignee is None:
                # Without a holder only a returned review is announced: to the
                # task's candidates, found by their own activity.
                await self._announce(task, notice, reasons)
            result = await self._await_completion_v2(
                task,
                opened.remind_at,
                calendar_seen if self._calendar_from_opening else None,
                stop_when,
            )
            if result is not None and task.spec.rated:
                await self._offer_rating(task, result)
            return result
        return await self._await_completion(task, opened.remind_at)

    def move_deadline(self, step_key: str, due_at: datetime) -> None:
        """Give the open task of ``step_key`` a new due time (an extension granted
        by a person): its reminder and escalation ladder start again from it."""
        for task in self._tasks.values():
            if task.spec.key == step_key and not task.done and task.policy:
                task.policy = task.policy.model_copy(update={"due_at": due_at})
                task.deadline_moves += 1

    def open_task_of(self, step_key: str) -> TaskView | None:
        """The open task of ``step_key`` (its view), if any."""
        for task in self._tasks.values():
            if task.spec.key == step_key and not task.done:
                return task.view
        return None

    def result_of(self, step_key: str) -> TaskResult | None:
        """The latest result of ``step_key``, if it was completed."""
        return self._results.get(step_key)

    async def skip_step(
        self, step_key: str, reason: str, status: str = "not_applicable"
    ) -> None:
        """Record that a step does not apply to this case (or was not taken: status
        ``skipped``), and why."""
        self._skipped[step_key] = (status, reason)
        _, opening = self._new_task(step_key, {}, register=False)
        skip = SkipTaskInput(task=opening, reason=reason)
        name = HumanTaskActivities.record_skipped_step.__name__
        if self._runs_local(name) and self._batches_writes() and self._behind:
            self._write_behind(name, skip, step=step_key)  # engine 0.11
        else:
            await self._activity(
                HumanTaskActivities.record_skipped_step, skip, step=step_key
            )
        self._completed_steps.append(step_key)

    async def notify(self, notice: NoticeInput) -> None:
        """Send a notice. On the current engine it is queued in the outbox (a local
        write, NOTICE_OUTBOX) and the worker's dispatcher delivers it: bounded
        retries, then a ``notice_failed`` work item for a clerk. Cases that sent a
        notice before that patch hand each to its own child workflow
        (``DeliverNoticeWorkflow``); cases before ENGINE_V2 deliver inline."""
        if self._v2 and self._queues_notices():
            queued = DeliverNoticeInput(
                notice=notice,
                policy=self._input.policy.for_step("notice_failed"),
                attempts=self._input.policy.notice_attempts,
                max_interval=self._input.policy.notice_max_interval,
            )
            if self._writes_behind(QUEUE_NOTICE):  # engine 0.12
                self._write_behind(QUEUE_NOTICE, queued, step="notice")
            else:
                await self._activity(QUEUE_NOTICE, queued, step="notice")
            return
        if not self._v2:
            try:
                await workflow.execute_activity_method(
                    NotificationActivities.send_notice,
                    notice,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=1),
                        maximum_interval=timedelta(minutes=5),
                    ),
                )
            except ActivityError:
                # A permanent refusal: recorded on the outbox row; the case goes on.
                workflow.logger.warning("notice refused", extra={"key": notice.key})
            return
        try:
            await workflow.start_child_workflow(
                "DeliverNoticeWorkflow",
                DeliverNoticeInput(
                    notice=notice,
                    policy=self._input.policy.for_step("notice_failed"),
                    attempts=self._input.policy.notice_attempts,
                    max_interval=self._input.policy.notice_max_interval,
                ),
                id=f"notice-{notice.key}",
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            pass  # the same notice event is already on its way

    def _offers_ratings(self) -> bool:
        if self._rating_links is None:
            self._rating_links = workflow.patched(RATING_LINKS)
        return self._rating_links

    def _queues_notices(self) -> bool:
        if self._outbox is None:
            self._outbox = workflow.patched(NOTICE_OUTBOX)
        return self._outbox

    def _announces_on_open(self) -> bool:
        # A phase workflow decides at its first task; on engine 0.9 its notices go
        # through the outbox unless an earlier notice already decided otherwise.
        # Engine 0.10 includes 0.9: one decision (and one marker) for both.
        if self._announce_on_open is None:
            self._announce_on_open = self._batches_writes() or workflow.patched(
                ENGINE_0_9
            )
            if self._announce_on_open and self._outbox is None:
                self._outbox = True
        return self._announce_on_open

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
        change = self._status_change(status, closed=closed)
        name = CaseActivities.set_case_status.__name__
        if not closed and self._writes_behind(name):  # engine 0.12
            self._write_behind(name, change, step="case_status")
            return
        await self._activity(CaseActivities.set_case_status, change, step="case_status")

    def _status_change(self, status: str, *, closed: bool) -> CaseStatusInput:
        """Take ``status`` (the workflow's own state and search attribute); the write
        that records it in the projection."""
        self._status = status
        self._status_changes += 1
        workflow.upsert_search_attributes([STATUS_KEY.value_set(status)])
        return CaseStatusInput(
            case_id=self._input.case_id,
            status=status,
            closed_at=workflow.now() if closed else None,
            seq=self._status_changes,
        )

    async def close_case(self) -> CaseState:
        """Close the case, wait for in-flight handlers, and hand its history to the archive."""
        joined = self._writes_behind(CaseActivities.set_case_status.__name__) and (
            await self._close_in_batch()
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._after_behind_writes()  # engine 0.11: every skip's row written first
        if not joined:
            await self.set_status("closed", closed=True)
        if self.spec.rated_on_close:
            await self._offer_rating(None, None)
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

    async def _close_in_batch(self) -> bool:
        """Engine 0.12: while the writes of the step that ends the case are still being
        collected, the closed status joins their batch, last (one transaction with
        them), so the step is answered after one local activity with its case closed.
        Only when nothing else is pending: no other batch on its way, no incident
        open. If that batch fails, its writes go again alone and the closed status
        waits for every write behind the process, then goes alone (its own retries
        and incident). False when it did not join (close_case writes it as before)."""
        pending = self._writer is not None and self._writing == {self._writer}
        if not pending or any(i.retried_by is None for i in self._incidents.values()):
            return False
        name = CaseActivities.set_case_status.__name__
        change = self._status_change("closed", closed=True)
        call, done = self._queue_write(name, change)
        try:
            _result(name, await done)
        except _WriteAlone:
            await self._after_behind_writes()
            await self._activity(name, change, step="case_status")
        except (ApplicationError, TimeoutFailure):  # its write alone failed: incident
            await self._activity(name, change, step="case_status", queued=(call, done))
        return True

    async def _after_behind_writes(self) -> None:
        """Wait until every write behind the process is done; raise a fault that no
        incident took."""
        if self._behind_writes:
            await workflow.wait_condition(lambda: not self._behind_writes)
        if self._behind_error is not None:
            raise self._behind_error

    async def _offer_rating(
        self, task: OpenTask | None, result: TaskResult | None
    ) -> None:
        """好差评 (003 §9.1.3): a signed, expiring, single-use rating link sent to the
        veteran, for the step ``task`` just completed (its clerk and unit are rated)
        or, with None, for the closed case (rating its first handler's unit: 首办负责,
        003 §7.8). The link row is written once (its id is the business key), so a
        retried activity issues the same link. No link for a case without a veteran,
        nor for the veteran's own step."""
        if not self._input.veteran_id:
            return
        if task is not None and result is not None:
            served: tuple[OpenTask, TaskResult] | None = (task, result)
            if result.completed_by.startswith("veteran:"):
                served = None
        else:
            served = self._first_served()
        if served is None or not self._offers_ratings():
            return
        by, done = served
        ttl = self._input.policy.timers.get("rating_link_ttl", RATING_LINK_TTL)
        link_id = by.view.task_id if task is not None else f"{self._input.case_id}:case"
        issued = RatingLinkIssued.model_validate(
            await self._activity(
                ISSUE_RATING_LINK,
                RatingLinkInput(
                    link_id=link_id,
                    case_id=self._input.case_id,
                    task_id=by.view.task_id if task is not None else None,
                    process=self.spec.key,
                    step=by.spec.key if task is not None else "",
                    step_title=by.spec.title if task is not None else "",
                    org_unit_id=by.view.org_unit_id,
                    org_path=by.view.org_path,
                    clerk=done.completed_by,
                    veteran_id=self._input.veteran_id,
                    issued_at=workflow.now(),
                    expires_at=workflow.now() + ttl,
                ),
                step="rating",
            )
        )
        await self.notify_veteran(
            "rating_invite",
            "rating_invite",
            f"rate:{link_id}",
            {
                "link": issued.url,
                "expires_at": issued.expires_at.isoformat(),
                "step_title": by.spec.title if task is not None else "",
                "process_title": self.spec.title,
            },
        )

    def _first_served(self) -> tuple[OpenTask, TaskResult] | None:
        """The first step a clerk completed (its clerk is the case's first handler)."""
        for done in self._results.values():
            task = self._tasks.get(done.task_id)
            if task is not None and not done.completed_by.startswith("veteran:"):
                if done.completed_by != "system":
                    return task, done
        return None

    def step_summary(self) -> list[dict[str, Any]]:
        """What became of each step, in the process's order, told truthfully: done,
        not applicable or skipped, with the reason; a step done again after a return
        is one line that says how often it was returned, not one line per round."""
        lines: list[dict[str, Any]] = []
        for step in self.spec.steps:
            result = self._results.get(step.key)
            if result is not None:
                status = SUMMARY_STATUS.get(result.outcome, "done")
                reason = str(result.data.get("reason", "")) if status != "done" else ""
            elif step.key in self._skipped:
                status, reason = self._skipped[step.key]
            else:
                continue
            returns = self._rounds.get(step.key, 1) - 1
            lines.append(
                {
                    "step": step.key,
                    "title": step.title,
                    "status": status,
                    "label": STATUS_LABELS[status],
                    "reason": reason,
                    "returns": returns,
                }
            )
        return lines

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
            spec_version=self.spec_version,
            open_incidents=[
                i for i, s in self._incidents.items() if s.retried_by is None
            ],
        )

    @workflow.update
    async def complete_task(self, inp: CompleteTaskInput) -> TaskResult:
        """A clerk finishes a step with an outcome and the step's form.

        The validator has checked ``inp`` against the step's form; the handler records
        the data exactly as accepted and never validates it again, so a replay does
        not depend on today's form classes."""
        task = self._tasks[inp.task_id]
        result = TaskResult(
            task_id=inp.task_id,
            step=task.spec.key,
            outcome=inp.outcome,
            data=dict(inp.data),
            comment=inp.comment,
            completed_by=inp.actor.username,
            completed_at=workflow.now(),
        )
        # State changes before the first await, so a second completion is rejected.
        task.result = result
        task.view.status = "completed"
        if not self._is_veteran(inp.actor):
            task.view.assignee = inp.actor.username
            self._first_handler.setdefault(_handler_key(task.view), inp.actor.username)
        self._completed_steps.append(task.spec.key)
        self._results[task.spec.key] = result
        await self._activity(
            HumanTaskActivities.close_task,
            CloseTaskInput(
                task_id=inp.task_id,
                case_id=self._input.case_id,
                status="completed",
                result=result,
                seq=task.next_seq(),
            ),
            step=task.spec.key,
        )
        return result

    @complete_task.validator
    def validate_complete_task(self, inp: CompleteTaskInput) -> None:
        task = self._open_task(inp.task_id)
        self._check_may_work(task, inp.actor)
        self._check_four_eyes(task, inp.actor)
        if (
            task.view.assignee
            and task.view.assignee != inp.actor.username
            and not self._is_veteran(inp.actor)
        ):
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
        self._check_outcome(task, inp)

    def _check_outcome(self, task: OpenTask, inp: CompleteTaskInput) -> None:
        """A process's own rule on an outcome the step's form cannot know (e.g. a
        petition's handling extended once at most): reject to refuse it. None here."""

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
        task = self._tasks[inp.task_id]
        view = await self._assign(
            task, inp.target.username, inp.actor.username, "reassign", inp.reason
        )
        if self._v2 and not task.done and task.view.assignee == inp.target.username:
            await self.notify(
                self._task_notice(
                    task,
                    "task_assigned",
                    inp.target.username,
                    key=f"reassign{task.seq}",
                )
            )
        return view

    @reassign_task.validator
    def validate_reassign_task(self, inp: ReassignTaskInput) -> None:
        task = self._open_task(inp.task_id)
        if not _supervises(inp.actor, task.view):
            raise reject("NotAuthorized", "只有上级或管理员可以转派任务")
        if task.view.assignee == inp.target.username:
            # A repeated request (a retry after a 503 whose Update went through) must
            # not assign again and tell the holder twice.
            raise reject(
                "AlreadyAssigned",
                f"任务已转派给 {inp.target.username}",
                holder=inp.target.username,
            )
        if not inp.reason.strip():
            raise reject(
                "InvalidInput",
                "转派须说明原因",
                errors=[{"loc": ["reason"], "msg": "required"}],
            )
        if self._recused(inp.target.username):
            raise reject(
                "InvalidInput",
                f"{inp.target.username} 须回避本案 (recused)",
                errors=[{"loc": ["username"], "msg": "recused from this case"}],
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

    @workflow.update
    def retry_incident(self, inp: RetryIncidentInput) -> str:
        """A manager or admin fixed the cause of an incident: the case retries the
        failed activity (and opens a new incident if it fails again)."""
        self._incidents[inp.incident_id].retried_by = inp.actor.username
        return inp.incident_id

    @retry_incident.validator
    def validate_retry_incident(self, inp: RetryIncidentInput) -> None:
        incident = self._incidents.get(inp.incident_id)
        if incident is None:
            raise reject("IncidentNotFound", f"故障 {inp.incident_id} 不存在")
        if incident.retried_by is not None:
            raise reject("IncidentNotOpen", "该故障已重试", holder=incident.retried_by)
        if not SUPERVISOR_ROLES.intersection(inp.actor.roles) or not inp.actor.within(
            incident.org_path
        ):
            raise reject("NotAuthorized", "只有管理人员或系统管理员可以重试故障")

    @workflow.signal
    def calendar_changed(self, change: CalendarChanged) -> None:
        """The holiday table changed: open tasks recompute their due times."""
        self._calendar_changes += 1

    # --- internals ----------------------------------------------------------------

    async def run_activity(
        self, method: Callable[..., Any] | str, arg: Any, *, step: str
    ) -> Any:
        """An activity of the process itself (a ledger line, a self-service link),
        with the engine's bounded retries and incident on a permanent fault. A name
        (str) calls an activity registered under it."""
        return await self._activity(method, arg, step=step)

    async def _activity(
        self,
        method: Callable[..., Any] | str,
        arg: Any,
        *,
        step: str,
        queued: _Queued | None = None,
    ) -> Any:
        """Run a projection or lookup activity. Transient faults retry (bounded); a
        permanent fault, or retries used up, opens an incident and the case waits for
        a person to fix the cause and retry — it never fails or hangs unseen.
        ``queued``: a local write already queued (:meth:`_queue_write`), awaited
        first; a retry after its incident writes it again."""
        name = method if isinstance(method, str) else method.__name__
        while True:
            try:
                if queued is not None:
                    (call, done), queued = queued, None
                    return await self._written(name, call, done)
                if self._runs_local(name):
                    return await self._local_write(name, arg)
                if isinstance(method, str):
                    return await workflow.execute_activity(
                        method,
                        arg,
                        start_to_close_timeout=ACTIVITY_TIMEOUT,
                        retry_policy=ACTIVITY_RETRY,
                    )
                return await workflow.execute_activity_method(
                    method,
                    arg,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                )
            except ActivityError as err:
                await self._incident(step, name, err)
            except (ApplicationError, TimeoutFailure) as err:
                # A local activity's failure arrives as its cause, not wrapped.
                if not self._runs_local(name):
                    raise
                await self._incident(step, name, err)

    def _runs_local(self, name: str) -> bool:
        # The outbox write is local on every engine that queues notices.
        return name in LOCAL_WRITES and (self._local or name == QUEUE_NOTICE)

    def _batches_writes(self) -> bool:
        if self._batching is None:  # a phase workflow, at its first write
            if workflow.patched(ENGINE_0_11):
                self._batching = self._behind = True
            else:
                self._batching = workflow.patched(ENGINE_0_10)
        return self._batching

    def _writes_behind(self, name: str) -> bool:
        """Whether a status change or a notice (``name``) is written behind the
        process: engine 0.12's local, batched writes."""
        return self._runs_local(name) and self._batches_writes() and self._status_behind

    def _write_behind(self, name: str, arg: Any, *, step: str) -> None:
        """Queue a write now, in the order asked, and await it behind the process
        (its retries and incident included); close_case waits for it."""
        queued = self._queue_write(name, arg)
        behind = asyncio.create_task(
            self._activity(name, arg, step=step, queued=queued)
        )
        self._behind_writes.add(behind)
        behind.add_done_callback(self._behind_done)

    async def _local_write(self, name: str, arg: Any) -> Any:
        """A projection write as a local activity (at least once, like a regular one;
        the writes are idempotent), with the same bounded retries. On engine 0.10 it
        joins the other writes of this activation (:meth:`_write_pending`)."""
        if not self._batches_writes():
            call = ProjectionCall(activity=name, input=arg)
            return _result(name, await self._project(call))
        return await self._written(name, *self._queue_write(name, arg))

    def _behind_done(self, write: asyncio.Task[Any]) -> None:
        """A write behind the process (a skip; on engine 0.12 a status change or a
        notice) ended; a fault its incident loop did not take (a bug, not a refused
        write) is kept for close_case to raise, as the process would have raised it
        where it asked for the write."""
        self._behind_writes.discard(write)
        if not write.cancelled() and write.exception() is not None:
            self._behind_error = write.exception()
            workflow.logger.error(
                "a write behind the process failed",
                extra={"case_id": self._input.case_id},
            )

    def _queue_write(self, name: str, arg: Any) -> _Queued:
        """Add a write to the batch this activation collects (engine 0.10)."""
        call = ProjectionCall(activity=name, input=arg)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending_writes.append((call, done))
        if self._writer is None:  # none collecting: this write starts a batch
            self._writer = asyncio.create_task(self._write_pending())
            self._writing.add(self._writer)
            self._writer.add_done_callback(self._writing.discard)
        return call, done

    async def _written(
        self, name: str, call: ProjectionCall, done: asyncio.Future[Any]
    ) -> Any:
        """The result of a queued write: from its batch, or, when the batch failed
        for good, from the write run again alone."""
        try:
            record = await done
        except _WriteAlone:
            record = await self._project(call)
        return _result(name, record)

    async def _write_pending(self) -> None:
        """Once every coroutine this activation woke has asked for its writes, send
        them: one ``project``, or one ``project_all``; if that fails for good, each
        write goes again on its own (its coroutine raises its own incident)."""
        # Conditions are checked once nothing else is ready: the first wait lets the
        # coroutines this activation woke (a completion's process code) run, the
        # second the tasks they started (a gather's parallel steps).
        for _ in range(2):
            await workflow.wait_condition(lambda: True)
        batch, self._pending_writes = self._pending_writes, []
        self._writer = None  # a write from now on starts the next batch
        # Whatever a write's local activity raises reaches the coroutine that asked
        # for it, as it did when that coroutine ran the activity itself.
        if len(batch) == 1:
            ((call, done),) = batch
            try:
                _settle(done, await self._project(call))
            except BaseException as err:
                _settle(done, error=err)
            return
        try:
            records = await workflow.execute_local_activity(
                PROJECT_ALL,
                ProjectionCalls(calls=[call for call, _ in batch]),
                result_type=ProjectionRecords,
                **LOCAL_WRITE_OPTIONS,
            )
        except (ApplicationError, TimeoutFailure):
            for _, done in batch:
                _settle(done, error=_WriteAlone())
            return
        except BaseException as err:
            for _, done in batch:
                _settle(done, error=err)
            return
        for (_, done), record in zip(batch, records.records, strict=True):
            _settle(done, record)

    async def _project(self, call: ProjectionCall) -> ProjectionRecord:
        record: ProjectionRecord = await workflow.execute_local_activity(
            PROJECT, call, result_type=ProjectionRecord, **LOCAL_WRITE_OPTIONS
        )
        return record

    async def _incident(
        self, step: str, activity_name: str, err: ActivityError | FailureError
    ) -> None:
        cause = err.cause if isinstance(err, ActivityError) else err
        error_type = (
            (cause.type or "ApplicationError")
            if isinstance(cause, ApplicationError)
            else type(cause).__name__
        )
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        incident_id = (
            f"{workflow.info().workflow_id}.incident.{len(self._incidents) + 1}"
        )
        org_path = self._case.org_path if self._case else "/"
        incident = IncidentState(incident_id, step, activity_name, org_path)
        self._incidents[incident_id] = incident
        workflow.logger.error(
            "incident opened",
            extra={"case_id": self._input.case_id, "incident_id": incident_id},
        )
        opened = await workflow.execute_activity_method(
            IncidentActivities.open_incident,
            OpenIncidentInput(
                incident_id=incident_id,
                case_id=self._input.case_id,
                workflow_id=workflow.info().workflow_id,
                process=self.spec.key,
                step=step,
                activity=activity_name,
                error_type=error_type,
                message=message or str(err),
                org_unit_id=self._case.org_unit_id if self._case else None,
                started_by=self._input.started_by,
                at=workflow.now(),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=INCIDENT_RETRY,
        )
        incident.org_path = opened
        await workflow.wait_condition(lambda: incident.retried_by is not None)
        await workflow.execute_activity_method(
            IncidentActivities.resolve_incident,
            ResolveIncidentInput(
                incident_id=incident_id,
                retried_by=incident.retried_by or "",
                at=workflow.now(),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=INCIDENT_RETRY,
        )

    def _task_prefix(self) -> str:
        return self._input.case_id

    def _new_task(
        self,
        step_key: str,
        context: dict[str, Any],
        register: bool = True,
        due_at: datetime | None = None,
    ) -> tuple[OpenTask, OpenTaskInput]:
        spec = self.spec.step(step_key)
        n = self._rounds[step_key] = self._rounds.get(step_key, 0) + 1
        task_id = f"{self._task_prefix()}.{step_key}.{n}"
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
        policy = self._input.policy.for_step(step_key)
        if due_at is not None:
            policy = policy.model_copy(update={"due_at": due_at})
        task = OpenTask(view=view, spec=spec, policy=policy, created_at=workflow.now())
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
            policy=policy,
            preferred_assignee=preferred,
            spec_version=self.spec_version,
            excluded=self._recused_users(),
            seq=task.next_seq(),
        )
        return task, opening

    async def _await_completion(
        self, task: OpenTask, remind_at: datetime | None
    ) -> TaskResult:
        """The engine of cases started before ENGINE_V2: one reminder to the holder,
        one escalation at the due time."""
        if remind_at is not None and not task.done:
            if (
                not await wait_until(lambda: task.done, remind_at - workflow.now())
                and task.view.assignee
            ):
                await self.notify(
                    self._task_notice(task, "reminder", task.view.assignee)
                )
        due_at = task.view.due_at
        if due_at is not None and not task.done:
            if not await wait_until(lambda: task.done, due_at - workflow.now()):
                await self._escalate(task, rung=1, notify="supervisor")
        await workflow.wait_condition(lambda: task.done)
        if task.result is None:  # for the type checker: done means a result is set
            raise RuntimeError("task finished without a result")
        return task.result

    async def _await_completion_v2(
        self,
        task: OpenTask,
        remind_at: datetime | None,
        calendar_seen: int | None = None,
        stop_when: Callable[[], bool] | None = None,
    ) -> TaskResult | None:
        """Wait for the clerk; meanwhile remind once (the holder, or the candidate group
        while nobody holds it), climb the escalation ladder rung by rung, and follow
        the holiday table when an admin changes it (counting changes since the task's
        opening began: ``calendar_seen``) or the process moves the deadline. Stop
        (withdrawing the task) once ``stop_when()`` holds."""
        reminded = remind_at is None
        fired = 0
        seen_changes = (
            self._calendar_changes if calendar_seen is None else calendar_seen
        )
        seen_moves = task.deadline_moves

        def stopped() -> bool:
            return stop_when is not None and stop_when()

        while not task.done:
            pending = [] if reminded or remind_at is None else [remind_at]
            pending += task.escalate_at[fired : fired + 1]

            def changed(seen: int = seen_changes, moves: int = seen_moves) -> bool:
                return (
                    task.done
                    or self._calendar_changes != seen
                    or task.deadline_moves != moves
                    or stopped()
                )

            if not pending:
                await workflow.wait_condition(changed)
            else:
                await wait_until(changed, min(pending) - workflow.now())
            if task.done:
                break
            if stopped():
                await self._withdraw(task)
                return None
            if task.deadline_moves != seen_moves:
                seen_moves = task.deadline_moves
                remind_at = await self._recompute_due(task, remind_at, moved=True)
                reminded, fired = remind_at is None, 0
                continue
            if self._calendar_changes != seen_changes:
                seen_changes = self._calendar_changes
                remind_at = await self._recompute_due(task, remind_at)
                continue
            now = workflow.now()
            if not reminded and remind_at is not None and remind_at <= now:
                reminded = True
                await self._remind(task)
            elif fired < len(task.escalate_at) and task.escalate_at[fired] <= now:
                fired += 1
                ladder = task.policy.ladder() if task.policy else []
                notify = (
                    ladder[fired - 1].notify if fired <= len(ladder) else "supervisor"
                )
                await self._escalate(task, rung=fired, notify=notify)
        return task.result

    async def _withdraw(self, task: OpenTask) -> None:
        """Close an open task the process no longer waits for, without a result."""
        task.withdrawn = True
        task.view.status = "withdrawn"
        await self._activity(
            HumanTaskActivities.close_task,
            CloseTaskInput(
                task_id=task.view.task_id,
                case_id=self._input.case_id,
                status="withdrawn",
                seq=task.next_seq(),
                at=workflow.now(),
            ),
            step=task.spec.key,
        )

    async def _recompute_due(
        self, task: OpenTask, remind_at: datetime | None, moved: bool = False
    ) -> datetime | None:
        if task.created_at is None or task.policy is None:
            return remind_at
        result = await self._activity(
            HumanTaskActivities.recompute_due,
            RecomputeDueInput(
                task_id=task.view.task_id,
                case_id=self._input.case_id,
                created_at=task.created_at,
                policy=task.policy,
                seq=task.next_seq(),
                moved=moved,
                at=workflow.now(),
            ),
            step=task.spec.key,
        )
        if not result.changed:
            return remind_at
        workflow.logger.info(
            "due time recomputed",
            extra={"case_id": self._input.case_id, "task_id": task.view.task_id},
        )
        task.view.due_at = result.due_at
        # Rungs already passed stay passed; the rest move with the calendar.
        task.escalate_at = list(result.escalate_at)
        remind: datetime | None = result.remind_at
        return remind

    async def _recipients(self, task: OpenTask, holder: str | None) -> list[str]:
        """The holder (or their B角 when away), else the task's candidate group."""
        recipients: list[str] = await self._activity(
            HumanTaskActivities.task_recipients,
            TaskRecipientsInput(
                task_id=task.view.task_id,
                assignee=holder,
                candidate_role=task.view.candidate_role,
                org_unit_id=task.view.org_unit_id,
                excluded=self._recused_users(),
            ),
            step=task.spec.key,
        )
        return recipients

    async def _remind(self, task: OpenTask) -> None:
        for username in await self._recipients(task, task.view.assignee):
            await self.notify(self._task_notice(task, "reminder", username))

    async def _announce(
        self, task: OpenTask, template: str, reasons: list[str] | None
    ) -> None:
        """Tell the holder a task is theirs (or, for a returned step, its candidates)."""
        if task.done:
            return
        if task.view.assignee:
            recipients = [task.view.assignee]
        elif template == "review_returned":
            recipients = await self._recipients(task, None)
        else:
            return  # an unclaimed task waits in the unit's queue (待认领)
        for username in recipients:
            await self.notify(
                self._task_notice(task, template, username, reasons=reasons or [])
            )

    async def _escalate(self, task: OpenTask, *, rung: int, notify: str) -> None:
        """At the due time and at each later rung (003 §7.9): overdue mark, the rung's
        supervisors told, B角 takes over if the holder is absent (003 §7.7)."""
        task.view.overdue = True
        absent_user = task.view.assignee
        workflow.logger.warning(
            "task overdue",
            extra={
                "case_id": self._input.case_id,
                "task_id": task.view.task_id,
                "rung": rung,
            },
        )
        outcome = await self._activity(
            HumanTaskActivities.escalate_task,
            EscalateTaskInput(
                task_id=task.view.task_id,
                case_id=self._input.case_id,
                assignee=task.view.assignee,
                candidate_role=task.view.candidate_role,
                org_unit_id=task.view.org_unit_id,
                at=workflow.now(),
                seq=task.next_seq(),
                rung=rung,
                notify=notify,
                excluded=self._recused_users(),
            ),
            step=task.spec.key,
        )
        if self._v2 and (outcome.stale or task.done):
            return  # completed meanwhile: nobody is told of a task that is done
        if outcome.new_assignee and not task.done:
            task.view.assignee = outcome.new_assignee
            await self.notify(
                self._task_notice(
                    task, "backup_routed", outcome.new_assignee, absent_user=absent_user
                )
            )
        for supervisor in outcome.supervisors:
            extra: dict[str, Any] = {"assignee": task.view.assignee or "未认领"}
            if self._v2:
                extra.update(rung=rung, key=f"r{rung}")
            await self.notify(self._task_notice(task, "overdue", supervisor, **extra))

    def _task_notice(
        self, task: OpenTask, kind: str, username: str, **extra: Any
    ) -> NoticeInput:
        return task_notice(
            task_id=task.view.task_id,
            case_id=self._input.case_id,
            title=task.spec.title,
            due_at=task.view.due_at,
            kind=kind,
            username=username,
            **extra,
        )

    async def _assign(
        self, task: OpenTask, assignee: str | None, actor: str, action: str, reason: str
    ) -> TaskView:
        task.view.assignee = assignee
        await self._activity(
            HumanTaskActivities.assign_task,
            AssignTaskInput(
                task_id=task.view.task_id,
                case_id=self._input.case_id,
                assignee=assignee,
                actor=actor,
                action=action,
                reason=reason,
                at=workflow.now(),
                seq=task.next_seq(),
            ),
            step=task.spec.key,
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

    def _is_veteran(self, actor: Actor) -> bool:
        """The case's own veteran, acting through a self-service link."""
        return actor.username == f"veteran:{self._input.veteran_id}" and (
            "veteran" in actor.roles
        )

    def _check_four_eyes(self, task: OpenTask, actor: Actor) -> None:
        other = task.spec.four_eyes_with
        earlier = self._results.get(other) if other else None
        if earlier is not None and earlier.completed_by == actor.username:
            other_title = self.spec.step(other).title if other else ""
            raise reject(
                "FourEyes",
                f"“{other_title}”由您办理，“{task.spec.title}”须由另一人办理(双人复核)",
                holder=earlier.completed_by,
            )

    def _recused_users(self) -> list[str]:
        """Who may not work this case's steps (回避), nor be routed or reminded of them:
        nobody by default; the complaint case recuses the rated clerk and a reported
        person."""
        return []

    def _recused(self, username: str) -> bool:
        return username in self._recused_users()

    def _check_may_work(self, task: OpenTask, actor: Actor) -> None:
        if self._recused(actor.username):
            raise reject(
                "Recused", "您与本案有利害关系，须回避，不能办理本案环节 (recused)"
            )
        if "veteran" in actor.roles:
            # A veteran completes only a step the veteran holds, of their own case.
            if task.spec.holder == "veteran" and self._is_veteran(actor):
                return
            raise reject("NotAuthorized", "该链接不能办理此事项")
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
    return actor.eligible(view.candidate_role, view.org_path)


def _supervises(actor: Actor, view: TaskView) -> bool:
    """A manager/admin of the subtree, or staff of a unit above the task's unit."""
    return actor.supervises(view.org_path)


async def wait_until(done: Any, within: timedelta) -> bool:
    """Wait for ``done`` up to ``within``; False when the time ran out first."""
    if within <= timedelta(0):
        return bool(done())
    try:
        await workflow.wait_condition(done, timeout=within)
        return True
    except TimeoutError:
        return False
