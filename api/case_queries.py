"""Read-side queries of the case and task projection, filtered to the caller's subtree.

Sync SQLModel code; route handlers call it through ``run_in_threadpool``.
"""

from __future__ import annotations

import functools
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, and_, bindparam, cast, func, literal, or_
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from models.tables import (
    Account,
    AuditEvent,
    Case,
    CaseExclusion,
    HumanTask,
    Notice,
    OrgUnit,
    Veteran,
)


def excludes(
    username: str | BindParameter[str], org_path: str | BindParameter[str]
) -> ColumnElement[bool]:
    """The ``case_exclusion`` rows that keep a case from this reader: a row naming the
    account, or a unit the reader's unit lies in (its path starts with the row's).
    ``username`` and ``org_path`` are values, or bound parameters of a statement built
    once (``list_tasks``)."""
    path = org_path if isinstance(org_path, BindParameter) else literal(org_path)
    return or_(
        col(CaseExclusion.username) == username,
        and_(
            col(CaseExclusion.org_path).is_not(None),
            path.startswith(col(CaseExclusion.org_path)),
        ),
    )


def not_excluded(
    username: str | BindParameter[str],
    org_path: str | BindParameter[str],
    case_id: Any = None,
) -> ColumnElement[bool]:
    """The one exclusion rule of every case and task read (``case_exclusion``): a case
    is hidden from an account a row names, and from every account of a unit a row
    names or of a unit under it, although the case lies in their subtree (the reported
    unit and person of a 检举控告, 信访工作条例 第三十条; the rated clerk kept from the
    rater). ``case_id`` is the column to test (``Case.id`` by default, e.g.
    ``HumanTask.case_id``). A NOT IN over the small exclusion table: the outer query
    keeps its own indexes."""
    column = col(Case.id) if case_id is None else case_id
    return column.not_in(
        select(CaseExclusion.case_id).where(excludes(username, org_path))
    )


def case_is_excluded(s: Session, case_id: str, *, username: str, org_path: str) -> bool:
    """True when a ``case_exclusion`` row keeps this case from the reader (the rule of
    ``not_excluded``, for a single-row read)."""
    row = s.exec(
        select(CaseExclusion.id).where(
            CaseExclusion.case_id == case_id, excludes(username, org_path)
        )
    ).first()
    return row is not None


def visible_case(
    engine: Engine, case_id: str, org_path: str, *, username: str
) -> Case | None:
    """The case if it lies in the caller's subtree and is not kept from them
    (``not_excluded``), else None (the API answers 404). ``username`` "" for a check
    made for nobody in particular (the start's own lookup of a case id)."""
    with Session(engine) as s:
        case = s.get(Case, case_id)
        if case is None or not case.org_path.startswith(org_path):
            return None
        if case_is_excluded(s, case_id, username=username, org_path=org_path):
            return None
        return case


def status_is(status: str) -> ColumnElement[bool]:
    """A case status filter: ``running`` is every status but ``closed`` (a process may
    keep its own statuses while it runs, e.g. the annual review's 补正中)."""
    if status == "running":
        return col(Case.status) != "closed"
    return col(Case.status) == status


def list_cases(
    engine: Engine,
    org_path: str,
    *,
    username: str,
    process: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Case], int]:
    with Session(engine) as s:
        q = select(Case).where(
            col(Case.org_path).startswith(org_path), not_excluded(username, org_path)
        )
        if process:
            q = q.where(Case.process == process)
        if status:
            q = q.where(status_is(status))
        total = s.exec(select(func.count()).select_from(q.subquery())).one()
        rows = s.exec(
            q.order_by(col(Case.started_at).desc()).offset(offset).limit(limit)
        ).all()
        return list(rows), int(total)


def case_tasks(engine: Engine, case_id: str) -> list[HumanTask]:
    with Session(engine) as s:
        q = (
            select(HumanTask)
            .where(HumanTask.case_id == case_id)
            .order_by(col(HumanTask.created_at))
        )
        return list(s.exec(q).all())


def case_notices(engine: Engine, case_id: str) -> list[Notice]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(Notice).where(Notice.case_id == case_id).order_by(col(Notice.id))
            ).all()
        )


def visible_task_and_version(
    bind: Engine | Connection, task_id: str, org_path: str, *, username: str
) -> tuple[HumanTask, int | None] | None:
    """The task if it lies in the caller's subtree and its case is not kept from them
    (``not_excluded``), else None (404); with the version of the process definition
    its case runs (None: the case has no row, or predates versions). One statement,
    built once, on an engine or on a connection the caller holds."""
    with Session(bind) as s:
        row = s.execute(
            _visible_task_statement(),
            params={
                "task_id": task_id,
                "org_path": org_path,
                "reader_path": org_path,
                "username": username,
            },
        ).first()
    if row is None:
        return None
    task, version = row
    return task, version


@functools.cache
def _visible_task_statement() -> Select[Any]:
    """The task by id within the bound subtree, unless its case is kept from the
    reader (the rule of the task list, ``visible_tasks_bound``), and its case's
    definition version."""
    return (
        visible_tasks_bound()
        .add_columns(col(Case.spec_version))
        .outerjoin(Case, col(Case.id) == col(HumanTask.case_id))
        .where(col(HumanTask.id) == bindparam("task_id", type_=String))
    )


def visible_tasks_bound() -> SelectOfScalar[HumanTask]:
    """Tasks of the subtree at the bound ``org_path`` that the bound ``username``
    (reading at ``reader_path``) is not excluded from: the base of the statements
    built once with bound parameters (the task list here, the inbox tabs)."""
    return select(HumanTask).where(
        col(HumanTask.org_path).startswith(bindparam("org_path", type_=String)),
        not_excluded(
            bindparam("username", type_=String),
            bindparam("reader_path", type_=String),
            col(HumanTask.case_id),
        ),
    )


@functools.cache
def _task_list_statements(
    status: bool, mine: bool, case_id: bool, capped: bool
) -> tuple[Select[Any], Select[Any]]:
    """The count and the page of ``list_tasks`` for one choice of filters, built once
    with bound parameters: the clauses, order and limits of a statement built per
    call, so the SQL the database receives is that statement's (only the names of its
    placeholders differ); only the values change between calls."""
    q = visible_tasks_bound()
    if status:
        q = q.where(HumanTask.status == bindparam("status", type_=String))
    if mine:
        q = q.where(HumanTask.assignee == bindparam("assignee", type_=String))
    if case_id:
        q = q.where(HumanTask.case_id == bindparam("case_id", type_=String))
    counted = q.with_only_columns(col(HumanTask.id))
    if capped:
        counted = counted.limit(bindparam("limit", type_=Integer))
    count = sa_select(func.count()).select_from(counted.subquery())
    # Tasks without a due date last. Spelled NULLS LAST rather than as a sort on
    # ``due_at IS NULL``, so PostgreSQL reads the order off its due-date indexes.
    order = (col(HumanTask.due_at).asc().nulls_last(), col(HumanTask.created_at))
    page = (
        q.with_only_columns(*sa_inspect(HumanTask).columns)
        .order_by(*order)
        .offset(bindparam("offset", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
    )
    return count, page


def list_tasks(
    bind: Engine | Connection,
    org_path: str,
    *,
    username: str,
    status: str | None,
    mine: bool,
    case_id: str | None,
    limit: int,
    offset: int,
    count_limit: int | None = None,
) -> tuple[list[Row[Any]], int]:
    """A page of the subtree's tasks and how many match. With ``count_limit`` the
    count stops past that many rows (it answers ``count_limit + 1`` when more match):
    a county's 100,000 open tasks are not counted for every page. The tasks are plain
    rows of every column (the statement an ORM read of ``HumanTask`` sends, without
    making 50 ORM objects of it). ``bind``: an engine (a connection of its own) or the
    connection of the caller's other reads."""
    count, page = _task_list_statements(
        bool(status), mine, bool(case_id), count_limit is not None
    )
    params: dict[str, Any] = {
        "org_path": org_path,
        "username": username,
        "reader_path": org_path,
    }
    if status:
        params["status"] = status
    if mine:
        params["assignee"] = username
    if case_id:
        params["case_id"] = case_id
    with bind.connect() if isinstance(bind, Engine) else nullcontext(bind) as conn:
        total = conn.execute(
            count,
            params if count_limit is None else {**params, "limit": count_limit + 1},
        ).scalar_one()
        rows = conn.execute(page, {**params, "limit": limit, "offset": offset}).all()
        return list(rows), int(total)


def veteran_in_subtree(
    engine: Engine, veteran_id: int, org_path: str
) -> tuple[Veteran, OrgUnit] | None:
    with Session(engine) as s:
        vet = s.get(Veteran, veteran_id)
        if vet is None:
            return None
        unit = s.get(OrgUnit, vet.org_unit_id)
        if unit is None or not unit.path.startswith(org_path):
            return None
        return vet, unit


@dataclass(frozen=True)
class StartFacts:
    """What a start of ``process`` for a veteran must know before it goes to Temporal."""

    category: str  # the veteran's
    unit_path: str  # the veteran's unit's
    cases: int  # the veteran's cases of the process so far, open or closed
    existing: str | None  # the id of the case that makes this start a 409, if any


def start_facts(
    engine: Engine,
    veteran_id: int,
    org_path: str,
    process: str,
    *,
    once_id: str | None = None,
) -> StartFacts | None:
    """The veteran's category and unit path, None unless the unit lies in the subtree
    of ``org_path``; with the count of their cases of ``process`` and the case that
    blocks a start: one still open, else (``once_id``, the id of a once-per-veteran
    process) a case of that id that a check for nobody in particular sees
    (``visible_case`` with "/" and no user name). One statement (the veteran joined
    to their unit and their cases), one hop from the event loop."""
    params: dict[str, Any] = {"veteran_id": veteran_id, "process": process}
    if once_id is not None:
        params["once_id"] = once_id
    with Session(engine) as s:
        rows = s.execute(_start_facts_statement(once_id is not None), params).all()
        if not rows or not str(rows[0][1]).startswith(org_path):
            return None
        # (id, status, org_path, the veteran's case of the process); none: no case.
        found = [
            (str(i), str(status), str(path), bool(is_mine))
            for _, _, i, status, path, is_mine in rows
            if i is not None
        ]
        cases = sum(1 for *_, is_mine in found if is_mine)
        existing = next(
            (i for i, status, _, is_mine in found if is_mine and status != "closed"),
            None,
        )
        if existing is None and once_id is not None:
            existing = next(
                (
                    i
                    for i, _, path, _ in found
                    if i == once_id
                    and path.startswith("/")
                    and not case_is_excluded(s, i, username="", org_path="/")
                ),
                None,
            )
        return StartFacts(str(rows[0][0]), str(rows[0][1]), cases, existing)


@functools.cache
def _start_facts_statement(once: bool) -> Select[str, str, str, str, str, bool]:
    """``start_facts``'s statement, built once with bound parameters (``veteran_id``,
    ``process`` and, for a once-per-veteran process, ``once_id``)."""
    veteran_id = bindparam("veteran_id", type_=Integer)
    mine = and_(
        col(Case.veteran_id) == veteran_id,
        col(Case.process) == bindparam("process", type_=String),
    )
    joined = or_(mine, col(Case.id) == bindparam("once_id", type_=String))
    return (
        sa_select(
            col(Veteran.category),
            col(OrgUnit.path),
            col(Case.id),
            col(Case.status),
            col(Case.org_path),
            mine.label("mine"),
        )
        .select_from(Veteran)
        .join(OrgUnit, col(OrgUnit.id) == Veteran.org_unit_id)
        .outerjoin(Case, joined if once else mine)
        .where(col(Veteran.id) == veteran_id)
    )


def case_subject(engine: Engine, case: Case) -> tuple[Veteran | None, OrgUnit | None]:
    """Who a case is about: its veteran (None for a case about an org unit, e.g. a
    county's monthly payroll) and its org unit (the subject when there is no veteran)."""
    with Session(engine) as s:
        vet = s.get(Veteran, case.veteran_id) if case.veteran_id else None
        return vet, s.get(OrgUnit, case.org_unit_id)


def unit_names(engine: Engine, unit_ids: set[int]) -> dict[int, str]:
    """Org unit names by id (the subject shown for cases without a veteran)."""
    if not unit_ids:
        return {}
    with Session(engine) as s:
        rows = s.exec(select(OrgUnit).where(col(OrgUnit.id).in_(unit_ids))).all()
        return {u.id or 0: u.name for u in rows}


def account_names(engine: Engine, usernames: set[str]) -> dict[str, str]:
    """Display names by user name (who did a step on the veteran's behalf)."""
    if not usernames:
        return {}
    with Session(engine) as s:
        rows = s.exec(select(Account).where(col(Account.username).in_(usernames))).all()
        return {a.username: a.display_name for a in rows}


def account_with_unit(engine: Engine, username: str) -> tuple[Account, OrgUnit] | None:
    with Session(engine) as s:
        acc = s.exec(select(Account).where(Account.username == username)).first()
        if acc is None:
            return None
        unit = s.get(OrgUnit, acc.org_unit_id)
        return (acc, unit) if unit else None


def search_cases(
    engine: Engine,
    org_path: str,
    *,
    username: str,
    number: str = "",
    veteran: str = "",
    process: str = "",
    status: str = "",
    started_from: datetime | None = None,
    started_before: datetime | None = None,
    text: str = "",
    limit: int = 200,
) -> list[tuple[Case, Veteran | None]]:
    """Cases of the subtree, newest first, each with its veteran: by case number (part of
    it), veteran name prefix or full ID number (``text``: any of the three; a case
    about an org unit matches by the unit's name), process, status (``running``: any
    status but closed) and start date. An ID number matches only whole (lists show it masked; a
    fragment of it finds nothing); ``%`` and ``_`` in a term are plain characters."""

    def veterans_matching(term: str) -> Any:
        return select(Veteran.id).where(
            or_(
                col(Veteran.name).startswith(term, autoescape=True),
                col(Veteran.id_number) == term.upper(),
            )
        )

    def subject_matches(term: str) -> ColumnElement[bool]:
        """The veteran, or for a case about an org unit the unit, by name."""
        units = select(OrgUnit.id).where(
            col(OrgUnit.name).startswith(term, autoescape=True)
        )
        return or_(
            col(Case.veteran_id).in_(veterans_matching(term)),
            and_(col(Case.veteran_id).is_(None), col(Case.org_unit_id).in_(units)),
        )

    with Session(engine) as s:
        q = select(Case).where(
            col(Case.org_path).startswith(org_path), not_excluded(username, org_path)
        )
        if number.strip():
            q = q.where(col(Case.id).contains(number.strip(), autoescape=True))
        if veteran.strip():
            q = q.where(subject_matches(veteran.strip()))
        if term := text.strip():
            q = q.where(
                or_(col(Case.id).contains(term, autoescape=True), subject_matches(term))
            )
        if process:
            q = q.where(Case.process == process)
        if status:
            q = q.where(status_is(status))
        if started_from:
            q = q.where(col(Case.started_at) >= started_from)
        if started_before:
            q = q.where(col(Case.started_at) < started_before)
        cases = list(s.exec(q.order_by(col(Case.started_at).desc()).limit(limit)).all())
        ids = {c.veteran_id for c in cases if c.veteran_id}
        vets_by_id = (
            {
                v.id: v
                for v in s.exec(select(Veteran).where(col(Veteran.id).in_(ids))).all()
            }
            if ids
            else {}
        )
        return [(c, vets_by_id.get(c.veteran_id)) for c in cases]


def audit_scope(org_path: str, *, username: str) -> ColumnElement[bool]:
    """The audit rows a viewer at ``org_path`` may read, worked out from data every row
    has had from the start (no column of its own):

    - a row about a case (``case_id``: cases, tasks, notices, incidents, exports) when
      the case lies in the subtree and is not kept from the viewer (``not_excluded``);
    - a row about a veteran when the veteran is registered in the subtree;
    - a row about an account when the account belongs to a unit of the subtree;
    - any other row (holidays, saved filters, probes) when its actor's account does.

    Rows tied to no unit (the ``system`` actor's, unknown user names, a case whose row is
    gone) are shown only to viewers at a root unit (path ``/<id>/``)."""
    units = select(OrgUnit.id).where(col(OrgUnit.path).startswith(org_path))
    accounts = select(Account.username).where(col(Account.org_unit_id).in_(units))
    case_id, kind = col(AuditEvent.case_id), col(AuditEvent.entity_type)
    by_subject = ("veteran", "account")
    scope = [
        case_id.in_(
            select(Case.id).where(
                col(Case.org_path).startswith(org_path),
                not_excluded(username, org_path),
            )
        ),
        and_(
            case_id.is_(None),
            kind == "veteran",
            col(AuditEvent.entity_id).in_(
                select(cast(Veteran.id, String)).where(
                    col(Veteran.org_unit_id).in_(units)
                )
            ),
        ),
        and_(
            case_id.is_(None),
            kind == "account",
            col(AuditEvent.entity_id).in_(accounts),
        ),
        and_(
            case_id.is_(None),
            kind.not_in(by_subject),
            col(AuditEvent.actor).in_(accounts),
        ),
    ]
    if org_path.count("/") == 2:  # a root unit: also the rows of no unit
        everyone = select(Account.username)
        scope += [
            and_(case_id.is_not(None), case_id.not_in(select(Case.id))),
            and_(
                case_id.is_(None),
                kind == "veteran",
                col(AuditEvent.entity_id).not_in(select(cast(Veteran.id, String))),
            ),
            and_(
                case_id.is_(None),
                kind == "account",
                col(AuditEvent.entity_id).not_in(everyone),
            ),
            and_(
                case_id.is_(None),
                kind.not_in(by_subject),
                col(AuditEvent.actor).not_in(everyone),
            ),
        ]
    return or_(*scope)
