"""受理 with a start form: a process whose start form has a required field (a retired
cadre's death report, the last contact with one out of contact) is started from its
own page, the form drawn by the task pages' renderer (api/web/forms.py), and submitted
through the API's own start (api/case_actions.py): the same checks, the same 422 per
field, 409 and audit (the workflow's first activity records ``case_started``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api import case_actions
from api.case_queries import veteran_in_subtree
from api.deps import AuthUser, EngineDep, SettingsDep, TemporalDep
from api.params import IdPath
from api.web.aftercare_display import FLAG_BASIS_LABELS
from api.web.forms import data_from_form, field_errors, fields_of
from api.web.render import render, translator
from api.web.session import PageUser
from models.aftercare_benefit import CAUSE_LABELS
from models.idnumber import mask_id_number
from models.process_spec import ProcessSpec
from models.processes import PROCESSES
from models.processes.retiree_aftercare import PROCESS_KEY as RETIREE_AFTERCARE
from models.public import CaseCreate
from models.tables import Veteran

router = APIRouter(include_in_schema=False)

# A start form's selects in words, by process and field (else the codes show).
OPTION_LABELS: dict[str, dict[str, dict[str, str]]] = {
    RETIREE_AFTERCARE: {"cause": CAUSE_LABELS, "flag_basis": FLAG_BASIS_LABELS},
}


def start_form_required(spec: ProcessSpec) -> bool:
    """Whether the start needs data: then the veteran page links to the start page;
    otherwise its button starts the case in one click."""
    return bool(spec.start_form.model_json_schema().get("required"))


async def _start_target(
    engine: EngineDep, user: AuthUser, veteran_id: int, process: str
) -> tuple[ProcessSpec, Veteran]:
    """The process and veteran of a start page. 403: a role that may not start (as the
    API's start); 404: a process not started by hand for a veteran, or a veteran
    outside the caller's subtree (before the form is read, so nothing leaks)."""
    if not case_actions.STARTER_ROLES.intersection(user.roles):
        raise HTTPException(403, detail="无权受理案件 (not allowed to start cases)")
    spec = PROCESSES.get(process)
    if spec is None or not spec.startable or spec.subject != "veteran":
        raise HTTPException(404, detail="流程不存在 (no such process)")
    found = await run_in_threadpool(
        veteran_in_subtree, engine, veteran_id, user.org_path
    )
    if found is None:
        raise HTTPException(404, detail="退役军人不存在 (veteran not found)")
    return spec, found[0]


def _render_start(
    request: Request,
    spec: ProcessSpec,
    veteran: Veteran,
    values: dict[str, Any],
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    fields = fields_of(spec.start_form.model_json_schema(), values, {})
    for f in fields:
        f.labels = OPTION_LABELS.get(spec.key, {}).get(f.name, {})
    return render(
        request,
        "cases/start.html",
        {
            "spec": spec,
            "veteran": veteran,
            "masked": mask_id_number(veteran.id_number),
            "fields": fields,
            **extra,
        },
        status_code=status_code,
    )


@router.get("/veterans/{veteran_id}/start/{process}", response_model=None)
async def start_page(
    veteran_id: IdPath,
    process: str,
    request: Request,
    user: PageUser,
    engine: EngineDep,
) -> Response:
    """The start form of ``process`` for this veteran, titled with the process and
    its clauses. A veteran the process does not serve goes back to their page with
    the reason (the page does not offer it)."""
    spec, veteran = await _start_target(engine, user, veteran_id, process)
    elsewhere = spec.excluded_categories.get(veteran.category)
    if elsewhere is None and spec.served_categories:
        if veteran.category not in spec.served_categories:
            elsewhere = spec.served_message
    if elsewhere is not None:
        message = translator(request).gettext(elsewhere)
        return RedirectResponse(
            f"/veterans/{veteran_id}?flash={quote(message)}", status_code=303
        )
    return _render_start(request, spec, veteran, {})


@router.post("/veterans/{veteran_id}/start/{process}", response_model=None)
async def start_submit(
    veteran_id: IdPath,
    process: str,
    request: Request,
    user: PageUser,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> Response:
    """受理: the start form through the API's start; the new case's page, or the form
    again with each error beside its field and the values kept (422), or the
    existing case named and linked (409)."""
    spec, veteran = await _start_target(engine, user, veteran_id, process)
    form = await request.form()
    data = data_from_form(spec.start_form.model_json_schema(), form)
    if form.get("add_row"):
        # "添加行" of a list of objects: the form again with new blank rows.
        return _render_start(request, spec, veteran, data)
    tr = translator(request)
    try:
        started = await case_actions.start_case(
            engine,
            temporal,
            settings,
            user,
            CaseCreate(process=spec.key, veteran_id=veteran_id, data=data),
        )
    except HTTPException as exc:
        if exc.status_code in (403, 404):
            raise
        errors: dict[str, str] = {}
        general: list[str] = []
        existing = ""
        if isinstance(exc.detail, list):  # 422: loc ["body", "data", field, …]
            items = [e for e in exc.detail if isinstance(e, dict)]
            errors, general = field_errors(
                [{**e, "loc": list(e.get("loc", []))[1:]} for e in items], tr
            )
        elif isinstance(exc.detail, dict) and exc.detail.get("case_id"):
            existing = str(exc.detail["case_id"])  # 409: the page names and links it
        elif isinstance(exc.detail, dict):  # 503 {type, message}
            general = [tr.gettext(str(exc.detail.get("message", "")))]
        else:
            general = [tr.gettext(str(exc.detail))]
        page = _render_start(
            request,
            spec,
            veteran,
            data,
            status_code=exc.status_code,
            errors=errors,
            general_errors=general,
            existing_case=existing,
            flash=tr.gettext("提交未成功，请按提示修改")
            if exc.status_code == 422
            else None,
            flash_kind="error",
        )
        page.headers.update(exc.headers or {})  # Retry-After of a 503
        return page
    await case_actions.case_row_written(engine, started.id, user.org_path)
    return RedirectResponse(f"/cases/{started.id}", status_code=303)
