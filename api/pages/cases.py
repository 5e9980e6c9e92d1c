"""Case pages: the list of my subtree's cases, one case (diagram, timeline in words,
tasks, notices) and one veteran (every case of the person, one timeline)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, or_, select
from starlette.concurrency import run_in_threadpool

from api import case_actions
from api.aftercare_queries import case_aftercare
from api.case_clock import case_clock
from api.case_queries import (
    account_names,
    case_notices,
    case_subject,
    case_tasks,
    not_excluded,
    search_cases,
    unit_names,
    visible_case,
)
from api.complaint_queries import case_complaint
from api.deps import AuthUser, EngineDep, SettingsDep, TemporalDep, get_settings
from api.history_source import load_history
from api.loan_queries import case_loan
from api.pages.case_start import start_form_required
from api.params import IdPath
from api.task_reads import audit_revealed, task_data
from api.timeline import TimelineEntry, build_timeline
from api.web.diagram import diagram_svg, step_states
from api.web.display import case_status, data_shown
from api.web.render import render, translator
from api.web.session import PageUser
from models.idnumber import mask_id_number
from models.process_spec import ProcessSpec
from models.processes import PROCESSES, spec_of
from models.processes.complaint import PROCESS_KEY as COMPLAINT
from models.processes.retiree_aftercare import PROCESS_KEY as RETIREE_AFTERCARE
from models.processes.startup_loan import PROCESS_KEY as STARTUP_LOAN
from models.public import CaseCreate
from models.tables import Case, OrgUnit, Veteran


def subject_units(
    engine: EngineDep, rows: list[tuple[Case, Veteran | None]]
) -> dict[int, str]:
    """Unit names of the listed cases that are about an org unit (no veteran)."""
    return unit_names(engine, {c.org_unit_id for c, _ in rows if not c.veteran_id})


router = APIRouter(include_in_schema=False)


@router.get("/cases", response_class=HTMLResponse)
async def cases_page(
    request: Request, user: PageUser, engine: EngineDep
) -> HTMLResponse:
    params = dict(request.query_params)
    rows = await run_in_threadpool(
        lambda: search_cases(
            engine,
            user.org_path,
            username=user.username,
            text=params.get("q", ""),
            process=params.get("process", ""),
            status=params.get("status", ""),
        )
    )
    return render(
        request,
        "cases/list.html",
        {
            "rows": rows,
            "units": await run_in_threadpool(subject_units, engine, rows),
            "case_status": case_status,
            "params": params,
            "processes": list(PROCESSES.values()),
            "mask": mask_id_number,
        },
    )


async def case_view(
    request: Request,
    engine: EngineDep,
    temporal: TemporalDep,
    user: AuthUser,
    case_id: str,
) -> dict[str, Any]:
    """Everything the case and audit pages show about one case (404 outside the subtree)."""
    case = await run_in_threadpool(
        lambda: visible_case(engine, case_id, user.org_path, username=user.username)
    )
    if case is None:
        raise HTTPException(404, detail="案件不存在")
    tasks = await run_in_threadpool(case_tasks, engine, case_id)
    notices = await run_in_threadpool(case_notices, engine, case_id)
    vet, unit = await run_in_threadpool(case_subject, engine, case)
    loaded = await load_history(temporal, engine, case.workflow_id)
    timeline = build_timeline(loaded.as_dict, case.process) if loaded else []
    spec = spec_of(case.process, case.spec_version)
    tr = translator(request)
    diagram = (
        diagram_svg(
            spec, step_states(spec, [(t.step, t.status) for t in tasks]), tr.gettext
        )
        if spec
        else ""
    )
    # Each task's data as this reader may see it; unmasked sensitive reads audited.
    unmask = user.can_unmask(get_settings(request))
    reads = [(t, task_data(t, unmask)) for t in tasks]
    await run_in_threadpool(audit_revealed, engine, user, reads)
    actors = {t.completed_by or t.assignee or "" for t in tasks} - {""}
    # A startup loan: its terms, follow-ups, end and subsidy plan (the follow-ups are
    # tasks of its repayment phase's workflow, listed with the case's own).
    loan = (
        await run_in_threadpool(case_loan, engine, case, tasks)
        if case.process == STARTUP_LOAN
        else None
    )
    return {
        "case": case,
        "tasks": tasks,
        "task_data": {t.id: data_shown(t.form_schema, d.data) for t, d in reads},
        "masked": {t.id: d.masked for t, d in reads},
        "names": await run_in_threadpool(account_names, engine, actors),
        "veteran_steps": _veteran_steps(spec),
        "case_status": case_status,
        "clock": case_clock(case, tasks, datetime.now(UTC)),
        "notices": notices,
        "veteran": vet,
        "unit": unit,
        "spec": spec,
        "veteran_id_masked": mask_id_number(vet.id_number) if vet else "",
        "timeline": timeline,
        "history": loaded,
        "diagram": diagram,
        "loan": loan,
    }


def _veteran_steps(spec: ProcessSpec | None) -> set[str]:
    """The steps the veteran holds (their own report; a clerk may do it for them)."""
    return {s.key for s in spec.steps if s.holder == "veteran"} if spec else set()


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(
    case_id: str,
    request: Request,
    user: PageUser,
    engine: EngineDep,
    temporal: TemporalDep,
) -> HTMLResponse:
    view = await case_view(request, engine, temporal, user, case_id)
    case, spec = view["case"], view["spec"]
    if case.process == RETIREE_AFTERCARE and spec:
        # A retired cadre's death: the report, the urgent branches, the quote and the
        # survivors (shown here only, so only this page audits their unmasked reads).
        unmask = user.can_unmask(get_settings(request))
        view["aftercare"] = await run_in_threadpool(
            case_aftercare, engine, case, spec, view["tasks"], user, unmask
        )
    if case.process == COMPLAINT:
        # A complaint: its facts, stage and 台账; the complainant masked unless this
        # reader may reveal them and asks to (?reveal=complainant, audited).
        reveal = request.query_params.get("reveal") == "complainant"
        view["complaint"] = await run_in_threadpool(
            case_complaint, engine, case, user, get_settings(request), reveal
        )
    return render(request, "cases/case.html", view)


@router.get("/veterans/{veteran_id}", response_class=HTMLResponse)
async def veteran_page(
    veteran_id: IdPath,
    request: Request,
    user: PageUser,
    engine: EngineDep,
    temporal: TemporalDep,
) -> HTMLResponse:
    """Every case of one person across all processes, with one merged timeline."""

    def load() -> tuple[Veteran, list[Case]] | None:
        with Session(engine) as s:
            vet = s.get(Veteran, veteran_id)
            unit = s.get(OrgUnit, vet.org_unit_id) if vet else None
            if vet is None or unit is None or not unit.path.startswith(user.org_path):
                return None
            cases = s.exec(
                select(Case)
                .where(
                    Case.veteran_id == veteran_id,
                    not_excluded(user.username, user.org_path),
                )
                .order_by(col(Case.started_at))
            ).all()
            return vet, [c for c in cases if c.org_path.startswith(user.org_path)]

    found = await run_in_threadpool(load)
    if found is None:
        raise HTTPException(404, detail="退役军人不存在")
    vet, cases = found
    merged: list[tuple[Case, TimelineEntry]] = []
    for case in cases:
        loaded = await load_history(temporal, engine, case.workflow_id)
        if loaded:
            merged.extend(
                (case, e) for e in build_timeline(loaded.as_dict, case.process)
            )
    merged.sort(key=lambda pair: pair[1].at)
    return render(
        request,
        "veterans/veteran.html",
        {
            "veteran": vet,
            "masked": mask_id_number(vet.id_number),
            "cases": cases,
            "timeline": merged,
            "processes": PROCESSES,
            "case_status": case_status,
            # Only processes clerks start (not those a campaign or a schedule
            # opens, e.g. the annual review), one case at a time unless the process
            # allows many.
            "startable": [
                p
                for k, p in PROCESSES.items()
                if p.startable
                and p.subject == "veteran"
                and (
                    p.per_veteran == "many"
                    or k not in {c.process for c in cases}
                    or (
                        p.per_veteran == "numbered"
                        and k not in {c.process for c in cases if c.status != "closed"}
                    )
                )
                and vet.category not in p.excluded_categories
                and (not p.served_categories or vet.category in p.served_categories)
            ],
            # Those whose start form asks for data (a death report) open their start
            # page; the others start in one click.
            "start_pages": {
                k
                for k, p in PROCESSES.items()
                if p.startable and start_form_required(p)
            },
            # Processes that do not serve this person, with where they are served.
            "not_served": [
                (p, p.excluded_categories[vet.category])
                for p in PROCESSES.values()
                if vet.category in p.excluded_categories
            ],
            "flash": request.query_params.get("flash"),
            "flash_kind": "error",
        },
    )


@router.get("/veterans", response_class=HTMLResponse)
async def veterans_page(
    request: Request, user: PageUser, engine: EngineDep
) -> HTMLResponse:
    """The registry of my subtree (ID numbers masked), to find a person and start a case."""
    q = request.query_params.get("q", "").strip()

    def load() -> list[Veteran]:
        with Session(engine) as s:
            query = (
                select(Veteran)
                .join(OrgUnit, col(OrgUnit.id) == col(Veteran.org_unit_id))
                .where(col(OrgUnit.path).startswith(user.org_path))
            )
            if q:
                query = query.where(
                    or_(
                        col(Veteran.name).startswith(q),
                        col(Veteran.id_number) == q.upper(),
                    )
                )
            return list(s.exec(query.order_by(col(Veteran.id)).limit(200)).all())

    rows = await run_in_threadpool(load)
    return render(
        request, "veterans/list.html", {"rows": rows, "q": q, "mask": mask_id_number}
    )


def _message_of(detail: object) -> str:
    """The readable text of an HTTPException detail: a message, or the messages of a
    422's field errors."""
    if isinstance(detail, dict):
        return str(detail.get("message", ""))
    if isinstance(detail, list):
        return "；".join(
            str(e.get("msg", e)) if isinstance(e, dict) else str(e) for e in detail
        )
    return str(detail)


@router.post("/veterans/{veteran_id}/cases", response_model=None)
async def start_case_form(
    veteran_id: IdPath,
    request: Request,
    user: PageUser,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> Response:
    """受理: start a process for this veteran from their page."""
    form = await request.form()
    try:
        started = await case_actions.start_case(
            engine,
            temporal,
            settings,
            user,
            CaseCreate(process=str(form.get("process") or ""), veteran_id=veteran_id),
        )
    except HTTPException as exc:
        if exc.status_code in (403, 404):
            # A veteran outside the subtree or a role that may not start: the error
            # page with that status (nothing to go back to). A refusal of this
            # veteran (409, 422) goes back to the veteran page with the reason.
            raise
        message = translator(request).gettext(_message_of(exc.detail))
        return RedirectResponse(
            f"/veterans/{veteran_id}?flash={quote(message)}", status_code=303
        )
    await case_actions.case_row_written(engine, started.id, user.org_path)
    return RedirectResponse(f"/cases/{started.id}", status_code=303)
