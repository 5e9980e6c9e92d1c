"""Fixtures shared by the activity tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import Session

from models.tables import Account, OrgLevel, OrgUnit, Veteran


@dataclass
class People:
    with_email: int  # veteran id
    without_email: int  # veteran id
    clerk: str  # username with e-mail and phone
    bare_clerk: str  # username with neither


@pytest.fixture
def people(engine) -> People:
    with Session(engine) as s:
        unit = OrgUnit(
            code="t-town", name="城关镇退役军人服务站", level=OrgLevel.township
        )
        s.add(unit)
        s.flush()
        assert unit.id is not None
        s.add(
            Account(
                username="clerk",
                display_name="李娜",
                password_hash="-",
                roles=["township_staff"],
                org_unit_id=unit.id,
                email="clerk@station.example",
                phone="13900000001",
            )
        )
        s.add(
            Account(
                username="bare",
                display_name="王强",
                password_hash="-",
                org_unit_id=unit.id,
            )
        )
        zhang = Veteran(
            name="张伟",
            id_number="110101199001011234",
            gender="男",
            phone="13800000001",
            email="zhangwei@example.cn",
            category="退役士兵",
            org_unit_id=unit.id,
        )
        liu = Veteran(
            name="刘洋",
            id_number="110101199202022345",
            gender="女",
            phone="13800000002",
            category="退役士兵",
            org_unit_id=unit.id,
        )
        s.add_all([zhang, liu])
        s.commit()
        assert zhang.id is not None and liu.id is not None
        return People(zhang.id, liu.id, "clerk", "bare")
