"""Read-side queries of the reference data (org units, veterans, holidays).

Plain sync functions on a ``Session``; routes call them through ``run_in_threadpool``
(style B7). Every query takes the caller's ``org_path`` and returns only rows of that
subtree, so a route cannot forget the visibility rule.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from models.tables import Holiday, OrgUnit, Veteran


def visible_org_units(session: Session, org_path: str) -> list[OrgUnit]:
    """The units of the subtree at ``org_path``, parents before children."""
    return list(
        session.exec(
            select(OrgUnit)
            .where(col(OrgUnit.path).startswith(org_path))
            .order_by(col(OrgUnit.path))
        ).all()
    )


def visible_org_unit(session: Session, unit_id: int, org_path: str) -> OrgUnit | None:
    """The unit, or None when it does not exist or lies outside the subtree."""
    unit = session.get(OrgUnit, unit_id)
    return unit if unit is not None and unit.path.startswith(org_path) else None


def visible_veteran(session: Session, veteran_id: int, org_path: str) -> Veteran | None:
    """The veteran, or None when unknown or registered outside the subtree."""
    vet = session.get(Veteran, veteran_id)
    if vet is None or visible_org_unit(session, vet.org_unit_id, org_path) is None:
        return None
    return vet


def search_veterans(
    session: Session, org_path: str, q: str | None, limit: int, offset: int
) -> tuple[list[Veteran], int]:
    """A page of the subtree's veterans (by id) and the total; ``q`` matches a name
    prefix or a whole ID number (never a fragment of one: ID numbers are personal)."""
    query = (
        select(Veteran)
        .join(OrgUnit, col(OrgUnit.id) == col(Veteran.org_unit_id))
        .where(col(OrgUnit.path).startswith(org_path))
    )
    term = (q or "").strip()
    if term:
        query = query.where(
            or_(
                col(Veteran.name).startswith(term),
                col(Veteran.id_number) == term.upper(),
            )
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(Veteran.id)).offset(offset).limit(limit))
    return list(rows.all()), int(total)


def id_number_taken(session: Session, id_number: str) -> bool:
    """True when a veteran with this ID number exists anywhere (not only in the
    caller's subtree: the registry holds one record per person)."""
    found = session.exec(
        select(Veteran.id).where(Veteran.id_number == id_number)
    ).first()
    return found is not None


def holidays_of(session: Session, year: int | None) -> list[Holiday]:
    """The admin's calendar overrides, of one year or all, by day."""
    query = select(Holiday).order_by(col(Holiday.day))
    if year:
        query = query.where(
            col(Holiday.day) >= date(year, 1, 1),
            col(Holiday.day) <= date(year, 12, 31),
        )
    return list(session.exec(query).all())
