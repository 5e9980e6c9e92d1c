"""Complaints (issue 11): a complaint case's projection with its party (masked unless
revealed to a reader who may see it, every reveal audited), and the petitioner's
request for 复查 / 复核 recorded by staff (信访工作条例 第三十五、三十六条).

Registration is ``POST /api/cases`` with ``process`` ``complaint``
(api/complaint_register.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from starlette.concurrency import run_in_threadpool
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from api.audit import record_case_action
from api.case_queries import visible_case
from api.complaint_identity import read_complaint
from api.deps import AuthUser, CurrentUser, EngineDep, SettingsDep, TemporalDep
from api.errors import forbidden
from api.update_errors import call_temporal, http_error_for, rpc_timeout
from models.complaint_contracts import PetitionRequestInput
from models.complaint_public import ComplaintPublic, PetitionRequestRecorded
from models.processes.complaint import PROCESS_KEY, PetitionRequest
from models.tables import Case
from workflows.complaint import ComplaintWorkflow

router = APIRouter(prefix="/api/complaints", tags=["complaints"])

NOT_FOUND = "投诉案件不存在 (complaint not found)"
# Who may record a petitioner's request: the workflow's validator says the same
# (staff of the handling unit or above, managers, admins), the API answers 403 first.
REQUEST_ROLES = frozenset({"manager", "admin"})


async def _visible(engine: EngineDep, user: AuthUser, case_id: str) -> Case:
    """The case in the reader's subtree and not kept from them (exclusions), or 404."""
    case = await run_in_threadpool(
        lambda: visible_case(engine, case_id, user.org_path, username=user.username)
    )
    if case is None:
        raise HTTPException(404, detail=NOT_FOUND)
    return case


@router.get(
    "/{case_id}",
    response_model=ComplaintPublic,
    summary="A complaint: stage, counters, 台账 and the complainant (masked)",
)
async def get_complaint(
    case_id: str,
    engine: EngineDep,
    settings: SettingsDep,
    user: CurrentUser,
    reveal: Annotated[
        bool,
        Query(
            description="Show the complainant in full (roles of "
            "VETFLOW_COMPLAINT_IDENTITY_ROLES, never the rated clerk or a reported "
            "person: 403); every reveal and refusal is audited"
        ),
    ] = False,
) -> ComplaintPublic:
    """The complaint of a case in your subtree: channel, kind, category, stage, the
    counters (reopens, extension, the hearing's paused time), whether 复核 closed
    the matter, the earlier case of the same matter and the 台账. The party is
    masked unless `reveal=true` and you may see it (`may_reveal`). 404: not a
    complaint, outside your subtree, or kept from you (a reported unit or person)."""
    case = await _visible(engine, user, case_id)  # a complaint: it has the row
    found = await run_in_threadpool(
        read_complaint, engine, case, user, settings, reveal
    )
    if found is None:
        raise HTTPException(404, detail=NOT_FOUND)
    return found


@router.post(
    "/{case_id}/requests",
    response_model=PetitionRequestRecorded,
    summary="Record a petitioner's request for 复查 or 复核",
)
async def record_petition_request(
    case_id: str,
    body: PetitionRequest,
    engine: EngineDep,
    temporal: TemporalDep,
    user: CurrentUser,
) -> PetitionRequestRecorded:
    """The petitioner asked for 复查 (第三十五条) or 复核 (第三十六条) within 30 days
    of the written opinion: the case opens the review at the unit above (复核: the
    one above that), due 30 days after `received_on`. 409 `NotAwaitingRequest`: the
    case is not in that request's window; 403: not staff of the handling unit or
    above (or recused); 404: not a complaint of your subtree. Audited
    (`complaint_request_recorded`)."""
    case = await _visible(engine, user, case_id)
    if not (
        REQUEST_ROLES.intersection(user.roles)
        or any(r.endswith("_staff") for r in user.roles)
    ):
        raise forbidden("无权登记复查/复核请求 (staff only)")
    if case.process != PROCESS_KEY:
        raise HTTPException(404, detail=NOT_FOUND)
    handle = temporal.get_workflow_handle(case.workflow_id)
    try:
        accepted = await call_temporal(
            handle.execute_update(
                ComplaintWorkflow.record_request,
                PetitionRequestInput(actor=user.actor(), request=body),
                rpc_timeout=rpc_timeout(),
            )
        )
    except (WorkflowUpdateFailedError, RPCError) as exc:
        raise http_error_for(exc) from exc
    await run_in_threadpool(
        record_case_action,
        engine,
        user.username,
        "complaint_request_recorded",
        case_id,
        {"kind": body.kind, "received_on": body.received_on.isoformat()},
    )
    return PetitionRequestRecorded(
        case_id=case_id, kind=accepted.kind, due_at=accepted.due_at
    )
