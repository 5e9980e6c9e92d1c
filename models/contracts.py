"""Typed contracts shared by workflows, activities and the API.

Pydantic models travel through Temporal with ``pydantic_data_converter``. This module
must stay importable inside the workflow sandbox: stdlib and pydantic only, no I/O.
New fields always get defaults, so histories recorded before them still replay.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

# The time zone of every date a clerk or veteran reads (deadlines, pay dates, windows).
SHANGHAI = ZoneInfo("Asia/Shanghai")

TASK_QUEUE = "vetflow"

# Custom search attributes (registered by `vetflow dev`, compose and the tests), so that
# `temporal workflow list --query 'VetflowProcess="return_home"'` filters cases too.
SA_PROCESS = "VetflowProcess"
SA_ORG_UNIT = "VetflowOrgUnit"
SA_STATUS = "VetflowStatus"
SA_VETERAN = "VetflowVeteran"
SEARCH_ATTRIBUTES = (SA_PROCESS, SA_ORG_UNIT, SA_STATUS, SA_VETERAN)

# Roles that may act on behalf of a supervisor (reassign, take over).
SUPERVISOR_ROLES = frozenset({"manager", "admin"})


class Actor(BaseModel):
    """The authenticated staff member behind a message (resolved by the API)."""

    username: str
    roles: list[str] = Field(default_factory=list)
    org_unit_id: int = 0
    org_path: str = "/"
    absent: bool = False

    def within(self, path: str) -> bool:
        """True when ``path`` lies in this actor's organisation subtree."""
        return path.startswith(self.org_path)

    def eligible(self, candidate_role: str, org_path: str) -> bool:
        """Holds the step's role in an org unit at or above the task's unit. One rule
        for the workflow's validators and the API's checks before an Update."""
        return candidate_role in self.roles and self.within(org_path)

    def supervises(self, org_path: str) -> bool:
        """A manager/admin of the subtree, or staff of a unit above the task's unit."""
        if not self.within(org_path):
            return False
        if SUPERVISOR_ROLES.intersection(self.roles):
            return True
        return self.org_path != org_path and any(
            r.endswith("_staff") for r in self.roles
        )


# --- deadline policy -------------------------------------------------------------


class EscalationRung(BaseModel):
    """One rung of a step's escalation ladder: how long after the due time, and who
    hears of it. ``after_working_days`` counts Chinese working days; ``after`` is an
    exact span (demo and test profiles).

    ``notify``: ``supervisor`` (the managers of the first unit above with managers, or
    that unit's staff), ``unit_above`` (the same one level further up), or
    ``county_leader`` (the managers of the county centre).
    """

    after_working_days: int | None = None
    after: timedelta | None = None
    notify: str = "supervisor"


class TaskPolicy(BaseModel):
    """When a step is due. Exactly one of the three measures is normally set.

    ``working_days`` counts Chinese working days (statutory holidays and 调休 weekends);
    ``calendar_days`` counts plain days (信访 deadlines); ``duration`` is an exact span
    (demo and test profiles). ``remind_before`` is how long before the due time the
    assignee gets a reminder.
    """

    working_days: int | None = None
    calendar_days: int | None = None
    duration: timedelta | None = None
    remind_before: timedelta | None = None
    source: str = ""  # clause or local commitment the deadline comes from
    # An absolute due time set by the process (a campaign window's end, a pay date),
    # taking precedence over the three measures.
    due_at: datetime | None = None
    # Who is told, and when, once the task is overdue (003 §7.9). Empty: one rung at
    # the due time to the supervisor (the behaviour of cases started before ladders).
    escalation: list[EscalationRung] = Field(default_factory=list)

    def ladder(self) -> list[EscalationRung]:
        return self.escalation or [EscalationRung()]

    def describe(self) -> str:
        """The time limit as a veteran reads it in a notice (003 §7.6 c)."""
        if self.due_at is not None:
            return self.due_at.astimezone(SHANGHAI).strftime("%Y年%m月%d日%H:%M前")
        if self.working_days is not None:
            return f"{self.working_days}个工作日"
        if self.calendar_days is not None:
            return f"{self.calendar_days}日"
        if self.duration is not None:
            minutes = int(self.duration.total_seconds() // 60)
            return f"{minutes}分钟" if minutes < 120 else f"{minutes // 60}小时"
        return "承诺时限"


class ProcessPolicy(BaseModel):
    """Deadline policy of one process: a TaskPolicy per step key."""

    name: str = "standard"
    steps: dict[str, TaskPolicy] = Field(default_factory=dict)
    default: TaskPolicy = Field(default_factory=TaskPolicy)
    # Delivery of one notice: this many attempts (backing off up to the interval),
    # then a notice_failed work item for a clerk.
    notice_attempts: int = 8
    notice_max_interval: timedelta = timedelta(minutes=10)
    # Named spans a process waits on besides task deadlines (e.g. the annual review's
    # "party_opinion_wait", "link_ttl", "window" in test profiles), and offsets
    # before a window's end at which reminders go out.
    timers: dict[str, timedelta] = Field(default_factory=dict)
    reminder_offsets: list[timedelta] = Field(default_factory=list)
    # Named counts a process schedules by (e.g. the startup loan's
    # "followup_every_months", "servicing_rollover").
    counts: dict[str, int] = Field(default_factory=dict)

    def for_step(self, step: str) -> TaskPolicy:
        return self.steps.get(step, self.default)


# --- cases -----------------------------------------------------------------------


class StartCaseInput(BaseModel):
    """Start of any process: which veteran, who started it, the start form data."""

    case_id: str
    process: str
    veteran_id: int
    started_by: str
    data: dict[str, Any] = Field(default_factory=dict)
    policy: ProcessPolicy = Field(default_factory=ProcessPolicy)
    # The process definition version this case runs to its end. Histories recorded
    # before versions existed carry none and are version 1.
    spec_version: int = 1
    # A case with no veteran (``veteran_id`` 0) is about this org unit instead.
    org_unit_id: int | None = None
    # The campaign that opened the case (e.g. "annual_review_campaign-2027").
    campaign_id: str | None = None


class OrgChain(BaseModel):
    """The service units responsible for a veteran, by level (county/township/village)."""

    units: dict[str, int] = Field(default_factory=dict)
    paths: dict[str, str] = Field(default_factory=dict)


class RegisterCaseInput(BaseModel):
    case_id: str
    workflow_id: str
    run_id: str = ""
    process: str
    title: str
    veteran_id: int
    started_by: str
    started_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)
    spec_version: int = 1
    org_unit_id: int | None = None
    campaign_id: str | None = None


class RegisterCaseResult(BaseModel):
    veteran_name: str
    party_member: bool
    category: str
    org_unit_id: int
    org_path: str
    chain: OrgChain


# The engine's projection writes on a clerk's path run as local activities (one
# activity type, ``project``), for cases started after the patch LOCAL_PROJECTION of
# workflows/human_task.py.
PROJECT = "project"


class ProjectionCall(BaseModel):
    """A projection write run as a local activity: the activity it stands for (by name,
    e.g. ``open_task``) and that activity's input."""

    activity: str
    input: Any


class ProjectionRecord(BaseModel):
    """What a local projection write returns, so that the history's marker records
    the write as a regular activity's events do: its input and its result
    (``vetflow projection rebuild`` applies it again from there)."""

    activity: str
    input: Any
    result: Any = None


# Engine 0.10: the projection writes a case asks for in one activation, as one local
# activity that runs them in order (workflows/human_task.py, ENGINE_0_10).
PROJECT_ALL = "project_all"


class ProjectionCalls(BaseModel):
    calls: list[ProjectionCall]


class ProjectionRecords(BaseModel):
    """The records of a ``project_all``, one per call, in the calls' order."""

    records: list[ProjectionRecord]


class CaseStatusInput(BaseModel):
    case_id: str
    status: str
    closed_at: datetime | None = None
    actor: str = "system"
    # The case's n-th status change: a status reached again (a second correction
    # round) is audited again. 0: written before changes were counted.
    seq: int = 0


class CaseState(BaseModel):
    """What `get_state` answers: the live status of a case."""

    case_id: str
    process: str
    status: str
    open_tasks: list[str] = Field(default_factory=list)
    completed_steps: list[str] = Field(default_factory=list)
    rounds: dict[str, int] = Field(default_factory=dict)
    spec_version: int = 1
    open_incidents: list[str] = Field(default_factory=list)


# --- human tasks -----------------------------------------------------------------


class TaskAnnouncement(BaseModel):
    """The notice that tells a task's first holder it is theirs, queued by the task's
    opening in the same transaction as its row (engine 0.9): ``template``
    (``task_assigned``, or ``review_returned`` with the reviewer's ``reasons``) and
    the delivery terms of ``DeliverNoticeInput``."""

    template: str = "task_assigned"
    reasons: list[str] = Field(default_factory=list)
    policy: TaskPolicy = Field(default_factory=TaskPolicy)  # of the notice_failed item
    attempts: int = 8
    max_interval: timedelta = timedelta(minutes=10)


class OpenTaskInput(BaseModel):
    task_id: str
    case_id: str
    workflow_id: str
    process: str
    step: str
    title: str
    regulation: str
    candidate_role: str
    org_unit_id: int
    outcomes: list[str]
    form_schema: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    round: int = 1
    created_at: datetime
    policy: TaskPolicy = Field(default_factory=TaskPolicy)
    preferred_assignee: str | None = None
    spec_version: int = 1
    seq: int = 0  # projection sequence of this write (0: written before sequences)
    # Accounts recused from the case (回避): never routed the task as B角.
    excluded: list[str] = Field(default_factory=list)
    # Engine 0.9: tell the task's first holder in the same write (None: the workflow
    # tells them itself, as engines before it did).
    announce: TaskAnnouncement | None = None


class OpenTaskResult(BaseModel):
    task_id: str
    assignee: str | None
    due_at: datetime | None
    remind_at: datetime | None
    org_path: str = "/"
    # When each rung of the escalation ladder falls due (working days resolved).
    escalate_at: list[datetime] = Field(default_factory=list)
    # The account the opening's announcement was queued for (engine 0.9), if any.
    announced: str | None = None


class CompleteTaskInput(BaseModel):
    """A clerk finishes a step: the chosen outcome, the form data and a comment."""

    task_id: str
    actor: Actor
    outcome: str
    data: dict[str, Any] = Field(default_factory=dict)
    comment: str = ""


class ClaimTaskInput(BaseModel):
    task_id: str
    actor: Actor
    force: bool = False  # take over a task a colleague holds (confirmed by the clerk)


class ReassignTaskInput(BaseModel):
    task_id: str
    actor: Actor
    target: Actor
    reason: str = ""


class TaskResult(BaseModel):
    task_id: str
    step: str
    outcome: str
    data: dict[str, Any] = Field(default_factory=dict)
    comment: str = ""
    completed_by: str
    completed_at: datetime


class TaskView(BaseModel):
    """The workflow's own view of one task (answer of claim/unclaim/reassign)."""

    task_id: str
    step: str
    status: str
    assignee: str | None = None
    org_unit_id: int = 0
    org_path: str = "/"
    candidate_role: str = ""
    outcomes: list[str] = Field(default_factory=list)
    due_at: datetime | None = None
    overdue: bool = False


class AssignTaskInput(BaseModel):
    """Projection write for claim / unclaim / reassign / backup routing."""

    task_id: str
    case_id: str
    assignee: str | None
    actor: str
    action: str
    reason: str = ""
    at: datetime
    seq: int = 0


class CloseTaskInput(BaseModel):
    task_id: str
    case_id: str
    status: str  # completed | cancelled | withdrawn
    result: TaskResult | None = None
    seq: int = 0
    at: datetime | None = None  # when a task closed without a result (withdrawn)


class EscalateTaskInput(BaseModel):
    task_id: str
    case_id: str
    assignee: str | None
    candidate_role: str
    org_unit_id: int
    at: datetime
    seq: int = 0
    rung: int = 1  # 1-based rung of the ladder
    notify: str = "supervisor"
    # Accounts recused from the case (回避): neither routed the task nor told of it.
    excluded: list[str] = Field(default_factory=list)


class EscalateTaskResult(BaseModel):
    """Supervisors to notify and, if the assignee is absent, the backup (B角) now holding it.

    ``stale``: the row had already moved on (completed, or a newer write), so nothing
    was changed and nobody is to be told.
    """

    supervisors: list[str] = Field(default_factory=list)
    new_assignee: str | None = None
    stale: bool = False


class TaskRecipientsInput(BaseModel):
    """Who to remind of an open task: its holder, or else its candidate group."""

    task_id: str
    assignee: str | None
    candidate_role: str
    org_unit_id: int
    # Accounts recused from the case (回避): never reminded of its tasks.
    excluded: list[str] = Field(default_factory=list)


class RecomputeDueInput(BaseModel):
    """Recompute an open task's due times after the holiday table changed."""

    task_id: str
    case_id: str
    created_at: datetime
    policy: TaskPolicy
    seq: int = 0
    # The process moved the deadline itself (an extension): a due time in the future
    # lifts the overdue mark.
    moved: bool = False
    at: datetime | None = None


class RecomputeDueResult(BaseModel):
    due_at: datetime | None
    remind_at: datetime | None
    escalate_at: list[datetime] = Field(default_factory=list)
    changed: bool = False


class CalendarChanged(BaseModel):
    """Signal: the admin changed the holiday table (days added, removed or flipped)."""

    days: list[str] = Field(default_factory=list)  # ISO dates
    actor: str = "system"


# --- incidents -------------------------------------------------------------------


class OpenIncidentInput(BaseModel):
    incident_id: str
    case_id: str
    workflow_id: str
    process: str
    step: str
    activity: str
    error_type: str
    message: str
    org_unit_id: int | None = None
    started_by: str = ""
    at: datetime


class ResolveIncidentInput(BaseModel):
    incident_id: str
    retried_by: str
    at: datetime


class RetryIncidentInput(BaseModel):
    """A manager or admin fixed the cause of an incident and asks the case to retry."""

    incident_id: str
    actor: Actor


# --- notifications ---------------------------------------------------------------


class NoticeInput(BaseModel):
    """One notice event. ``key`` is unique per event: a retry never sends it twice."""

    key: str
    case_id: str | None = None
    task_id: str | None = None
    kind: str  # correction_request | reminder | overdue | backup_routed | summary | ...
    recipient_type: str  # veteran | staff
    recipient: str  # username, or the veteran id as text
    template: str  # notices/<template>.txt (first line = subject)
    context: dict[str, Any] = Field(default_factory=dict)


def task_notice(
    *,
    task_id: str,
    case_id: str,
    title: str,
    due_at: datetime | None,
    kind: str,
    username: str,
    **extra: Any,
) -> NoticeInput:
    """A notice to a clerk about one task (assigned, returned, reminder, overdue, B角
    routed): keyed by task, kind and recipient (``key`` in ``extra``: a suffix, for a
    kind sent more than once, e.g. each escalation rung)."""
    suffix = extra.pop("key", None)
    key = f"{task_id}:{kind}:{username}"
    return NoticeInput(
        key=f"{key}:{suffix}" if suffix else key,
        case_id=case_id,
        task_id=task_id,
        kind=kind,
        recipient_type="staff",
        recipient=username,
        template=kind,
        context={
            "title": title,
            "case_id": case_id,
            "due_at": due_at.isoformat() if due_at else "",
            **extra,
        },
    )


class NoticeResult(BaseModel):
    key: str
    status: str  # sent | skipped | failed
    channel: str
    duplicate: bool = False


class NoticeFailedInput(BaseModel):
    """Mark an outbox row failed for good (after bounded retries or a permanent error)."""

    key: str
    error_type: str
    message: str


class DeliverNoticeInput(BaseModel):
    """One notice's delivery: the input of ``DeliverNoticeWorkflow`` (a case's child, on
    engines before NOTICE_OUTBOX) and of the ``queue_notice`` outbox write (the policy
    travels with the row to the dispatcher). ``failed``: the dispatcher gave up on it
    (permanent refusal or attempts used up), so the workflow goes straight to the
    ``notice_failed`` work item."""

    notice: NoticeInput
    policy: TaskPolicy = Field(default_factory=TaskPolicy)  # of the notice_failed item
    attempts: int = 8
    max_interval: timedelta = timedelta(minutes=10)
    failed: NoticeFailedInput | None = None


class NoticeResolution(BaseModel):
    """How a clerk settled a failed notice: resent to a corrected address, or the person
    was informed another way (recorded, with how)."""

    key: str
    outcome: str  # resend | informed_otherwise
    address: str = ""
    note: str = ""
    actor: str


# --- history archive -------------------------------------------------------------


class ArchiveHistoryInput(BaseModel):
    case_id: str
    workflow_id: str
    run_id: str = ""


class SkipTaskInput(BaseModel):
    """A step that does not apply to this case, recorded with its reason (e.g. 001 第七条
    party transfer for a veteran who is not a party or league member)."""

    task: OpenTaskInput
    reason: str


# --- campaigns -------------------------------------------------------------------


class CampaignInput(BaseModel):
    """A campaign that opens one case per veteran of a category (the annual review of
    001 第九条). ``cursor``/``opened`` carry the fan-out across continue-as-new."""

    campaign_id: str
    process: str = "annual_review"
    year: int
    opened_by: str = "system"
    case_id_prefix: str = ""
    policy: ProcessPolicy = Field(default_factory=ProcessPolicy)
    window_end: datetime | None = None  # set on the first run
    opened_at: datetime | None = None
    cursor: int = 0  # the highest veteran id handled so far
    opened: int = 0  # cases opened so far
    batch_size: int = 200


class OpenCampaignInput(BaseModel):
    """What the yearly schedule starts: open the campaign of the current year (in
    Asia/Shanghai) unless ``year`` names one; a campaign already open is left alone."""

    process: str = "annual_review"
    year: int | None = None
    opened_by: str = "schedule"
    case_id_prefix: str = ""
    policy: ProcessPolicy = Field(default_factory=ProcessPolicy)


class CampaignProgress(BaseModel):
    campaign_id: str
    year: int
    status: str  # open | closed
    opened: int
    cursor: int
    window_end: datetime | None = None


class CampaignRecordInput(BaseModel):
    """Projection write of a campaign's row (idempotent upsert)."""

    campaign_id: str
    process: str
    year: int
    status: str
    opened_by: str
    opened_at: datetime
    window_end: datetime
    cases_opened: int
    last_veteran_id: int


class CampaignPageInput(BaseModel):
    """The next veterans of ``category`` after ``after_id``, in id order."""

    category: str
    after_id: int
    limit: int


class CampaignMember(BaseModel):
    veteran_id: int
    org_path: str


class LedgerInput(BaseModel):
    """A line of the annual review 台账 (001 第八条): written once per veteran and year."""

    veteran_id: int
    year: int
    result: str  # passed | non_submission
    case_id: str
    rounds: int = 1
    recorded_by: str = ""
    at: datetime


class IssueLinkInput(BaseModel):
    """Sign the veteran's self-service link to one ``submit_report`` round."""

    case_id: str
    task_id: str
    round: int
    veteran_id: int
    expires_at: datetime  # aware; the link is refused from then on


# --- monthly pay -------------------------------------------------------------------


class OpenMonthlyPayInput(BaseModel):
    """What the monthly schedule starts: open the month's payroll case of every
    county (the current month in Asia/Shanghai unless ``year``/``month`` name one);
    a case already open, or closed, is left alone."""

    year: int | None = None
    month: int | None = None
    case_id_prefix: str = ""
    policy: ProcessPolicy = Field(default_factory=ProcessPolicy)
    opened_by: str = "schedule"


class MonthlyPayOpened(BaseModel):
    """What the opener did: the cases it started and the ones that existed already."""

    year: int
    month: int
    pay_date: str  # ISO date
    opened: list[str] = Field(default_factory=list)
    already_open: list[str] = Field(default_factory=list)


class PayDatesInput(BaseModel):
    year: int
    month: int


class PayDates(BaseModel):
    """A month's pay date (the 10th or the working day before it, 000 §6.4.2) and the
    deadlines before it, with the calendar source that decided it."""

    pay_date: str  # ISO date
    prepare_by: datetime
    approve_by: datetime
    pay_by: datetime
    moved: bool = False
    reason: str = ""
    source: str = "chinese_calendar"  # admin | chinese_calendar | weekends_only
    warning: str | None = None


class PayrollCountiesInput(BaseModel):
    """The counties whose subtree holds veterans of ``category``, each with its case id
    of the month and whether that case exists already."""

    category: str
    year: int
    month: int
    case_id_prefix: str = ""


class PayrollCounty(BaseModel):
    org_unit_id: int
    name: str
    org_path: str
    case_id: str
    case_exists: bool = False


class PayrollRosterInput(BaseModel):
    """The veterans of ``category`` in a county's subtree, as of the payroll's year."""

    org_unit_id: int
    category: str
    year: int


class PayrollEntry(BaseModel):
    """One line of the month's list, with what helps decide whether to hold it."""

    veteran_id: int
    name: str
    id_number_masked: str
    station: str  # the service station (org unit) the veteran belongs to
    review_state: str = "none"  # passed | non_submission | <open review status> | none
    review_label: str = "未开展"
    review_case_id: str | None = None


class PayrollRoster(BaseModel):
    veterans: list[PayrollEntry] = Field(default_factory=list)
