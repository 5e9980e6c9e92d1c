"""The organisation tree (province › city › county centre › township › village station).

Each unit stores a materialised path ("/1/4/9/"): a unit's subtree is every unit whose
path starts with its own, which is how staff visibility is decided (一中心两站, 002 §3.2).
"""

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
    # The path ends in the unit's own id, which exists only after the flush.
    session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    session.add(unit)
    session.flush()
    return unit


def ancestors(session: Session, unit: OrgUnit) -> list[OrgUnit]:
    """The unit itself, then its parent, and so on up to the root."""
    chain: list[OrgUnit] = []
    current: OrgUnit | None = unit
    while current is not None:
        chain.append(current)
        current = session.get(OrgUnit, current.parent_id) if current.parent_id else None
    return chain


def org_chain(session: Session, unit_id: int) -> dict[OrgLevel, OrgUnit]:
    """The units serving someone registered at ``unit_id``, by level: e.g. a village
    resident gets village, township, county and city. Empty for an unknown unit."""
    unit = session.get(OrgUnit, unit_id)
    if unit is None:
        return {}
    return {OrgLevel(u.level): u for u in ancestors(session, unit)}
