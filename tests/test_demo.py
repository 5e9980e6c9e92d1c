"""Demo data: the 一中心两站 tree, the demo accounts with their B角 pairs, five
veterans with valid ID numbers, and seeding only once."""

from __future__ import annotations

import re
from collections import Counter

from sqlmodel import Session, func, select

from models.demo import (
    DEMO_PASSWORD,
    DESK_CLERK_OF,
    DESK_CLERKS,
    DESK_ROLES,
    seed_demo,
)
from models.idnumber import validate_id_number
from models.orgs import ancestors, org_chain
from models.passwords import verify_password
from models.tables import Account, AuditEvent, OrgLevel, OrgUnit, Veteran


def by_name(s: Session) -> dict[str, OrgUnit]:
    return {u.name: u for u in s.exec(select(OrgUnit)).all()}


def test_seeding_twice_changes_nothing(engine):
    assert seed_demo(engine) is True
    with Session(engine) as s:
        before = [
            s.exec(select(func.count()).select_from(t)).one()
            for t in (OrgUnit, Account, Veteran, AuditEvent)
        ]
    assert seed_demo(engine) is False
    with Session(engine) as s:
        after = [
            s.exec(select(func.count()).select_from(t)).one()
            for t in (OrgUnit, Account, Veteran, AuditEvent)
        ]
        seeded = s.exec(
            select(AuditEvent).where(AuditEvent.action == "seed_demo")
        ).all()
    assert before == after == [6, 19 + 2 * len(DESK_CLERKS), 5, 1]
    assert len(seeded) == 1 and seeded[0].actor == "system"


def test_org_tree_paths_and_chains(engine):
    seed_demo(engine)
    with Session(engine) as s:
        units = by_name(s)
        county = units["示范县退役军人服务中心"]
        dongguan = units["东关村退役军人服务站"]
        nanguan_v = units["南关村退役军人服务站"]
        assert county.level == OrgLevel.county
        assert {u.name for u in units.values() if u.level == OrgLevel.township} == {
            "城关镇退役军人服务站",
            "南关镇退役军人服务站",
        }
        # Every path is the parent's path plus the unit's own id.
        for u in units.values():
            parent = s.get(OrgUnit, u.parent_id) if u.parent_id else None
            assert u.path == f"{parent.path if parent else '/'}{u.id}/"
        assert [u.level for u in ancestors(s, dongguan)] == [
            OrgLevel.village,
            OrgLevel.township,
            OrgLevel.county,
            OrgLevel.city,
        ]
        chain = org_chain(s, nanguan_v.id)
        assert chain[OrgLevel.township].name == "南关镇退役军人服务站"
        assert chain[OrgLevel.county].id == county.id
        assert OrgLevel.province not in chain
        assert org_chain(s, 999_999) == {}
        # 城关镇's subtree holds 东关村 but not 南关村.
        township = units["城关镇退役军人服务站"]
        assert dongguan.path.startswith(township.path)
        assert not nanguan_v.path.startswith(township.path)


def test_accounts_roles_units_and_backups(engine):
    seed_demo(engine)
    with Session(engine) as s:
        units = {u.id: u.name for u in s.exec(select(OrgUnit)).all()}
        accounts = {a.username: a for a in s.exec(select(Account)).all()}
    county = "示范县退役军人服务中心"
    expected = {
        "admin": (["admin"], county),
        "manager": (["manager"], county),
        "auditor": (["auditor"], county),
        "city": (["city_staff"], "示范市退役军人事务局"),
        "city2": (["city_staff"], "示范市退役军人事务局"),
        "county": (["county_staff"], county),
        "county2": (["county_staff"], county),
        "township": (["township_staff"], "城关镇退役军人服务站"),
        "township_b": (["township_staff"], "城关镇退役军人服务站"),
        "village": (["village_staff"], "东关村退役军人服务站"),
        "village2": (["village_staff"], "东关村退役军人服务站"),
        "township2": (["township_staff"], "南关镇退役军人服务站"),
        "township2_b": (["township_staff"], "南关镇退役军人服务站"),
        "nvillage": (["village_staff"], "南关村退役军人服务站"),
        "nvillage2": (["village_staff"], "南关村退役军人服务站"),
        "finance": (["finance_staff"], county),
        "finance2": (["finance_staff"], county),
        "leader": (["leader"], county),
        "leader2": (["leader"], county),
    }
    # One clerk per one-stop desk, each with a B角 of the same role (003 §7.7.2).
    for username, _name, role, _dept in DESK_CLERKS:
        expected[username] = ([role], county)
        expected[f"{username}2"] = ([role], county)
    assert {u: (a.roles, units[a.org_unit_id]) for u, a in accounts.items()} == expected
    assert "desk" not in accounts  # no account holds every desk's role
    assert len(DESK_ROLES) == len(set(DESK_ROLES)) == 9
    assert {"desk_subsidy", "desk_league", "desk_party"} <= set(DESK_ROLES)
    assert DESK_CLERK_OF["desk_party"] == "zuzhi"
    assert DESK_CLERK_OF["desk_league"] == "tuanwei"
    assert DESK_CLERK_OF["desk_hukou"] == "gongan"
    # Every clerk has a B角 who names them back; managers and the like have none.
    for a in accounts.values():
        if a.roles[0] in ("admin", "manager", "auditor"):
            assert a.backup_username is None
        else:
            assert a.backup_username in accounts, a.username
            assert accounts[a.backup_username].backup_username == a.username
            assert accounts[a.backup_username].roles == a.roles
            assert accounts[a.backup_username].org_unit_id == a.org_unit_id
    assert accounts["county"].backup_username == "county2"
    assert accounts["county2"].backup_username == "county"
    assert accounts["village2"].backup_username == "village"
    assert accounts["zuzhi"].backup_username == "zuzhi2"
    # Office phones: the unit's switchboard and an extension, as on the 联系服务卡.
    assert all(
        re.fullmatch(r"0531-8000 \d{4}-8\d\d", a.phone or "") for a in accounts.values()
    )
    assert accounts["county"].phone.startswith("0531-8000 1000-")
    for a in accounts.values():
        assert a.email == f"{a.username}@demo.vetflow.local" and a.active
        assert not a.display_name.isascii()  # Chinese display names
    assert verify_password(accounts["village"].password_hash, DEMO_PASSWORD)
    assert not verify_password(accounts["village"].password_hash, "wrong")


def test_veterans_are_valid_and_mixed(engine):
    seed_demo(engine)
    with Session(engine) as s:
        units = {u.id: u.name for u in s.exec(select(OrgUnit)).all()}
        vets = s.exec(select(Veteran)).all()
    assert all(validate_id_number(v.id_number) == v.id_number for v in vets)
    assert Counter(units[v.org_unit_id] for v in vets) == {
        "东关村退役军人服务站": 3,
        "南关村退役军人服务站": 1,
        "城关镇退役军人服务站": 1,
    }
    assert {v.category for v in vets} == {
        "自主就业退役士兵",
        "逐月领取退役金退役军人",
        "军休干部",
        "转业军官",
    }
    assert {v.party_member for v in vets} == {True, False}
