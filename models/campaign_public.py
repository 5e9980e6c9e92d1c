"""Request and response bodies of the campaign API (documented in OpenAPI)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CampaignOpen(BaseModel):
    """Open the annual registration review of ``year`` (001 第九条)."""

    year: int = Field(
        ge=2000,
        le=2100,
        description="The review year; this year, the next or the last (Asia/Shanghai)",
    )


class CampaignPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="The campaign's workflow id")
    process: str = Field(description="The process of its cases, e.g. `annual_review`")
    year: int
    status: str = Field(description="open | closed")
    opened_by: str = Field(description="Who opened it (`schedule` for the schedule)")
    opened_at: datetime | None = None
    window_end: datetime | None = Field(
        default=None, description="End of the registration window (31 March)"
    )
    cases_opened: int = Field(default=0, description="Cases opened so far, all units")


class CampaignFigures(BaseModel):
    """Cases of a campaign counted by where they stand; a closed case counts by its
    final outcome in the 台账 (passed / not_submitted_recorded)."""

    opened: int = Field(description="Cases opened")
    awaiting_submission: int = Field(description="待提交: not submitted yet")
    submitted: int = Field(description="已提交待审核")
    in_correction: int = Field(description="补正中")
    interview: int = Field(description="约谈中")
    passed: int = Field(description="审核通过 (running or recorded in the 台账)")
    overdue: int = Field(description="逾期未提交, a decision pending")
    not_submitted_recorded: int = Field(description="已记录未提交")
    other: int = Field(default=0, description="Closed without a 台账 line")
    avg_agency_days: float | None = Field(
        default=None, description="Average days a case lay with the agency"
    )
    avg_veteran_days: float | None = Field(
        default=None,
        description="Average days a case waited for the veteran (their report task open)",
    )


class CampaignUnitFigures(CampaignFigures):
    """The figures of the cases of one station (the case's org unit)."""

    org_unit_id: int
    org_unit_name: str
    org_path: str


class CampaignProgressPublic(BaseModel):
    """A campaign and its figures for the caller's subtree: totals and per unit."""

    campaign: CampaignPublic
    totals: CampaignFigures
    units: list[CampaignUnitFigures]


class CampaignSummary(BaseModel):
    campaign: CampaignPublic
    totals: CampaignFigures


class CampaignsPublic(BaseModel):
    data: list[CampaignSummary]
    count: int
