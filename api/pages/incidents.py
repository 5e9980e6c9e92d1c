"""The incident list (managers, admins): permanent activity failures in the subtree,
each case waiting at its step until someone retries (a Retry button, CSRF-protected)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import AuthUser, EngineDep, TemporalDep
from api.routes import incidents as incident_actions
from api.web.render import render, translator
from api.web.session import PageUser
from models.contracts import SUPERVISOR_ROLES
from models.processes import spec_of
from models.tables import Incident

router = APIRouter(include_in_schema=False)


def _require_manager(user: AuthUser) -> None:
    if not user.has_role(*SUPERVISOR_ROLES):
        raise HTTPException(403, detail="仅管理人员可访问")


def _step_title(incident: Incident) -> str:
    """The step's Chinese title when it is a step of the process, else its key."""
    spec = spec_of(incident.process)
    try:
        return spec.step(incident.step).title if spec else incident.step
    except KeyError:
        return incident.step


async def _render_list(
    request: Request,
    engine: EngineDep,
    user: AuthUser,
    status_code: int = 200,
    **extra: object,
) -> HTMLResponse:
    status = "resolved" if request.query_params.get("status") == "resolved" else "open"
    rows, count = await run_in_threadpool(
        lambda: incident_actions.list_incidents(
            engine, user.org_path, username=user.username, status=status, limit=500
        )
    )
    return render(
        request,
        "incidents/list.html",
        {
            "rows": [(i, _step_title(i)) for i in rows],
            "count": count,
            "status": status,
            "flash": request.query_params.get("flash"),
            **extra,
        },
        status_code=status_code,
    )


@router.get("/incidents", response_class=HTMLResponse)
async def incidents_page(
    request: Request, user: PageUser, engine: EngineDep
) -> HTMLResponse:
    _require_manager(user)
    return await _render_list(request, engine, user)


@router.post("/incidents/{incident_id}/retry", response_model=None)
async def retry_form(
    incident_id: str,
    request: Request,
    user: PageUser,
    engine: EngineDep,
    temporal: TemporalDep,
) -> Response:
    """Retry from the list; a refusal (or Temporal not answering) is shown on the list."""
    _require_manager(user)
    tr = translator(request)
    try:
        await incident_actions.retry(engine, temporal, user, incident_id)
    except HTTPException as exc:
        if exc.status_code == 404:
            raise
        detail = (
            exc.detail if isinstance(exc.detail, dict) else {"message": str(exc.detail)}
        )
        page = await _render_list(
            request,
            engine,
            user,
            status_code=exc.status_code,
            flash=tr.gettext(str(detail.get("message", ""))),
            flash_kind="error",
        )
        page.headers.update(exc.headers or {})
        return page
    msg = tr.gettext("已请求重试，案件将重新执行失败的操作")
    return RedirectResponse(f"/incidents?flash={quote(msg)}", status_code=303)
