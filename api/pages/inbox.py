"""我的工作台: the clerk's inbox page (mine / claimable / done), its self-refreshing
list, and saved filters (private or shared with the org unit)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, NamedTuple
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup
from sqlalchemy import Integer, String, bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.deps import AuthUser, EngineDep, ReadEngineDep, SettingsDep
from api.inbox_queries import InboxFilters, InboxRow, read_inbox_page
from api.params import IdPath
from api.web.i18n import Translator
from api.web.render import render, translator
from api.web.session import PageSession, PageSessionDep, PageUser
from models.processes import PROCESSES
from models.settings import Settings
from models.tables import OrgUnit, SavedFilter

router = APIRouter(include_in_schema=False)


# The page's two other lists, built once: each request binds the reader's values.
# Of a saved filter the page shows its name, query, owner and sharing: plain rows.
_SAVED_FILTERS = (
    sa_select(
        col(SavedFilter.id),
        col(SavedFilter.owner),
        col(SavedFilter.name),
        col(SavedFilter.query),
        col(SavedFilter.shared_org_unit_id),
    )
    .where(
        or_(
            SavedFilter.owner == bindparam("owner", type_=String),
            SavedFilter.shared_org_unit_id == bindparam("unit_id", type_=Integer),
        )
    )
    .order_by(col(SavedFilter.name))
)
_ORG_UNITS = (
    select(OrgUnit.id, OrgUnit.name)
    .where(col(OrgUnit.path).startswith(bindparam("org_path", type_=String)))
    .order_by(col(OrgUnit.path))
)


class SavedFilterRow(NamedTuple):
    """A saved filter as the page shows it."""

    id: int | None
    owner: str
    name: str
    query: str
    shared_org_unit_id: int | None


def _saved_filters(s: Session, user: AuthUser) -> list[SavedFilterRow]:
    """The reader's own filters and those shared with their unit, by name."""
    rows = s.connection().execute(
        _SAVED_FILTERS, {"owner": user.username, "unit_id": user.org_unit_id}
    )
    return [SavedFilterRow(*row) for row in rows.all()]


def _org_units(s: Session, user: AuthUser) -> list[tuple[int | None, str]]:
    """(id, name) of the units of the subtree, for the filter's list (a county's 300
    villages: two columns, not whole rows, fetched at once)."""
    return [
        (unit_id, name)
        for unit_id, name in s.connection()
        .execute(_ORG_UNITS, {"org_path": user.org_path})
        .all()
    ]


@lru_cache(maxsize=64)
def _unit_options(
    units: tuple[tuple[int | None, str], ...], chosen: int | None
) -> Markup:
    """The filter's ``<option>`` of each unit, the chosen one selected: the same list
    and choice give the same HTML, made once (a county's 300 villages took ~0.7 ms a
    page in the template)."""
    option = Markup('<option value="{}" {}>{}</option>')
    return Markup("").join(
        option.format(unit_id, "selected" if unit_id == chosen else "", name)
        for unit_id, name in units
    )


@lru_cache(maxsize=256)
def _choice_options(options: tuple[tuple[str, str], ...], chosen: str) -> Markup:
    """The ``<option>`` of each (value, label), the chosen one selected, as the filter's
    process and step lists were written in the template: the same options and choice
    give the same HTML, made once (the steps of every process are about 80)."""
    option = Markup('<option value="{}" {}>{}</option>')
    return Markup("").join(
        option.format(key, "selected" if key == chosen else "", label)
        for key, label in options
    )


def _context(
    request: Request, s: Session, settings: Settings, user: AuthUser
) -> dict[str, object]:
    """The page's reads, in ``s`` (one connection for the page's reads)."""
    params = dict(request.query_params)
    filters = InboxFilters.from_query(params)
    keep = {k: v for k, v in params.items() if v and k != "page"}
    tr = translator(request)
    _ = tr.gettext  # the template's ``_``
    page = read_inbox_page(s, user, filters, datetime.now(UTC), settings.at_risk_hours)
    org_units = _org_units(s, user)
    saved = _saved_filters(s, user)
    return {
        "page": page,
        "qs": urlencode(params),
        "base_qs": urlencode(keep),
        "tab_links": {
            tab: urlencode({**keep, "tab": tab})
            for tab in ("mine", "claimable", "done")
        },
        "processes": list(PROCESSES.values()),
        "org_unit_options": _unit_options(tuple(org_units), filters.org_unit),
        "process_options": _choice_options(
            tuple((p.key, _(p.title)) for p in PROCESSES.values()), filters.process
        ),
        "step_options": _choice_options(
            tuple((key, _(title)) for key, title in page.steps), filters.step
        ),
        "saved": saved,
        "now": datetime.now(UTC),
        **_row_texts(page.rows, tr),
    }


def _row_texts(rows: list[InboxRow], tr: Translator) -> dict[str, dict[Any, str]]:
    """The rows' translated titles, deadlines and remaining working days, each text
    made once for the page (the template looks them up): a call from the template
    costs ~2 µs, and a row made four."""
    titles: dict[Any, str] = {}
    due: dict[Any, str] = {}
    days_left: dict[Any, str] = {}
    for r in rows:
        for title in (r.process_title, r.task.title):
            if title not in titles:
                titles[title] = tr.gettext(title)
        if r.task.due_at not in due:
            due[r.task.due_at] = tr.datetime(r.task.due_at)
        n = r.working_days_left
        if n is not None and n not in days_left:
            days_left[n] = tr.gettext("剩余{n}个工作日", n=n)
    return {"titles": titles, "due_texts": due, "days_left": days_left}


def _read(
    request: Request, session: PageSession, reads: Engine, settings: Settings
) -> dict[str, object]:
    """The session's check and the page's reads on one connection."""
    with Session(reads) as s:
        user = session.user(s.connection())
        return _context(request, s, settings, user)


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(
    request: Request,
    session: PageSessionDep,
    reads: ReadEngineDep,
    settings: SettingsDep,
) -> HTMLResponse:
    def page() -> HTMLResponse:  # the reads and the template in one threadpool call
        ctx = _read(request, session, reads, settings)
        flash = request.query_params.get("flash")
        return render(request, "inbox/inbox.html", {**ctx, "flash": flash})

    return await run_in_threadpool(page)


@router.get("/inbox/list", response_class=HTMLResponse)
async def inbox_list(
    request: Request,
    session: PageSessionDep,
    reads: ReadEngineDep,
    settings: SettingsDep,
) -> HTMLResponse:
    """The list alone: htmx polls it so the inbox refreshes itself."""

    def page() -> HTMLResponse:
        ctx = _read(request, session, reads, settings)
        return render(request, "inbox/_list.html", ctx)

    return await run_in_threadpool(page)


@router.post("/inbox/filters")
async def save_filter(
    user: PageUser,
    engine: EngineDep,
    name: Annotated[str, Form(min_length=1, max_length=100)],
    query: Annotated[str, Form(max_length=2000)],
    shared: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    def save() -> None:
        with Session(engine) as s:
            row = SavedFilter(
                owner=user.username,
                name=name,
                query=query,
                shared_org_unit_id=user.org_unit_id if shared else None,
            )
            s.add(row)
            s.flush()
            record_audit(
                s,
                actor=user.username,
                action="filter_saved",
                entity_type="saved_filter",
                entity_id=str(row.id),
                after={"name": name, "query": query, "shared": shared},
            )
            s.commit()

    await run_in_threadpool(save)
    return RedirectResponse(f"/inbox?{query}", status_code=303)


@router.post("/inbox/filters/{filter_id}/delete")
async def delete_filter(
    filter_id: IdPath, user: PageUser, engine: EngineDep
) -> RedirectResponse:
    def delete() -> None:
        with Session(engine) as s:
            row = s.get(SavedFilter, filter_id)
            if row is None or row.owner != user.username:
                raise HTTPException(404)
            s.delete(row)
            record_audit(
                s,
                actor=user.username,
                action="filter_deleted",
                entity_type="saved_filter",
                entity_id=str(filter_id),
            )
            s.commit()

    await run_in_threadpool(delete)
    return RedirectResponse("/inbox", status_code=303)
