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

from sqlalchemy import Date, Integer, String, and_, bindparam, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from api.case_queries import not_excluded, visible_tasks_bound
from api.deps import AuthUser
from api.params import MAX_PAGE, ascii_int, bounded_date
from api.task_reads import step_holder
from models.idnumber import mask_id_number
from models.processes import PROCESSES
from models.tables import Case, Holiday, HumanTask, OrgUnit, Veteran
from models.workdays import TZ, WorkCalendar

TABS = ("mine", "claimable", "done")
# A sort's name and the task column it orders by.
SORT_COLUMNS = {
    "due": "due_at",
    "created": "created_at",
    "case": "case_id",
    "step": "step",
}
SORTS = {key: col(getattr(HumanTask, name)) for key, name in SORT_COLUMNS.items()}
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


LISTED_NAMES = tuple(f.name for f in fields(ListedTask))
LISTED_COLUMNS = tuple(col(getattr(HumanTask, name)) for name in LISTED_NAMES)


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
    page = _with_subjects(
        _page_of(q, sort, desc).offset(bindparam("offset", type_=Integer)).limit(limit),
        sort,
        desc,
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


def _page_of(query: Any, sort: str, desc: bool) -> Any:
    """The listed columns of ``query``'s tasks (and the sort's column), in the page's
    order: limit and offset it, then ``_with_subjects``."""
    order = SORTS[sort].desc() if desc else SORTS[sort].asc()
    extra = [] if SORT_COLUMNS[sort] in LISTED_NAMES else [SORTS[sort]]
    return query.with_only_columns(*LISTED_COLUMNS, *extra).order_by(
        order, col(HumanTask.id)
    )


# ``models.workdays.load_overrides`` as plain (day, workday) rows, built once.
_OVERRIDES = select(col(Holiday.day), col(Holiday.workday)).where(
    col(Holiday.day) >= bindparam("start", type_=Date),
    col(Holiday.day) <= bindparam("end", type_=Date),
)
_TASK_UNIT = aliased(OrgUnit, name="task_unit")
_SUBJECT_UNIT = aliased(OrgUnit, name="subject_unit")


class RowSubject(NamedTuple):
    """What the list shows of a row's case, read with the row (``_with_subjects``)."""

    veteran_id: int | None  # None: no case, no veteran, or a case about a unit
    spec_version: int | None
    veteran_name: str | None
    veteran_id_number: str | None
    unit_name: str | None  # the task's unit
    subject_unit: str | None  # the unit a case without a veteran is about


def _with_subjects(page: Any, sort: str, desc: bool) -> Any:
    """The page's rows (``ListedTask``'s columns, then ``RowSubject``'s), each with its
    case's subject and version and its unit's name: one statement, the case, veteran
    and units joined to the page's rows after its limit (at most ``PER_PAGE``), in
    the page's order. Of a case the list needs its subject and version, not its
    data; of a veteran the name and the (masked) ID number."""
    listed = page.subquery("listed")
    key = listed.c[SORT_COLUMNS[sort]]
    columns: list[Any] = [listed.c[name] for name in LISTED_NAMES]
    return (
        sa_select(
            *columns,
            col(Veteran.id),
            col(Case.spec_version),
            col(Veteran.name),
            col(Veteran.id_number),
            col(_TASK_UNIT.name),
            col(_SUBJECT_UNIT.name),
        )
        .select_from(listed)
        .outerjoin(Case, col(Case.id) == listed.c.case_id)
        .outerjoin(Veteran, col(Veteran.id) == col(Case.veteran_id))
        .outerjoin(_TASK_UNIT, col(_TASK_UNIT.id) == listed.c.org_unit_id)
        .outerjoin(
            _SUBJECT_UNIT,
            and_(
                col(_SUBJECT_UNIT.id) == col(Case.org_unit_id),
                col(Case.veteran_id).is_(None),
            ),
        )
        .order_by(key.desc() if desc else key.asc(), listed.c.id)
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
        page = _page_of(query, f.sort, f.desc)
        listed = conn.execute(
            _with_subjects(
                page.offset((f.page - 1) * PER_PAGE).limit(PER_PAGE), f.sort, f.desc
            )
        ).all()
    n = len(LISTED_NAMES)
    read = [(ListedTask(*row[:n]), RowSubject(*row[n:])) for row in listed]
    days = {
        "start": now.date() - timedelta(days=400),
        "end": now.date() + timedelta(days=400),
    }
    cal = WorkCalendar(dict(conn.execute(_OVERRIDES, days).all()))
    rows = []
    holders: dict[tuple[str, str, int | None], str] = {}  # a page shares few steps
    for t, subject in read:
        version = subject.spec_version
        if (t.process, t.step, version) not in holders:
            holders[t.process, t.step, version] = step_holder(
                t.process, t.step, version
            )
        due = (
            t.due_at.replace(tzinfo=UTC)
            if t.due_at is not None and t.due_at.tzinfo is None
            else t.due_at
        )
        spec = PROCESSES.get(t.process)
        found = subject.veteran_id is not None
        rows.append(
            InboxRow(
                task=t,
                veteran_name=subject.veteran_name or "" if found else "",
                veteran_id_masked=mask_id_number(subject.veteran_id_number or "")
                if found
                else "",
                veteran_id=subject.veteran_id or 0,
                org_unit_name=subject.unit_name or "",
                subject_unit=subject.subject_unit or "",
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
