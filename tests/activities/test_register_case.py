"""register_case: the case row written once, and the units serving the veteran read
from their unit's materialised path (one query) as the walk up by parent finds them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError

from activities.cases import CaseActivities, _walked_chain, apply_register, chain_of
from models.contracts import RegisterCaseInput
from models.tables import AuditEvent, Case, OrgUnit, Veteran
from tests.support import SQLITE_ONLY


def _input(
    case_id: str, veteran_id: int, org_unit_id: int | None = None
) -> RegisterCaseInput:
    return RegisterCaseInput(
        case_id=case_id,
        workflow_id=case_id,
        run_id="run",
        process="return_home",
        title="退役返乡报到",
        veteran_id=veteran_id,
        started_by="county",
        started_at=datetime(2026, 11, 30, 9, 15, 0, 123456, tzinfo=UTC),
        data={"note": "首次报到", "items": [1, 2]},
        spec_version=2,
        org_unit_id=org_unit_id,
    )


def _written(engine, case_id: str) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """The case's row and its audit records as stored (the audit id and time left out)."""
    with engine.connect() as conn:
        case = conn.execute(
            text('SELECT * FROM "case" WHERE id = :id'), {"id": case_id}
        )
        audit = conn.execute(
            text(
                "SELECT actor, action, entity_type, entity_id, case_id, before, after,"
                " request_id, dedupe_key FROM audit_event WHERE case_id = :id"
                " ORDER BY id"
            ),
            {"id": case_id},
        )
        return tuple(case.one()), [tuple(r) for r in audit]


def test_the_chain_from_the_path_is_the_walk_up(seeded_engine) -> None:
    with Session(seeded_engine) as s:
        units = s.exec(select(OrgUnit)).all()
        assert len(units) > 1
        for unit in units:
            assert chain_of(s, unit) == _walked_chain(s, unit), unit.path
        # A path that does not end in the unit's own id: walked up by parent.
        village = max(units, key=lambda u: u.path.count("/"))
        village.path = "/"
        assert chain_of(s, village) == _walked_chain(s, village)
        assert chain_of(s, village).units[str(village.level)] == village.id


def test_a_case_is_registered_once_with_its_veterans_units(seeded_engine) -> None:
    with Session(seeded_engine) as s:
        vet = s.exec(select(Veteran)).first()
        assert vet is not None and vet.id is not None
        home = s.get(OrgUnit, vet.org_unit_id)
        assert home is not None
        walked = _walked_chain(s, home)
    acts = CaseActivities(seeded_engine)
    first = acts.register_case(_input("t-return_home-v1", vet.id))
    again = acts.register_case(_input("t-return_home-v1", vet.id))
    assert first == again
    assert (first.veteran_name, first.org_path, first.chain) == (
        vet.name,
        home.path,
        walked,
    )
    with Session(seeded_engine) as s:
        assert s.get(Case, "t-return_home-v1") is not None
        started = s.exec(
            select(AuditEvent).where(AuditEvent.case_id == "t-return_home-v1")
        ).all()
        assert [e.action for e in started] == ["case_started"]


def test_an_unknown_veteran_fails_for_good(seeded_engine) -> None:
    with pytest.raises(ApplicationError) as failed:
        CaseActivities(seeded_engine).register_case(_input("t-x", 10**9))
    assert failed.value.type == "UnknownVeteran" and failed.value.non_retryable


def test_a_unit_case_is_registered_once_at_its_unit(seeded_engine) -> None:
    with Session(seeded_engine) as s:
        unit = max(s.exec(select(OrgUnit)).all(), key=lambda u: u.path.count("/"))
        assert unit.id is not None
        walked = _walked_chain(s, unit)
    acts = CaseActivities(seeded_engine)
    first = acts.register_case(_input("t-unit-1", 0, unit.id))
    assert first == acts.register_case(_input("t-unit-1", 0, unit.id))
    assert (first.veteran_name, first.org_unit_id, first.org_path, first.chain) == (
        "",
        unit.id,
        unit.path,
        walked,
    )
    _, audit = _written(seeded_engine, "t-unit-1")
    assert [a[1] for a in audit] == ["case_started"]
    with Session(seeded_engine) as s:
        case = s.get(Case, "t-unit-1")
        assert case is not None
        assert (case.veteran_id, case.org_unit_id, case.data) == (
            None,
            unit.id,
            {"note": "首次报到", "items": [1, 2]},
        )
    with pytest.raises(ApplicationError) as failed:
        acts.register_case(_input("t-unit-2", 0, 10**9))
    assert failed.value.type == "UnknownOrgUnit" and failed.value.non_retryable


@SQLITE_ONLY  # the row is written past SQLite's foreign keys
def test_a_veteran_whose_unit_is_gone_fails_for_good(seeded_engine) -> None:
    with seeded_engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        vet = conn.exec_driver_sql(
            "INSERT INTO veteran (name, id_number, gender, phone, category,"
            " party_member, org_unit_id, created_at) VALUES"
            " ('无单位', '110101199001019999', '男', '1', '退役士兵', 0, 999999,"
            " '2026-01-01 00:00:00') RETURNING id"
        ).scalar_one()
        conn.commit()
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    with pytest.raises(ApplicationError) as failed:
        CaseActivities(seeded_engine).register_case(_input("t-y", vet))
    assert failed.value.type == "UnknownOrgUnit" and failed.value.non_retryable


def test_the_rebuild_writes_the_rows_the_activity_writes(seeded_engine) -> None:
    """``apply_register`` (the projection's rebuild, in its session) stores the same
    case row and audit record as the activity: the same statements."""
    with Session(seeded_engine) as s:
        vet = s.exec(select(Veteran)).first()
        assert vet is not None and vet.id is not None
        home = s.get(OrgUnit, vet.org_unit_id)
        assert home is not None
    CaseActivities(seeded_engine).register_case(_input("t-a", vet.id))
    with Session(seeded_engine) as s:
        apply_register(s, _input("t-b", vet.id), home)
        apply_register(s, _input("t-b", vet.id), home)  # once
        s.commit()
    (row_a, audit_a), (row_b, audit_b) = (
        _written(seeded_engine, "t-a"),
        _written(seeded_engine, "t-b"),
    )
    assert row_a[2:] == row_b[2:]  # all but the ids
    assert [a[:3] + a[5:8] for a in audit_a] == [b[:3] + b[5:8] for b in audit_b]
    assert len(audit_b) == 1
