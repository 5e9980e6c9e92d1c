"""Response bodies of the complaint API (GET /api/complaints/{case_id}, POST
/api/complaints/{case_id}/requests), documented in OpenAPI."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class LedgerLinePublic(BaseModel):
    """One line of the complaint's 台账 (003 §9.2.1, §7.4.2)."""

    at: datetime | None = None
    stage: str = ""
    text: str = ""


class RepresentativePublic(BaseModel):
    name: str
    phone: str = ""


class ComplaintPartyPublic(BaseModel):
    """Who complained, and whom a report names: masked (`masked` true: the name's first
    character, the phone's ends, the ID number's ends, no veteran or rated case)
    unless revealed to a reader who may see it (every reveal audited)."""

    masked: bool
    name: str
    phone: str = ""
    id_number: str = ""
    veteran_id: int | None = Field(
        default=None, description="The complainant's veteran record (revealed only)"
    )
    rated_case_id: str | None = Field(
        default=None,
        description="A rating's complaint: the rated case (names the rater; revealed "
        "only)",
    )
    representatives: list[RepresentativePublic] = Field(
        default_factory=list, description="A group visit's representatives (≤ 5)"
    )
    reported_person: str = Field(
        default="", description="检举控告: the account the report names"
    )


class ComplaintPublic(BaseModel):
    """A complaint case's projection and its party as the reader may see it."""

    case_id: str
    org_unit_id: int = Field(description="The handling unit")
    channel: str = Field(description="rating | window | petition")
    channel_label: str
    kind: str | None = Field(default=None, description="suggestion | report | claim")
    kind_label: str = ""
    category: str
    category_label: str
    stage: str
    stage_label: str
    received_on: date
    grade: str | None = None
    grade_label: str = ""
    reopens: int = Field(
        description="Rectifications reopened after an unsatisfied 回访"
    )
    extended_days: int = Field(description="The petition's one extension (第三十四条)")
    paused_seconds: int = Field(
        description="Time of hearings not counted in the 复核 clock (第三十六条)"
    )
    final: bool = Field(
        description="复核 done: the same matter from the same petitioner is not "
        "accepted again (第三十六条)"
    )
    related_case_id: str | None = Field(
        default=None, description="The same matter's earlier case"
    )
    opened_at: datetime
    closed_at: datetime | None = None
    ledger: list[LedgerLinePublic]
    party: ComplaintPartyPublic | None = Field(
        default=None, description="None when the case has no recorded party"
    )
    may_reveal: bool = Field(
        description="True when `?reveal=true` would show you the party in full"
    )


class PetitionRequestRecorded(BaseModel):
    """A 复查 / 复核 request the case accepted."""

    case_id: str
    kind: str = Field(description="review (复查) | recheck (复核)")
    due_at: datetime | None = None
