"""The staff inbox: three lists (mine, claimable, done) with filters, sorting and pages.

One query per list plus one count per tab; the page's rows get their remaining working
days from the calendar. Each tab's query has an index made for it (models/tables.py,
plans checked in tests/api/test_inbox_plans.py). A count stops at ``COUNT_CAP`` rows
past the current page (shown as "999+"): a county clerk's 100,000 open or 20,000 done
tasks are not counted on every view (bench/inbox_bench.py --postgres).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Integer, String, and_, bindparam, func, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.case_queries import not_excluded, visible_tasks_bound
from api.deps import AuthUser
from api.params import MAX_PAGE, ascii_int, bounded_date
from api.task_reads import step_holder
from models.idnumber import mask_id_number
from models.processes import PROCESSES
from models.tables import Case, HumanTask, OrgUnit, Veteran
from models.workdays import TZ, WorkCalendar, load_overrides

TABS = ("mine", "claimable", "done")
SORTS = {
    "due": col(HumanTask.due_at),
    "created": col(HumanTask.created_at),
    "case": col(HumanTask.case_id),
    "step": col(HumanTask.step),
}
PER_PAGE = 50
# A tab's count stops here (past the rows before the current page): shown as "999+".
COUNT_CAP = 999


@dataclass(frozen=True, slots=True)
class ListedTask:
    """A task as the list shows it: the columns the list reads, read as a plain row.
    None of the task's JSON (its form's schema alone is about 1 KB a row) leaves the
    database, and reading it from a row of the list raises."""

    id: str
    case_id: str
    process: str
    step: str
    title: str
    regulation: str
    round: int
    status: str
    assignee: str | None
    due_at: datetime | None
    overdue: bool
    org_unit_id: int


LISTED_COLUMNS = tuple(col(getattr(HumanTask, f.name)) for f in fields(ListedTask))


@dataclass
class InboxFilters:
    tab: str = "claimable"
    process: str = ""
    step: str = ""
    due_from: date | None = None
    due_to: date | None = None
    org_unit: int | None = None
    q: str = ""
    urgency: str = ""  # overdue | at_risk | on_time
    sort: str = "due"
    desc: bool = False
    page: int = 1

    @classmethod
    def from_query(cls, params: dict[str, str]) -> InboxFilters:
        tab = params.get("tab", "claimable")
        org = params.get("org_unit", "")
        page = params.get("page", "1")
        return cls(
            tab=tab if tab in TABS else "claimable",
            process=params.get("process", ""),
            step=params.get("step", ""),
            due_from=bounded_date(params.get("due_from")),
            due_to=bounded_date(params.get("due_to")),
            org_unit=ascii_int(org, low=1),
            q=params.get("q", "").strip(),
            urgency=params.get("urgency", "")
            if params.get("urgency") in ("overdue", "at_risk", "on_time")
            else "",
            sort=params.get("sort", "due") if params.get("sort") in SORTS else "due",
            desc=params.get("desc") == "1",
            page=ascii_int(page, low=1, high=MAX_PAGE) or 1,
        )


class CaseOfRow(NamedTuple):
    veteran_id: int | None
    org_unit_id: int
    spec_version: int


@dataclass
class InboxRow:
    task: ListedTask
    veteran_name: str
    veteran_id_masked: str
    veteran_id: int
    org_unit_name: str
    # A case about an org unit (no veteran, e.g. a county's monthly payroll): the unit.
    subject_unit: str
    process_title: str
    urgency: str  # overdue | at_risk | on_time | none
    working_days_left: int | None
    # "veteran": the veteran's own report, which a clerk may make for them (帮办).
    holder: str = "agency"


@dataclass
class InboxPage:
    rows: list[InboxRow]
    # Rows of the current tab, or a lower bound when the count stopped at its cap.
    total: int
    counts: dict[str, int]
    filters: InboxFilters
    pages: int
    steps: list[tuple[str, str]] = field(default_factory=list)
    # Tabs whose count stopped at the cap: there are more rows than counted.
    capped: frozenset[str] = frozenset()

    def count_label(self, tab: str) -> str:
        """The tab's count as shown: "999+" when it stopped at the cap."""
        return f"{self.counts[tab]}+" if tab in self.capped else str(self.counts[tab])

    @property
    def total_label(self) -> str:
        return self.count_label(self.filters.tab)

    @property
    def pages_label(self) -> str:
        capped = self.filters.tab in self.capped
        return f"{self.pages}+" if capped else str(self.pages)


def _tab_query(user: AuthUser, tab: str) -> Any:
    q = select(HumanTask).where(
        col(HumanTask.org_path).startswith(user.org_path),
        not_excluded(user.username, user.org_path, col(HumanTask.case_id)),
    )
    if tab == "mine":
        return q.where(HumanTask.status == "open", HumanTask.assignee == user.username)
    if tab == "done":
        return q.where(
            HumanTask.status == "completed", HumanTask.completed_by == user.username
        )
    return q.where(
        HumanTask.status == "open",
        col(HumanTask.assignee).is_(None),
        col(HumanTask.candidate_role).in_(user.roles),
    )


@functools.cache
def _tab_statements(tab: str, sort: str, desc: bool) -> tuple[Any, Any]:
    """A tab's count (``limit``: where it stops) and page (``limit`` rows from
    ``offset``) without filters, built once with bound parameters
    (``_tab_params``): the clauses, order and limits of the statements ``_tab_query``
    builds, so the SQL the database receives is theirs (only the names of its
    placeholders differ)."""
    q = visible_tasks_bound()
    status = bindparam("status", type_=String)
    if tab == "mine":
        q = q.where(
            HumanTask.status == status,
            HumanTask.assignee == bindparam("assignee", type_=String),
        )
    elif tab == "done":
        q = q.where(
            HumanTask.status == status,
            HumanTask.completed_by == bindparam("completed_by", type_=String),
        )
    else:
        q = q.where(
            HumanTask.status == status,
            col(HumanTask.assignee).is_(None),
            col(HumanTask.candidate_role).in_(
                bindparam("roles", type_=String, expanding=True)
            ),
        )
    limit = bindparam("limit", type_=Integer)
    count = select(func.count()).select_from(
        q.with_only_columns(col(HumanTask.id)).limit(limit).subquery()
    )
    order = SORTS[sort].desc() if desc else SORTS[sort].asc()
    page = (
        q.with_only_columns(*LISTED_COLUMNS)
        .order_by(order, col(HumanTask.id))
        .offset(bindparam("offset", type_=Integer))
        .limit(limit)
    )
    return count, page


def _tab_params(user: AuthUser, tab: str) -> dict[str, Any]:
    """The values of a ``_tab_statements`` statement's tab and reader."""
    params: dict[str, Any] = {
        "org_path": user.org_path,
        "username": user.username,
        "reader_path": user.org_path,
    }
    if tab == "mine":
        params.update(status="open", assignee=user.username)
    elif tab == "done":
        params.update(status="completed", completed_by=user.username)
    else:
        params.update(status="open", roles=list(user.roles))
    return params


_CASES_OF_ROWS = select(
    Case.id, Case.veteran_id, Case.org_unit_id, Case.spec_version
).where(col(Case.id).in_(bindparam("ids", expanding=True)))
_VETERANS_OF_ROWS = select(Veteran.id, Veteran.name, Veteran.id_number).where(
    col(Veteran.id).in_(bindparam("ids", expanding=True))
)
_UNITS_OF_ROWS = select(OrgUnit.id, OrgUnit.name).where(
    col(OrgUnit.id).in_(bindparam("ids", expanding=True))
)


def _filtered(
    session: Session, query: Any, f: InboxFilters, now: datetime, at_risk: timedelta
) -> Any:
    if f.process:
        query = query.where(HumanTask.process == f.process)
    if f.step:
        query = query.where(HumanTask.step == f.step)
    if f.due_from:
        query = query.where(
            col(HumanTask.due_at) >= datetime.combine(f.due_from, time.min, tzinfo=TZ)
        )
    if f.due_to:
        query = query.where(
            col(HumanTask.due_at)
            < datetime.combine(f.due_to + timedelta(days=1), time.min, tzinfo=TZ)
        )
    if f.org_unit:
        unit = session.get(OrgUnit, f.org_unit)
        query = query.where(
            col(HumanTask.org_path).startswith(unit.path if unit else "/nowhere/")
        )
    if f.urgency == "overdue":
        query = query.where(or_(col(HumanTask.overdue), col(HumanTask.due_at) < now))
    elif f.urgency == "at_risk":
        query = query.where(
            ~col(HumanTask.overdue),
            col(HumanTask.due_at) >= now,
            col(HumanTask.due_at) <= now + at_risk,
        )
    elif f.urgency == "on_time":
        query = query.where(
            ~col(HumanTask.overdue), col(HumanTask.due_at) > now + at_risk
        )
    if f.q:
        vets = select(Veteran.id).where(
            or_(
                col(Veteran.name).startswith(f.q), col(Veteran.id_number) == f.q.upper()
            )
        )
        units = select(OrgUnit.id).where(col(OrgUnit.name).startswith(f.q))
        cases = select(Case.id).where(
            or_(
                col(Case.veteran_id).in_(vets),
                and_(col(Case.veteran_id).is_(None), col(Case.org_unit_id).in_(units)),
            )
        )
        query = query.where(col(HumanTask.case_id).in_(cases))
    return query


def urgency(task: HumanTask | ListedTask, now: datetime, at_risk: timedelta) -> str:
    due = task.due_at
    if due is not None and due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    if task.status != "open":
        return "none"
    if task.overdue or (due is not None and due < now):
        return "overdue"
    if due is not None and due - now <= at_risk:
        return "at_risk"
    return "on_time" if due is not None else "none"


def inbox_page(
    engine: Engine, user: AuthUser, f: InboxFilters, now: datetime, at_risk_hours: float
) -> InboxPage:
    with Session(engine) as s:
        return read_inbox_page(s, user, f, now, at_risk_hours)


def read_inbox_page(
    s: Session, user: AuthUser, f: InboxFilters, now: datetime, at_risk_hours: float
) -> InboxPage:
    """The page, read in ``s`` (the inbox page reads its other lists in the same
    session: one connection for the request)."""
    risk = timedelta(hours=at_risk_hours)
    counts: dict[str, int] = {}
    capped = set()
    # Without filters (the tabs as a clerk opens them) the statements are the ones
    # built once (``_tab_statements``); a filtered view builds its own.
    unfiltered = not (
        f.process or f.step or f.due_from or f.due_to or f.org_unit or f.q or f.urgency
    )
    # The statements built once select columns, not ORM entities: run on the session's
    # connection they give the same rows without the ORM's result handling.
    conn = s.connection()
    for tab in TABS:
        # The current tab counts on past its page, so that its next pages show.
        cap = COUNT_CAP + ((f.page - 1) * PER_PAGE if tab == f.tab else 0)
        if unfiltered:
            found = conn.execute(
                _tab_statements(tab, "due", False)[0],
                {**_tab_params(user, tab), "limit": cap + 1},
            ).scalar_one()
        else:
            rows = _filtered(s, _tab_query(user, tab), f, now, risk)
            found = s.exec(
                select(func.count()).select_from(
                    rows.with_only_columns(col(HumanTask.id)).limit(cap + 1).subquery()
                )
            ).one()
        counts[tab] = min(int(found), cap)
        if found > cap:
            capped.add(tab)
    listed: Sequence[Any]
    if unfiltered:
        listed = conn.execute(
            _tab_statements(f.tab, f.sort, f.desc)[1],
            {
                **_tab_params(user, f.tab),
                "limit": PER_PAGE,
                "offset": (f.page - 1) * PER_PAGE,
            },
        ).all()
    else:
        query = _filtered(s, _tab_query(user, f.tab), f, now, risk)
        order = SORTS[f.sort].desc() if f.desc else SORTS[f.sort].asc()
        listed = s.execute(
            query.with_only_columns(*LISTED_COLUMNS)
            .order_by(order, col(HumanTask.id))
            .offset((f.page - 1) * PER_PAGE)
            .limit(PER_PAGE)
        ).all()
    tasks = [ListedTask(*row) for row in listed]
    case_ids = {t.case_id for t in tasks}
    # Of a row's case the list needs its subject and version, not its data.
    cases: dict[str, CaseOfRow] = (
        {
            case_id: CaseOfRow(veteran_id, org_unit_id, spec_version)
            for case_id, veteran_id, org_unit_id, spec_version in conn.execute(
                _CASES_OF_ROWS, {"ids": list(case_ids)}
            ).all()
        }
        if case_ids
        else {}
    )
    vet_ids = {c.veteran_id for c in cases.values() if c.veteran_id}
    # Of a veteran the list shows the name and the (masked) ID number.
    vets: dict[int, tuple[str, str]] = (
        {
            vet_id: (name, id_number)
            for vet_id, name, id_number in conn.execute(
                _VETERANS_OF_ROWS, {"ids": list(vet_ids)}
            ).all()
            if vet_id is not None
        }
        if vet_ids
        else {}
    )
    unit_ids = {t.org_unit_id for t in tasks} | {
        c.org_unit_id for c in cases.values() if not c.veteran_id
    }
    units: dict[int, str] = (
        dict(conn.execute(_UNITS_OF_ROWS, {"ids": list(unit_ids)}).all())
        if unit_ids
        else {}
    )
    cal = WorkCalendar(
        load_overrides(
            s, now.date() - timedelta(days=400), now.date() + timedelta(days=400)
        )
    )
    rows = []
    holders: dict[tuple[str, str, int | None], str] = {}  # a page shares few steps
    for t in tasks:
        case = cases.get(t.case_id)
        version = case.spec_version if case else None
        if (t.process, t.step, version) not in holders:
            holders[t.process, t.step, version] = step_holder(
                t.process, t.step, version
            )
        vet_id = case.veteran_id if case and case.veteran_id in vets else None
        vet = vets[vet_id] if vet_id is not None else None
        due = (
            t.due_at.replace(tzinfo=UTC)
            if t.due_at is not None and t.due_at.tzinfo is None
            else t.due_at
        )
        spec = PROCESSES.get(t.process)
        rows.append(
            InboxRow(
                task=t,
                veteran_name=vet[0] if vet else "",
                veteran_id_masked=mask_id_number(vet[1]) if vet else "",
                veteran_id=vet_id or 0,
                org_unit_name=units.get(t.org_unit_id, ""),
                subject_unit=units.get(case.org_unit_id, "")
                if case and not case.veteran_id
                else "",
                holder=holders[t.process, t.step, version],
                process_title=spec.title if spec else t.process,
                urgency=urgency(t, now, risk),
                working_days_left=cal.working_days_between(now, due)
                if due is not None and t.status == "open"
                else None,
            )
        )
    total = counts[f.tab]
    steps = [(st.key, st.title) for spec in PROCESSES.values() for st in spec.steps]
    return InboxPage(
        rows=rows,
        total=total,
        counts=counts,
        filters=f,
        pages=max(1, -(-total // PER_PAGE)),
        steps=steps,
        capped=frozenset(capped),
    )
