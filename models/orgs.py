"""The organisation tree (province › city › county centre › township › village station)."""

from __future__ import annotations

from sqlmodel import Session

from models.tables import OrgLevel, OrgUnit


def create_org_unit(
    session: Session, code: str, name: str, level: OrgLevel, parent: OrgUnit | None
) -> OrgUnit:
    """Add a unit below ``parent`` and set its materialised path."""
    unit = OrgUnit(
        code=code, name=name, level=level, parent_id=parent.id if parent else None
    )
    session.add(unit)
    session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    session.add(unit)
    session.flush()
    return unit
