"""The task page: case summary, diagram, the step's form with errors beside each field,
outcome buttons, claim / unclaim / take over (confirmed) and reassign (with a reason)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api import task_actions
from api.aftercare_queries import quote_figures
from api.case_queries import account_names, case_tasks
from api.deps import AuthUser, EngineDep, TemporalDep, get_settings
from api.loan_queries import bank_names
from api.task_reads import audit_revealed, task_data
from api.web.aftercare_display import aftercare_task_view
from api.web.complaint_display import complaint_context
from api.web.diagram import diagram_svg, step_states
from api.web.display import context_shown, data_shown
from api.web.forms import data_from_form, field_errors, fields_of
from api.web.loan_display import loan_task_view
from api.web.render import render, translator
from api.web.session import PageUser
from models.idnumber import mask_id_number
from models.processes import spec_of
from models.processes.complaint import PROCESS_KEY as COMPLAINT
from models.processes.retiree_aftercare import LOST_CONTACT_KEY
from models.processes.retiree_aftercare import PROCESS_KEY as RETIREE_AFTERCARE
from models.processes.startup_loan import PROCESS_KEY as STARTUP_LOAN
from models.settings import Settings
from models.tables import Account, Case, HumanTask, OrgUnit, Veteran

router = APIRouter(include_in_schema=False)


def _detail(exc: HTTPException) -> dict[str, Any]:
    """An HTTPException's detail as {message, errors?, holder?}; a 422's items keep
    their ``loc`` relative to the form (``["data", field]``, ``["outcome"]``)."""
    if isinstance(exc.detail, dict):
        return exc.detail
    if isinstance(exc.detail, list):
        items = [e for e in exc.detail if isinstance(e, dict)]
        errors = [{**e, "loc": _form_loc(list(e.get("loc", [])))} for e in items]
        return {
            "message": "; ".join(str(e.get("msg", "")) for e in items),
            "errors": errors,
        }
    return {"message": str(exc.detail)}


def _form_loc(loc: list[Any]) -> list[Any]:
    return loc[1:] if loc[:1] == ["body"] else loc


def _back(request: Request) -> str:
    back = request.query_params.get("back", "")
    return "/inbox?" + urlencode(parse_qsl(back)) if back else "/inbox"


def _reassign_candidates(
    engine: EngineDep, task: HumanTask, user: AuthUser
) -> list[Account]:
    with Session(engine) as s:
        units = {
            u.id: u
            for u in s.exec(
                select(OrgUnit).where(col(OrgUnit.path).startswith(user.org_path))
            ).all()
        }
        accounts = s.exec(
            select(Account).where(
                col(Account.org_unit_id).in_(units.keys()), Account.active
            )
        ).all()
        return [
            a
            for a in accounts
            if task.candidate_role in a.roles
            and task.org_path.startswith(units[a.org_unit_id].path)
            and not a.absent
        ]


def _page_context(
    engine: EngineDep, settings: Settings, task: HumanTask, user: AuthUser
) -> dict[str, Any]:
    with Session(engine) as s:
        case = s.get(Case, task.case_id)
        vet = s.get(Veteran, case.veteran_id) if case and case.veteran_id else None
        unit = s.get(OrgUnit, task.org_unit_id)
        # A case about an org unit (no veteran): the unit is what the case is about.
        subject_unit = (
            s.get(OrgUnit, case.org_unit_id) if case and not case.veteran_id else None
        )
    spec = spec_of(task.process, case.spec_version if case else None)
    step = (
        next((st for st in spec.steps if st.key == task.step), None) if spec else None
    )
    rows = case_tasks(engine, task.case_id)
    may_act = task.status == "open" and (
        task.assignee == user.username or task.candidate_role in user.roles
    )
    supervisor = user.has_role("manager", "admin") or (
        user.org_path != task.org_path and any(r.endswith("_staff") for r in user.roles)
    )
    # The step's data as this reader may see it (sensitive fields masked, or shown
    # and the read audited).
    data = task_data(task, user.can_unmask(settings))
    audit_revealed(engine, user, [(task, data)])
    # A startup loan's step: its terms in words (元, %, labels) and, for the leader,
    # the subsidy plan's lines; the rest of its context as any other step's.
    loan = (
        loan_task_view(task.step, task.context, bank_names(engine))
        if task.process == STARTUP_LOAN
        else None
    )
    # A retired cadre's aftercare: the death report and causes in words and, from the
    # benefit review on, the quote's components.
    aftercare = (
        aftercare_task_view(task.step, task.context)
        if task.process in (RETIREE_AFTERCARE, LOST_CONTACT_KEY)
        else None
    )
    if aftercare and aftercare.quote:
        aftercare.quote.figures = quote_figures(engine, task.case_id, task.context)
    if loan:
        context = loan.facts + context_shown(spec, loan.rest)
    elif aftercare:
        context = aftercare.facts + context_shown(spec, aftercare.rest)
    elif task.process == COMPLAINT:
        # A complaint step: the complaint, the rated step, the overdue step a 督办
        # presses, the request and the paused 复核 clock in words.
        facts, rest = complaint_context(spec, task.context)
        context = facts + context_shown(spec, rest)
    else:
        context = context_shown(spec, task.context)
    done = [t for t in rows if t.status in ("completed", "skipped", "withdrawn")]
    # 双人复核: who completed the step this one must not be completed by.
    other = next(
        (
            t
            for t in reversed(done)
            if step and t.step == step.four_eyes_with and t.status == "completed"
        ),
        None,
    )
    who = {t.completed_by for t in done if t.completed_by} | {
        c.actor for c in context if c.actor
    }
    if task.completed_by:
        who.add(task.completed_by)
    if other and other.completed_by:
        who.add(other.completed_by)
    return {
        "task": task,
        "case": case,
        "veteran": vet,
        "veteran_id_masked": mask_id_number(vet.id_number) if vet else "",
        "unit": unit,
        "subject_unit": subject_unit,
        "spec": spec,
        "step": step,
        "veteran_steps": {st.key for st in spec.steps if st.holder == "veteran"}
        if spec
        else set(),
        "data_shown": data_shown(task.form_schema, data.data),
        "masked_fields": data.masked,
        "context_shown": context,
        "loan_plan": loan.plan if loan else None,
        "aftercare_quote": aftercare.quote if aftercare else None,
        "names": account_names(engine, who),
        "history_tasks": done,
        "four_eyes": (spec.step(step.four_eyes_with), other)
        if spec and step and step.four_eyes_with
        else None,
        "states": step_states(spec, [(t.step, t.status) for t in rows]) if spec else {},
        "may_act": may_act,
        "may_reassign": task.status == "open" and supervisor,
        "candidates": _reassign_candidates(engine, task, user)
        if supervisor and task.status == "open"
        else [],
    }


async def _render_task(
    request: Request,
    engine: EngineDep,
    task: HumanTask,
    user: AuthUser,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    settings = get_settings(request)
    ctx = await run_in_threadpool(_page_context, engine, settings, task, user)
    tr = translator(request)
    spec = ctx["spec"]
    ctx["diagram"] = diagram_svg(spec, ctx["states"], tr.gettext) if spec else ""
    ctx["fields"] = fields_of(task.form_schema, extra.pop("values", {}), task.context)
    ctx["back"] = _back(request)
    ctx["back_qs"] = request.query_params.get("back", "")
    return render(request, "tasks/task.html", {**ctx, **extra}, status_code=status_code)


async def _render_error(
    request: Request,
    engine: EngineDep,
    task: HumanTask,
    user: AuthUser,
    exc: HTTPException,
) -> HTMLResponse:
    """The task page again, with the refusal in the flash line."""
    message = translator(request).gettext(str(_detail(exc).get("message", "")))
    return await _render_task(
        request,
        engine,
        task,
        user,
        status_code=exc.status_code,
        flash=message,
        flash_kind="error",
    )


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def task_page(
    task_id: str, request: Request, user: PageUser, engine: EngineDep
) -> HTMLResponse:
    task = await task_actions.load_task(engine, user, task_id)
    return await _render_task(request, engine, task, user)


@router.post("/tasks/{task_id}/complete", response_model=None)
async def complete_form(
    task_id: str,
    request: Request,
    user: PageUser,
    engine: EngineDep,
    temporal: TemporalDep,
) -> Response:
    task, version = await task_actions.load_task_and_version(engine, user, task_id)
    form = await request.form()
    data = data_from_form(task.form_schema, form)
    outcome = str(form.get("outcome") or "")
    comment = str(form.get("comment") or "")
    tr = translator(request)
    if form.get("add_row") and not outcome:
        # "添加行" of a list of objects: the form again with what was typed (blank
        # rows dropped) and new blank rows; nothing is submitted.
        return await _render_task(
            request, engine, task, user, values=data, comment=comment
        )
    try:
        await task_actions.complete(
            temporal, task, version, user, outcome, data, comment
        )
    except HTTPException as exc:
        detail = _detail(exc)
        errors, general = field_errors(list(detail.get("errors") or []), tr)
        if exc.status_code != 422:
            general = [tr.gettext(str(detail.get("message", "")))]
        return await _render_task(
            request,
            engine,
            task,
            user,
            status_code=exc.status_code,
            values=data,
            errors=errors,
            general_errors=general,
            comment=comment,
            flash=tr.gettext("提交未成功，请按提示修改"),
            flash_kind="error",
        )
    back = _back(request)
    sep = "&" if "?" in back else "?"
    return RedirectResponse(
        f"{back}{sep}flash={tr.gettext('已办结')}: {tr.gettext(task.title)}",
        status_code=303,
    )


@router.post("/tasks/{task_id}/claim", response_model=None)
async def claim_form(
    task_id: str,
    request: Request,
    user: PageUser,
    engine: EngineDep,
    temporal: TemporalDep,
) -> Response:
    """Claim; a task a colleague holds asks for confirmation first and names the holder."""
    task = await task_actions.load_task(engine, user, task_id)
    form = await request.form()
    force = form.get("force") == "1"
    try:
        await task_actions.claim(temporal, task, user, force=force)
    except HTTPException as exc:
        detail = _detail(exc)
        if exc.status_code == 409 and detail.get("holder"):
            return await _render_task(
                request,
                engine,
                task,
                user,
                status_code=409,
                confirm_takeover=detail["holder"],
            )
        return await _render_error(request, engine, task, user, exc)
    return RedirectResponse(f"/tasks/{task_id}?{request.url.query}", status_code=303)


@router.post("/tasks/{task_id}/unclaim", response_model=None)
async def unclaim_form(
    task_id: str,
    request: Request,
    user: PageUser,
    engine: EngineDep,
    temporal: TemporalDep,
) -> Response:
    task = await task_actions.load_task(engine, user, task_id)
    try:
        await task_actions.unclaim(temporal, task, user)
    except HTTPException as exc:
        return await _render_error(request, engine, task, user, exc)
    return RedirectResponse(f"/tasks/{task_id}?{request.url.query}", status_code=303)


@router.post("/tasks/{task_id}/reassign", response_model=None)
async def reassign_form(
    task_id: str,
    request: Request,
    user: PageUser,
    engine: EngineDep,
    temporal: TemporalDep,
) -> Response:
    task = await task_actions.load_task(engine, user, task_id)
    form = await request.form()
    tr = translator(request)
    reason = str(form.get("reason") or "").strip()
    if not reason:
        return await _render_task(
            request,
            engine,
            task,
            user,
            status_code=422,
            reassign_error=tr.gettext("转派须说明原因"),
        )
    try:
        await task_actions.reassign(
            temporal, engine, task, user, str(form.get("username") or ""), reason
        )
    except HTTPException as exc:
        detail = _detail(exc)
        return await _render_task(
            request,
            engine,
            task,
            user,
            status_code=exc.status_code,
            reassign_error=tr.gettext(str(detail.get("message", detail))),
        )
    return RedirectResponse(f"/tasks/{task_id}?{request.url.query}", status_code=303)
