"""The veteran's own online annual report (001 第九条 "现场或互联网的方式"): a page
opened from the signed link the veteran received, without an account.

``GET /self/annual-review/{token}`` shows the form (the veteran's name, the year,
for a correction round every defect at once and the last report to start from);
``POST`` sends the report as the ``complete_task`` Update of the round's task, acting
as ``veteran:<id>`` (the workflow accepts that actor only for a veteran-held step of
the veteran's own case), and shows a confirmation. The audit trail records the
submission through the engine (``task_completed`` by ``veteran:<id>``) and every
refused use here (``self_link_refused`` with the reason).

Answers: 404 for a link that is not ours, 410 for an expired or used link (naming the
station's phone), 422 with the form again for errors, 429 with Retry-After past the
per-address limit, 403 for a cross-site POST. No CSRF token: the form's authority is
the token in its URL, no ambient credential (no cookie) goes with it; a browser's
cross-site POST is refused by its Origin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from api.deps import EngineDep, SettingsDep, TemporalDep
from api.routes.auth import client_address
from api.self_service import (
    OpenLink,
    Refused,
    audit_refusal,
    count_request,
    resolve,
)
from api.update_errors import call_temporal, http_error_for, rpc_timeout
from api.web.citizen_page import CHINA_TIME, citizen_page
from api.web.self_form import (
    MAX_ROWS,
    MORE_ROWS,
    ReportValues,
    check_report,
    errors_by_field,
    report_data,
    values_from_form,
    values_from_report,
)
from models.contracts import Actor, CompleteTaskInput
from models.settings import Settings
from workflows.human_task import ProcessWorkflow

router = APIRouter(prefix="/self", include_in_schema=False)


def _page(
    request: Request,
    template: str,
    ctx: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    # Chinese only by design (the annual review's texts are the law's own words).
    return citizen_page(request, template, ctx, status_code, headers, zh_only=True)


async def _refused(
    request: Request, engine: EngineDep, refusal: Refused, *, audited: bool = False
) -> HTMLResponse:
    """The page for a refused link (audited unless the caller did)."""
    if not audited:
        await run_in_threadpool(
            audit_refusal,
            engine,
            refusal.link,
            refusal.reason,
            client_address(request),
        )
    return _page(
        request,
        "self/refused.html",
        {
            "status": refusal.status,
            "reason": refusal.reason,
            "station": refusal.station,
        },
        status_code=refusal.status,
    )


async def _throttled(request: Request, engine: EngineDep, settings: Settings) -> int:
    return (
        await run_in_threadpool(
            count_request, engine, settings, client_address(request)
        )
        or 0
    )


def _too_many(request: Request, wait: int) -> HTMLResponse:
    return _page(
        request,
        "self/refused.html",
        {"status": 429, "reason": "rate_limited", "wait": wait},
        status_code=429,
        headers={"Retry-After": str(wait)},
    )


def _form(
    request: Request,
    token: str,
    found: OpenLink,
    values: ReportValues,
    *,
    errors: dict[str, str] | None = None,
    general: list[str] | None = None,
    blank: int = 5,
    status_code: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        "self/annual_review.html",
        {
            "token": token,
            "found": found,
            "values": values,
            "rows": values.padded(blank),
            "errors": errors or {},
            "general": general or [],
            "max_rows": MAX_ROWS,
            "expires": found.link.expires_at.astimezone(CHINA_TIME).strftime(
                "%Y-%m-%d %H:%M"
            ),
        },
        status_code=status_code,
    )


def _same_origin(request: Request, settings: Settings) -> bool:
    """A browser POST from our own pages: its Origin is ours (or absent, from a
    client that sends none); ``null`` and other sites are refused."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    ours = {f"{request.url.scheme}://{request.url.netloc}"}
    public = urlsplit(settings.public_base_url)
    ours.add(f"{public.scheme}://{public.netloc}")
    return origin in ours


@router.get("/annual-review/{token}", response_class=HTMLResponse)
async def annual_review_page(
    request: Request, token: str, engine: EngineDep, settings: SettingsDep
) -> HTMLResponse:
    """The report form of the round the link names."""
    wait = await _throttled(request, engine, settings)
    if wait:
        return _too_many(request, wait)
    try:
        found = await run_in_threadpool(resolve, engine, settings, token)
    except Refused as refusal:
        return await _refused(request, engine, refusal)
    return _form(request, token, found, values_from_report(found.previous))


@router.post("/annual-review/{token}", response_class=HTMLResponse)
async def submit_annual_review(
    request: Request,
    token: str,
    engine: EngineDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> HTMLResponse:
    """Send the report (the ``complete_task`` Update, as the veteran)."""
    wait = await _throttled(request, engine, settings)
    if wait:
        return _too_many(request, wait)
    if not _same_origin(request, settings):
        return await _refused(request, engine, Refused(403, "cross_origin"))
    try:
        found = await run_in_threadpool(resolve, engine, settings, token)
    except Refused as refusal:
        return await _refused(request, engine, refusal)
    form = await request.form()
    values = values_from_form(form)
    if form.get("action") == "more_rows":  # no script: more rows come from the server
        empty = sum(1 for r in values.travel if not any(r.values()))
        return _form(request, token, found, values, blank=empty + MORE_ROWS)
    report, errors, general = check_report(values)
    if report is None:
        return _form(
            request,
            token,
            found,
            values,
            errors=errors,
            general=general,
            status_code=422,
        )
    try:
        await _send(temporal, found, report)
    except HTTPException as exc:
        return await _update_refused(request, engine, token, found, values, exc)
    return _page(
        request,
        "self/submitted.html",
        {"found": found, "journeys": len(report.get("travel_abroad", []))},
    )


async def _send(temporal: Any, found: OpenLink, report: dict[str, Any]) -> None:
    task = found.task
    inp = CompleteTaskInput(
        task_id=task.id,
        actor=Actor(
            username=f"veteran:{found.link.veteran_id}",
            roles=["veteran"],
            org_unit_id=task.org_unit_id,
            org_path=task.org_path,
        ),
        outcome="submitted",
        data=report,
    )
    handle = temporal.get_workflow_handle(task.workflow_id)
    try:
        await call_temporal(
            handle.execute_update(
                ProcessWorkflow.complete_task, inp, rpc_timeout=rpc_timeout()
            )
        )
    except (WorkflowUpdateFailedError, RPCError) as exc:
        raise http_error_for(exc) from exc


async def _update_refused(
    request: Request,
    engine: EngineDep,
    token: str,
    found: OpenLink,
    values: ReportValues,
    exc: HTTPException,
) -> HTMLResponse:
    """The workflow refused the report: its form errors on the page again (422); a
    round already closed is a used link (410); anything else about the link a 404;
    Temporal not answering the error page with Retry-After (503)."""
    kind = exc.detail.get("type") if isinstance(exc.detail, dict) else None
    if exc.status_code == 422 and isinstance(exc.detail, list):
        _, rows = report_data(values)
        errors, general = errors_by_field(exc.detail, rows, values)
        return _form(
            request,
            token,
            found,
            values,
            errors=errors,
            general=general,
            status_code=422,
        )
    if kind in ("TaskNotOpen", "CaseClosed"):
        return await _refused(
            request, engine, Refused(410, "used", found.link, found.station)
        )
    if exc.status_code in (403, 404):
        return await _refused(request, engine, Refused(404, str(kind), found.link))
    if exc.status_code == 503:
        return _page(
            request,
            "self/refused.html",
            {"status": 503, "reason": "unavailable", "station": found.station},
            status_code=503,
            headers=dict(exc.headers or {}),
        )
    raise exc
