"""Contracts of the complaint closed loop shared by the workflow, its activities and the
API (models/processes/complaint.py has the steps and forms). Sandbox-safe: pydantic."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from models.contracts import Actor
from models.processes.complaint import PetitionRequest

RATE_PATH = "/rate/"
# Activity names (called by name from the workflows; registered in worker.py).
ISSUE_RATING_LINK = "issue_rating_link"
RECORD_COMPLAINT = "record_complaint"


class RatingLinkInput(BaseModel):
    """Issue (once) the rating link of a closed case (``step`` "") or of a completed
    step the veteran took part in. ``link_id`` is its business key: ``<case>:case`` or
    the task id."""

    link_id: str
    case_id: str
    task_id: str | None = None
    process: str
    step: str = ""
    step_title: str = ""
    org_unit_id: int
    org_path: str
    clerk: str = ""
    veteran_id: int
    issued_at: datetime
    expires_at: datetime


class RatingLinkIssued(BaseModel):
    """The link's full URL (a credential: never logged) and its expiry."""

    url: str
    expires_at: datetime


class ComplaintUpdate(BaseModel):
    """One write of the complaint projection (idempotent: the row is created from the
    opening fields once; later writes set only what they carry; a ledger line is
    appended once by its ``key``)."""

    case_id: str
    stage: str
    # Opening fields (the first write carries them).
    channel: str | None = None
    kind: str | None = None
    category: str | None = None
    org_unit_id: int | None = None
    received_on: date | None = None
    grade: str | None = None
    rating_id: int | None = None
    matter_key: str | None = None
    related_case_id: str | None = None
    # Later fields.
    reopens: int | None = None
    extended_days: int | None = None
    paused_seconds: int | None = None
    final: bool | None = None
    closed_at: datetime | None = None
    # 申诉成立: the rating does not count in the satisfaction figures.
    rating_counted: bool | None = None
    ledger_line: dict[str, Any] | None = None
    at: datetime


class PetitionRequestInput(BaseModel):
    """Staff record the petitioner's request for 复查 or 复核 (workflow Update)."""

    actor: Actor
    request: PetitionRequest


class PetitionRequestAccepted(BaseModel):
    case_id: str
    kind: str
    due_at: datetime | None = Field(
        default=None, description="When the opinion is due (30 days, 第三十五/三十六条)"
    )
