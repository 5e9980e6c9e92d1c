"""Response and request bodies of the case and task API (documented in OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    case_id: str
    process: str
    step: str
    title: str = Field(description="Chinese title of the step")
    regulation: str = Field(
        description="The clause the step comes from, e.g. `003 §6.2.2`"
    )
    candidate_role: str
    org_unit_id: int
    assignee: str | None
    status: str = Field(
        description="open | completed | skipped | withdrawn | cancelled"
    )
    overdue: bool
    round: int
    created_at: datetime
    due_at: datetime | None
    outcomes: list[str]
    form_schema: dict[str, Any]
    context: dict[str, Any] = Field(
        description="What the step needs to know, e.g. the requested materials"
    )
    outcome: str | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    comment: str | None = None
    completed_by: str | None = Field(
        default=None,
        description="The clerk's user name, or `veteran:<id>` when the veteran "
        "completed a step they hold through the self-service link",
    )
    completed_at: datetime | None = None
    holder: str = Field(
        default="agency",
        description="Who holds the step: `agency` (clerks) or `veteran` (the veteran "
        "reports it themselves, or a clerk of the step's role on their behalf)",
    )
    masked_fields: list[str] = Field(
        default_factory=list,
        description="Fields of `result` hidden from your role (sensitive, e.g. "
        "出入境): shown as `已隐藏(N条)`",
    )


class TasksPublic(BaseModel):
    data: list[TaskPublic]
    count: int = Field(
        description="Tasks matching the filters; with `count_limit`, at most that many"
    )
    count_capped: bool = Field(
        default=False,
        description="True when counting stopped at `count_limit`: more tasks match",
    )


class CaseCreate(BaseModel):
    process: str = Field(
        description="Process key from GET /api/processes, e.g. `return_home`"
    )
    veteran_id: int | None = Field(
        default=None,
        description="The veteran the case is about (required, except for a case about "
        "an org unit: `complaint`)",
    )
    org_unit_id: int | None = Field(
        default=None,
        description="`complaint` only (required there): the HANDLING unit, in your "
        "subtree (谁办理、谁负责)",
    )
    data: dict[str, Any] = Field(
        default_factory=dict, description="Start form (see the process's start_schema)"
    )


class CaseStarted(BaseModel):
    id: str
    workflow_id: str
    status: str
    process: str
    veteran_id: int | None = Field(
        default=None, description="None for a case about an org unit (a complaint)"
    )
    org_unit_id: int | None = Field(
        default=None, description="The handling unit of a complaint"
    )
    related_case_id: str | None = Field(
        default=None,
        description="A complaint: the same matter's earlier case, still open",
    )


class CasePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    workflow_id: str
    process: str
    title: str
    veteran_id: int | None = Field(
        description="None for a case about an org unit (a county's monthly payroll)"
    )
    org_unit_id: int
    campaign_id: str | None = None
    status: str
    started_by: str
    started_at: datetime
    closed_at: datetime | None
    data: dict[str, Any]


class NoticePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    recipient_type: str
    recipient: str
    channel: str
    subject: str
    status: str
    created_at: datetime
    sent_at: datetime | None


class CaseClock(BaseModel):
    """The case's open time split by who held it (a veteran-held step's open time
    counts for the veteran)."""

    agency_seconds: float
    veteran_seconds: float


class CaseDetail(CasePublic):
    veteran_name: str
    subject: str = Field(
        default="veteran",
        description="What the case is about: `veteran` or `org_unit` (no veteran)",
    )
    org_unit_name: str = Field(
        default="", description="The case's org unit (the subject of an org-unit case)"
    )
    clock: CaseClock | None = None
    open_steps: list[str]
    tasks: list[TaskPublic]
    notices: list[NoticePublic]


class CasesPublic(BaseModel):
    data: list[CasePublic]
    count: int


class TaskComplete(BaseModel):
    outcome: str = Field(description="One of the task's `outcomes`")
    data: dict[str, Any] = Field(
        default_factory=dict, description="The step form (see `form_schema`)"
    )
    comment: str = Field(default="", max_length=2000)


class TaskClaim(BaseModel):
    force: bool = Field(
        default=False,
        description="Take over a task a colleague holds (after confirming)",
    )


class TaskReassign(BaseModel):
    username: str
    reason: str = Field(
        min_length=1, max_length=500, description="Mandatory, kept in the audit trail"
    )


class ReplayResult(BaseModel):
    ok: bool
    event_count: int
    error: str | None = None
    source: str = Field(
        description="`temporal` (live history) or `archive` (app database)"
    )
    sha256: str | None = None


class IncidentPublic(BaseModel):
    """A permanent activity failure a case waits on until a manager or admin retries."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    case_id: str
    workflow_id: str
    process: str
    step: str = Field(description="The step the case waits at")
    activity: str = Field(description="The activity that failed")
    error_type: str
    message: str
    org_unit_id: int | None
    status: str = Field(description="open | resolved")
    opened_at: datetime
    retried_by: str | None = None
    resolved_at: datetime | None = None


class IncidentsPublic(BaseModel):
    data: list[IncidentPublic]
    count: int
