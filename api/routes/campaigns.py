"""Campaigns: the yearly annual registration review (001 第九条, 000 §6.3), opened by
the schedule on 1 January or by a manager by hand, and its progress per station.

Opening starts ``AnnualReviewCampaignWorkflow`` with the campaign's business key as its
workflow id, so Temporal itself refuses a second campaign of a year, even when two
requests (or a request and the schedule) race. The workflow writes the ``campaign`` row
and opens the cases; the API only reads them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.campaign_queries import campaign_figures, campaign_row, campaign_summaries
from api.deps import AuthUser, CurrentUser, EngineDep, SettingsDep, TemporalDep
from api.errors import field_error
from api.update_errors import call_temporal, rpc_timeout
from models.audit import add_audit_event
from models.campaign_public import (
    CampaignOpen,
    CampaignProgressPublic,
    CampaignPublic,
    CampaignsPublic,
)
from models.contracts import SUPERVISOR_ROLES, CampaignInput
from models.processes import policy_for
from models.processes.annual_review import (
    PROCESS_KEY,
    TZ,
    campaign_id,
    window_end,
)
from models.settings import Settings
from models.tables import Campaign

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"])

CAMPAIGN_WORKFLOW = "AnnualReviewCampaignWorkflow"
YEAR_SPAN = 1  # a campaign may be opened for this year, the last or the next


def year_problem(year: int, now: datetime) -> str | None:
    """Why ``year`` cannot be opened now, or None. The review covers the year just
    begun (January to March); a late or early opening is one year off at most."""
    current = now.astimezone(TZ).year
    if abs(year - current) > YEAR_SPAN:
        return (
            f"年度须为 {current - YEAR_SPAN} 至 {current + YEAR_SPAN} "
            f"(only the years around {current})"
        )
    return None


def _public(row: Campaign) -> CampaignPublic:
    return CampaignPublic.model_validate(row)


def _record_opened(engine: Engine, user: AuthUser, public: CampaignPublic) -> None:
    """``campaign_opened`` with the request (the workflow's own record of the row shares
    the dedupe key: one audit row whichever writes first)."""
    try:
        with Session(engine) as s:
            add_audit_event(
                s,
                actor=user.username,
                action="campaign_opened",
                entity_type="campaign",
                entity_id=public.id,
                after={"year": public.year, "opened_by": user.username},
                dedupe_key=f"campaign_opened:{public.id}",
                request_id=_request_id(),
            )
            s.commit()
    except IntegrityError:
        pass  # the workflow recorded it in the same instant


def _request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value is not None else None


async def _existing(
    engine: Engine, temporal: Client, cid: str, year: int
) -> CampaignPublic:
    """The campaign that exists already: its row, or (the workflow has not written it
    yet) what Temporal says of its workflow."""
    row = await run_in_threadpool(campaign_row, engine, cid)
    if row is not None:
        return _public(row)
    desc = await call_temporal(
        temporal.get_workflow_handle(cid).describe(rpc_timeout=rpc_timeout())
    )
    memo = await desc.memo()
    running = desc.status in (None, WorkflowExecutionStatus.RUNNING)
    return CampaignPublic(
        id=cid,
        process=PROCESS_KEY,
        year=year,
        status="open" if running else "closed",
        opened_by=str(memo.get("opened_by", "system")),
        opened_at=desc.start_time,
    )


async def open_annual_review(
    engine: Engine, temporal: Client, settings: Settings, user: AuthUser, year: int
) -> tuple[CampaignPublic, bool]:
    """Open the annual review of ``year`` (managers, admins; else 403): the campaign
    and True when this call started it, the existing one and False otherwise. 422: a
    year too far from now; 503: Temporal did not answer in time."""
    if not user.has_role(*SUPERVISOR_ROLES):
        raise HTTPException(403, detail="只有管理人员可以开启年度审核 (managers only)")
    now = datetime.now(UTC)
    problem = year_problem(year, now)
    if problem:
        raise field_error("year", problem)
    cid = campaign_id(year, settings.case_id_prefix)
    row = await run_in_threadpool(campaign_row, engine, cid)
    if row is not None:
        return _public(row), False
    policy = policy_for(PROCESS_KEY, settings.policy_profile)
    try:
        await call_temporal(
            temporal.start_workflow(
                CAMPAIGN_WORKFLOW,
                CampaignInput(
                    campaign_id=cid,
                    process=PROCESS_KEY,
                    year=year,
                    opened_by=user.username,
                    case_id_prefix=settings.case_id_prefix,
                    policy=policy,
                ),
                id=cid,
                task_queue=settings.task_queue,
                # One campaign per year, ever: not even a failed one is started again
                # by a click (an admin terminates and reopens it deliberately).
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                memo={"opened_by": user.username},
                rpc_timeout=rpc_timeout(),
            )
        )
    except WorkflowAlreadyStartedError:
        return await _existing(engine, temporal, cid, year), False
    public = CampaignPublic(
        id=cid,
        process=PROCESS_KEY,
        year=year,
        status="open",
        opened_by=user.username,
        opened_at=now,
        window_end=window_end(year, now, policy),
    )
    await run_in_threadpool(_record_opened, engine, user, public)
    return public, True


@router.post(
    "/annual-review",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CampaignPublic,
    summary="Open the year's annual registration review (managers, admins)",
    responses={
        200: {
            "model": CampaignPublic,
            "description": "The campaign of that year exists already (nothing started)",
        }
    },
)
async def open_annual_review_campaign(
    body: CampaignOpen,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> Any:
    """Open the annual registration review of `year` (001 第九条: January to March):
    the campaign opens one case per veteran of 逐月领取退役金退役军人, in the background.
    202 with the campaign when this call opened it (audited `campaign_opened`); 200
    with the same campaign when it was open already (by the schedule or anyone), never
    a second one. Other roles: 403; a year more than one off the current one (Asia/
    Shanghai): 422; Temporal not answering: 503 with `Retry-After`."""
    public, started = await open_annual_review(
        engine, temporal, settings, user, body.year
    )
    if started:
        return public
    return JSONResponse(public.model_dump(mode="json"), status_code=200)


@router.get(
    "",
    response_model=CampaignsPublic,
    summary="Campaigns, each with the totals of my subtree",
)
async def list_campaigns(
    engine: EngineDep, settings: SettingsDep, user: CurrentUser
) -> CampaignsPublic:
    """Every annual review campaign, newest year first, each with the figures of its
    cases in my organisation's subtree."""
    data = await run_in_threadpool(
        campaign_summaries,
        engine,
        settings.case_id_prefix,
        user.org_path,
        datetime.now(UTC),
    )
    return CampaignsPublic(data=data, count=len(data))


YearPath = Annotated[int, Path(ge=2000, le=2100, description="The review year")]


async def load_progress(
    engine: Engine, settings: Settings, user: AuthUser, year: int
) -> CampaignProgressPublic | None:
    """The campaign of ``year`` with my subtree's figures, or None when not opened."""
    cid = campaign_id(year, settings.case_id_prefix)
    row = await run_in_threadpool(campaign_row, engine, cid)
    if row is None:
        return None
    totals, units = await run_in_threadpool(
        campaign_figures, engine, cid, user.org_path, datetime.now(UTC)
    )
    return CampaignProgressPublic(campaign=_public(row), totals=totals, units=units)


@router.get(
    "/annual-review/{year}",
    response_model=CampaignProgressPublic,
    summary="Progress of a year's annual review in my subtree",
)
async def get_annual_review_campaign(
    year: YearPath, engine: EngineDep, settings: SettingsDep, user: CurrentUser
) -> CampaignProgressPublic:
    """The campaign of `year` and its cases in my organisation's subtree: totals and
    one line per station (the case's org unit), each counting opened, awaiting
    submission (待提交), submitted, in correction, interview, passed, overdue and
    non-submission recorded, with the split clock (average days a case lay with the
    agency and waited for the veteran). A closed case counts by its 台账 outcome.
    Not opened (yet): 404."""
    progress = await load_progress(engine, settings, user, year)
    if progress is None:
        raise HTTPException(404, detail="该年度审核尚未开启 (campaign not opened)")
    return progress
