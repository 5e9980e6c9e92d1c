"""登记投诉/信访: the staff page that registers a window complaint or a petition.

The form is the complaint's start form (models/processes/complaint.ComplaintStartForm)
drawn by the task pages' renderer (api/web/forms.py, tasks/_fields.html), with the
handling unit (谁办理、谁负责) chosen among the units of the clerk's subtree. It is
submitted through the API's own start (api/case_actions.start_case, as POST /api/cases
with ``org_unit_id``): the same checks, the same 422 per field, 404, 409 (the same
matter after 复核, 信访工作条例 第三十六条) and audit. Who may register: the roles that
start cases (403 otherwise)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api import case_actions
from api.deps import AuthUser, EngineDep, SettingsDep, TemporalDep
from api.web.forms import Field, data_from_form, field_errors, fields_of
from api.web.render import TEMPLATES, render, translator
from api.web.session import PageUser
from models.processes import complaint
from models.processes.complaint import (
    CHANNEL_LABELS,
    MATTER_LABELS,
    PETITION_KIND_LABELS,
)
from models.public import CaseCreate
from models.tables import OrgUnit

router = APIRouter(include_in_schema=False)

PATH = "/complaints/new"
UNIT_FIELD = "org_unit_id"
# The nav and the cases list offer the page to these roles (base.html).
TEMPLATES.env.globals["STARTER_ROLES"] = sorted(case_actions.STARTER_ROLES)
# The start form's selects in words (else the codes show).
OPTION_LABELS: dict[str, dict[str, str]] = {
    "channel": {k: v for k, v in CHANNEL_LABELS.items() if k != "rating"},
    "kind": PETITION_KIND_LABELS,
    "category": MATTER_LABELS,
}


def _(text: str) -> str:
    """Marks a text for the English catalog; the page translates it when shown."""
    return text


UNIT_TITLE = _("办理单位")
UNIT_HINT = _("谁办理、谁负责: 投诉/信访由该单位办理，上一级复查、督办")


def _units(engine: Engine, org_path: str) -> list[OrgUnit]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(OrgUnit)
                .where(col(OrgUnit.path).startswith(org_path))
                .order_by(col(OrgUnit.path))
            ).all()
        )


def _may_register(user: AuthUser) -> None:
    if not case_actions.STARTER_ROLES.intersection(user.roles):
        raise HTTPException(403, detail="无权受理案件 (not allowed to start cases)")


async def _render(
    request: Request,
    engine: Engine,
    user: AuthUser,
    values: dict[str, Any],
    unit_id: str,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    units = await run_in_threadpool(_units, engine, user.org_path)
    options = {str(u.id): u.name for u in units}
    unit = Field(
        UNIT_FIELD,
        UNIT_TITLE,
        "select",
        True,
        unit_id or str(user.org_unit_id),
        list(options),
        description=UNIT_HINT,
        labels=options,
    )
    fields = fields_of(complaint.ComplaintStartForm.model_json_schema(), values, {})
    for f in fields:
        if f.name == "channel":
            f.options = [o for o in f.options if o in OPTION_LABELS["channel"]]
        if f.name == "reported_unit_id":
            # The unit a report names: one of the subtree's, by name.
            f.kind, f.options, f.labels = "select", list(options), options
            f.value = str(f.value) if f.value else None
        else:
            f.labels = OPTION_LABELS.get(f.name, {})
    return render(
        request,
        "cases/complaint_new.html",
        {"spec": complaint.SPEC, "fields": [unit, *fields], **extra},
        status_code=status_code,
    )


@router.get(PATH, response_class=HTMLResponse)
async def complaint_form(
    request: Request, user: PageUser, engine: EngineDep
) -> HTMLResponse:
    """The empty registration form (a window complaint by default, received today)."""
    _may_register(user)
    today = datetime.now(complaint.TZ).date().isoformat()
    values = {"channel": "window", "received_on": today}
    return await _render(request, engine, user, values, "")


@router.post(PATH, response_model=None)
async def register_complaint_form(
    request: Request,
    user: PageUser,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> Response:
    """登记: the new case's page, or the form again with each error beside its field
    and the values kept (422, as the API answers), or the earlier case named (409)."""
    _may_register(user)
    form = await request.form()
    data = data_from_form(complaint.ComplaintStartForm.model_json_schema(), form)
    unit_id = str(form.get(UNIT_FIELD) or "")
    if form.get("add_row"):
        # "添加行" of the representatives: the form again with new blank rows.
        return await _render(request, engine, user, data, unit_id)
    tr = translator(request)
    try:
        started = await case_actions.start_case(
            engine,
            temporal,
            settings,
            user,
            CaseCreate(
                process=complaint.PROCESS_KEY,
                org_unit_id=int(unit_id) if unit_id.isdigit() else None,
                data=data,
            ),
        )
    except HTTPException as exc:
        if exc.status_code == 403:
            raise
        errors: dict[str, str] = {}
        general: list[str] = []
        existing = ""
        if isinstance(exc.detail, list):  # 422: loc ["body", "data", field, …]
            items = [e for e in exc.detail if isinstance(e, dict)]
            errors, general = field_errors(
                [{**e, "loc": _page_loc(list(e.get("loc", [])))} for e in items], tr
            )
        elif isinstance(exc.detail, dict) and exc.detail.get("case_id"):
            existing = str(exc.detail["case_id"])  # 409: the earlier case, linked
            general = [tr.gettext(str(exc.detail.get("message", "")))]
        elif isinstance(exc.detail, dict):  # 503 {type, message}
            general = [tr.gettext(str(exc.detail.get("message", "")))]
        else:  # 404: a unit or veteran outside the subtree
            general = [tr.gettext(str(exc.detail))]
        page = await _render(
            request,
            engine,
            user,
            data,
            unit_id,
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


def _page_loc(loc: list[Any]) -> list[Any]:
    """An API error's place as the page's field: ``["body", "data", f]`` → ``["data",
    f]``; the handling unit (``["body", "org_unit_id"]``) beside its select."""
    rest = loc[1:]
    return ["data", UNIT_FIELD] if rest == [UNIT_FIELD] else rest
