"""Incidents: permanent activity failures a case waits on, and their retry.

When an activity fails for good (bad reference data, a rejected write) the workflow
records an incident and waits; a manager or admin of the incident's subtree fixes the
cause and asks for a retry, which is the workflow Update ``retry_incident``. The API
reads the ``incident`` projection but never writes it: the retried activity itself
marks the incident resolved. The helpers here serve the JSON API and the web page.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.audit import record_audit
from api.case_queries import case_is_excluded, not_excluded
from api.deps import AuthUser, EngineDep, TemporalDep, require_roles
from api.params import Offset
from api.update_errors import call_temporal, http_error_for, rpc_timeout
from models.contracts import SUPERVISOR_ROLES, RetryIncidentInput
from models.public import IncidentPublic, IncidentsPublic
from models.tables import Incident
from workflows.human_task import ProcessWorkflow

router = APIRouter(prefix="/api/incidents", tags=["incidents"])

ManagerUser = Annotated[AuthUser, Depends(require_roles(*sorted(SUPERVISOR_ROLES)))]
IncidentStatus = Literal["open", "resolved"]


def list_incidents(
    engine: Engine,
    org_path: str,
    *,
    username: str,
    status: str = "open",
    case_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Incident], int]:
    """Incidents of the subtree under ``org_path``, newest first, and their count
    (not those of a case kept from the reader: ``not_excluded``)."""
    where = [
        col(Incident.org_path).startswith(org_path),
        not_excluded(username, org_path, col(Incident.case_id)),
        col(Incident.status) == status,
    ]
    if case_id:
        where.append(col(Incident.case_id) == case_id)
    with Session(engine) as s:
        count = s.exec(select(func.count()).select_from(Incident).where(*where)).one()
        rows = s.exec(
            select(Incident)
            .where(*where)
            .order_by(col(Incident.opened_at).desc(), col(Incident.id).desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return list(rows), int(count)


def visible_incident(
    engine: Engine, incident_id: str, org_path: str, *, username: str
) -> Incident | None:
    """The incident if it lies in the caller's subtree and its case is not kept from
    them, else None (answered 404)."""
    with Session(engine) as s:
        incident = s.get(Incident, incident_id)
        if incident is None or not incident.org_path.startswith(org_path):
            return None
        if case_is_excluded(s, incident.case_id, username=username, org_path=org_path):
            return None
        return incident


async def load_incident(engine: Engine, user: AuthUser, incident_id: str) -> Incident:
    incident = await run_in_threadpool(
        lambda: visible_incident(
            engine, incident_id, user.org_path, username=user.username
        )
    )
    if incident is None:
        raise HTTPException(404, detail="故障不存在 (incident not found)")
    return incident


def _record_retry(engine: Engine, user: AuthUser, incident: Incident) -> None:
    with Session(engine) as s:
        record_audit(
            s,
            actor=user.username,
            action="incident_retry_requested",
            entity_type="incident",
            entity_id=incident.id,
            case_id=incident.case_id,
            before={
                "status": incident.status,
                "step": incident.step,
                "activity": incident.activity,
                "error_type": incident.error_type,
            },
            after={"workflow_id": incident.workflow_id},
        )
        s.commit()


async def retry(
    engine: Engine, temporal: Client, user: AuthUser, incident_id: str
) -> Incident:
    """Ask the incident's workflow to retry the failed activity (the Update
    ``retry_incident``, validated by the workflow: 404 / 409 / 403), then audit it.
    Temporal too slow or unreachable: 503 with Retry-After."""
    if not user.has_role(*SUPERVISOR_ROLES):
        raise HTTPException(
            403, detail="只有管理人员或系统管理员可以重试故障 (managers only)"
        )
    incident = await load_incident(engine, user, incident_id)
    handle = temporal.get_workflow_handle(incident.workflow_id)
    inp = RetryIncidentInput(incident_id=incident.id, actor=user.actor())
    try:
        await call_temporal(
            handle.execute_update(
                ProcessWorkflow.retry_incident, inp, rpc_timeout=rpc_timeout()
            )
        )
    except (WorkflowUpdateFailedError, RPCError) as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(
                409,
                detail={
                    "type": "CaseClosed",
                    "message": "案件流程已结束，故障不能再重试 (the case has ended)",
                },
            ) from exc
        raise http_error_for(exc) from exc
    await run_in_threadpool(_record_retry, engine, user, incident)
    return await load_incident(engine, user, incident_id)


@router.get(
    "",
    response_model=IncidentsPublic,
    summary="Incidents of my subtree (managers, admins)",
)
async def list_incidents_route(
    engine: EngineDep,
    user: ManagerUser,
    status: Annotated[
        IncidentStatus, Query(description="open (waiting for a retry) | resolved")
    ] = "open",
    case_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> IncidentsPublic:
    """Permanent activity failures of cases in my organisation's subtree, newest first.
    An open incident means its case waits at `step` until someone retries. Other
    roles: 403."""
    rows, count = await run_in_threadpool(
        lambda: list_incidents(
            engine,
            user.org_path,
            username=user.username,
            status=status,
            case_id=case_id,
            limit=limit,
            offset=offset,
        )
    )
    return IncidentsPublic(
        data=[IncidentPublic.model_validate(r) for r in rows], count=count
    )


@router.post(
    "/{incident_id}/retry",
    response_model=IncidentPublic,
    summary="Retry the failed activity of an incident (managers, admins)",
)
async def retry_incident(
    incident_id: str, engine: EngineDep, temporal: TemporalDep, user: ManagerUser
) -> IncidentPublic:
    """After fixing the cause, ask the case to run the failed activity again (the
    workflow Update `retry_incident`; the request is audited as
    `incident_retry_requested`). The activity itself marks the incident resolved, so
    the answer may still read `status: open` for a moment; if the activity fails
    again, a new incident opens.

    Not in my subtree or unknown: 404; other roles: 403; already retried: 409;
    Temporal not answering within the call timeout: 503 with `Retry-After`."""
    incident = await retry(engine, temporal, user, incident_id)
    return IncidentPublic.model_validate(incident)
