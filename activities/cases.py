"""Activities that write the case projection: register a case, change its status."""

from __future__ import annotations

from typing import Any, Protocol

import structlog
from sqlalchemy import bindparam, insert
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import Label
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.audit import add_audit_event
from models.contracts import (
    CaseStatusInput,
    OrgChain,
    RegisterCaseInput,
    RegisterCaseResult,
)
from models.db import session_scope, write_connection
from models.tables import AuditEvent, Case, OrgUnit, Veteran, utcnow

log = structlog.get_logger(__name__)


class Unit(Protocol):
    """What a chain is read from: an ``OrgUnit``, or a row of its columns."""

    @property
    def id(self) -> int | None: ...
    @property
    def level(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def parent_id(self) -> int | None: ...


# The registration's statements, built once with bound parameters (SQLAlchemy's
# statement cache then compiles each once per engine): a case's start reads and
# writes plain rows on one connection, without the ORM's sessions and unit of work.
_UNIT_COLUMNS: tuple[Label[Any], ...] = (
    col(OrgUnit.id).label("id"),
    col(OrgUnit.level).label("level"),
    col(OrgUnit.path).label("path"),
    col(OrgUnit.parent_id).label("parent_id"),
)
# The veteran with their unit's columns (None when the unit is missing); no row: no
# such veteran.
_VETERAN_HOME = (
    sa_select(
        col(Veteran.name),
        col(Veteran.party_member),
        col(Veteran.category),
        *_UNIT_COLUMNS,
    )
    .select_from(Veteran)
    .outerjoin(OrgUnit, col(OrgUnit.id) == col(Veteran.org_unit_id))
    .where(col(Veteran.id) == bindparam("veteran_id"))
)
_UNIT = sa_select(*_UNIT_COLUMNS).where(col(OrgUnit.id) == bindparam("unit_id"))
_UNITS_IN = sa_select(*_UNIT_COLUMNS).where(
    col(OrgUnit.id).in_(bindparam("ids", expanding=True))
)
_CASE_EXISTS = sa_select(col(Case.id)).where(col(Case.id) == bindparam("case_id"))
_AUDIT_EXISTS = sa_select(col(AuditEvent.id)).where(
    col(AuditEvent.dedupe_key) == bindparam("dedupe_key")
)
_INSERT_CASE = insert(Case.__table__)  # type: ignore[attr-defined]
_INSERT_AUDIT = insert(AuditEvent.__table__)  # type: ignore[attr-defined]


class CaseActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def register_case(self, inp: RegisterCaseInput) -> RegisterCaseResult:
        """Write the case row (once) and answer who the veteran is and which units serve
        them (for a case about an org unit: that unit and the units above it)."""
        if not inp.veteran_id:
            return self._register_unit_case(inp)
        with write_connection(self.engine) as conn:
            row = conn.execute(_VETERAN_HOME, {"veteran_id": inp.veteran_id}).first()
            if row is None:
                raise ApplicationError(
                    f"veteran {inp.veteran_id} does not exist",
                    type="UnknownVeteran",
                    non_retryable=True,
                )
            if row.id is None:
                raise ApplicationError(
                    "the veteran's org unit is missing",
                    type="UnknownOrgUnit",
                    non_retryable=True,
                )
            chain = chain_of(conn, row)
            write_register(conn, inp, row.id, row.path)
            result = RegisterCaseResult(
                veteran_name=row.name,
                party_member=row.party_member,
                category=row.category,
                org_unit_id=row.id,
                org_path=row.path,
                chain=chain,
            )
        log.info("case_registered", case_id=inp.case_id, process=inp.process)
        return result

    def _register_unit_case(self, inp: RegisterCaseInput) -> RegisterCaseResult:
        with write_connection(self.engine) as conn:
            unit = conn.execute(_UNIT, {"unit_id": inp.org_unit_id or 0}).first()
            if unit is None:
                raise ApplicationError(
                    f"org unit {inp.org_unit_id} does not exist",
                    type="UnknownOrgUnit",
                    non_retryable=True,
                )
            write_register(conn, inp, unit.id, unit.path)
            result = RegisterCaseResult(
                veteran_name="",
                party_member=False,
                category="",
                org_unit_id=unit.id or 0,
                org_path=unit.path,
                chain=chain_of(conn, unit),
            )
        log.info("case_registered", case_id=inp.case_id, process=inp.process)
        return result

    @activity.defn
    def case_chain(self, case_id: str) -> RegisterCaseResult:
        """Who a case's veteran is and which units serve them (no write): for the
        engine's own work items about the case (a failed notice)."""
        with session_scope(self.engine) as session:
            case = session.get(Case, case_id)
            veteran = (
                session.get(Veteran, case.veteran_id)
                if case and case.veteran_id
                else None
            )
            home_id = veteran.org_unit_id if veteran else (case and case.org_unit_id)
            home = session.get(OrgUnit, home_id) if home_id else None
            if case is None or home is None:
                raise ApplicationError(
                    f"case {case_id} has no row",
                    type="CaseRowMissing",
                    non_retryable=True,
                )
            return RegisterCaseResult(
                veteran_name=veteran.name if veteran else "",
                party_member=veteran.party_member if veteran else False,
                category=veteran.category if veteran else "",
                org_unit_id=home.id or 0,
                org_path=home.path,
                chain=chain_of(session, home),
            )

    @activity.defn
    def set_case_status(self, inp: CaseStatusInput) -> None:
        """Record a status change of the case (e.g. closed)."""
        with session_scope(self.engine) as session:
            apply_status(session, inp)
        log.info("case_status", case_id=inp.case_id, status=inp.status)


def chain_of(conn: Connection | Session, home: Unit) -> OrgChain:
    """The units serving a veteran of ``home``, by level, up to the top: the units of
    its materialised path ("/1/4/9/", models.orgs), read in one query; a path that
    does not end in the unit's own id is walked up by parent instead."""
    ids = [int(part) for part in home.path.strip("/").split("/") if part.isdigit()]
    if not ids or ids[-1] != home.id:
        return _walked_chain(conn, home)
    found = {u.id: u for u in conn.execute(_UNITS_IN, {"ids": ids})}
    chain = OrgChain()
    for unit_id in reversed(ids):  # the unit first, as the walk up
        if unit_id in found:
            unit = found[unit_id]
            chain.units[str(unit.level)] = unit_id
            chain.paths[str(unit.level)] = unit.path
    return chain


def _walked_chain(conn: Connection | Session, home: Unit) -> OrgChain:
    chain = OrgChain()
    unit: Unit | None = home
    while unit is not None:
        chain.units[str(unit.level)] = unit.id or 0
        chain.paths[str(unit.level)] = unit.path
        unit = (
            conn.execute(_UNIT, {"unit_id": unit.parent_id}).first()
            if unit.parent_id
            else None
        )
    return chain


def apply_register(session: Session, inp: RegisterCaseInput, home: OrgUnit) -> None:
    """Insert the case row (once) as the workflow registered it (the projection's
    rebuild: in ``session``'s transaction)."""
    write_register(session.connection(), inp, home.id or 0, home.path)


def write_register(
    conn: Connection, inp: RegisterCaseInput, unit_id: int, unit_path: str
) -> None:
    """Insert the case row at ``unit_id`` and its ``case_started`` audit record, once:
    nothing when the row is there (a retry), no second record when one has the key
    (the record's columns as ``models.audit.add_audit_event`` writes them)."""
    if conn.execute(_CASE_EXISTS, {"case_id": inp.case_id}).first() is not None:
        return
    case: dict[str, Any] = {
        "id": inp.case_id,
        "workflow_id": inp.workflow_id,
        "run_id": inp.run_id,
        "process": inp.process,
        "title": inp.title,
        "veteran_id": inp.veteran_id or None,
        "campaign_id": inp.campaign_id,
        "org_unit_id": unit_id,
        "org_path": unit_path,
        "status": "running",
        "started_by": inp.started_by,
        "started_at": inp.started_at,
        "closed_at": None,
        "data": inp.data,
        "spec_version": inp.spec_version,
    }
    conn.execute(_INSERT_CASE, case)
    dedupe_key = f"case_started:{inp.case_id}"
    if conn.execute(_AUDIT_EXISTS, {"dedupe_key": dedupe_key}).first() is not None:
        return
    conn.execute(
        _INSERT_AUDIT,
        {
            "at": utcnow(),
            "actor": inp.started_by,
            "action": "case_started",
            "entity_type": "case",
            "entity_id": inp.case_id,
            "case_id": inp.case_id,
            "before": None,
            "after": {
                "process": inp.process,
                "veteran_id": inp.veteran_id,
                "spec_version": inp.spec_version,
            },
            "request_id": None,
            "dedupe_key": dedupe_key,
        },
    )


def applied_status_seq(session: Session, case_id: str) -> int:
    """The count of the newest status change written to the case (0: none counted):
    each change's audit event is keyed ``case_status:{case}:{status}:{seq}``."""
    keys = session.exec(
        select(AuditEvent.dedupe_key).where(
            AuditEvent.case_id == case_id, AuditEvent.action == "case_status"
        )
    ).all()
    tails = (key.rsplit(":", 1)[-1] for key in keys if key)
    return max((int(t) for t in tails if t.isdigit()), default=0)


def apply_status(session: Session, inp: CaseStatusInput) -> None:
    # Locked (PostgreSQL): two attempts of status writes of one case take turns.
    case = session.get(Case, inp.case_id, with_for_update=True)
    if case is None:
        raise ApplicationError(
            f"case {inp.case_id} has no row (rebuild the projection)",
            type="CaseRowMissing",
            non_retryable=True,
        )
    if case.status == inp.status:
        return
    if inp.seq and inp.seq < applied_status_seq(session, inp.case_id):
        # A late attempt of an older change (its first attempt outlived a timeout, a
        # crash or an outage): the newer status, e.g. closed, stays.
        return
    before = case.status
    case.status = inp.status
    if inp.closed_at is not None:
        case.closed_at = inp.closed_at
    session.add(case)
    add_audit_event(
        session,
        actor=inp.actor,
        action="case_status",
        entity_type="case",
        entity_id=inp.case_id,
        case_id=inp.case_id,
        before={"status": before},
        after={"status": inp.status},
        dedupe_key=f"case_status:{inp.case_id}:{inp.status}"
        + (f":{inp.seq}" if inp.seq else ""),
    )
