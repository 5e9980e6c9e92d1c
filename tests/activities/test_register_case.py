"""register_case: the case row written once, and the units serving the veteran read
from their unit's materialised path (one query) as the walk up by parent finds them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError

from activities.cases import CaseActivities, _walked_chain, chain_of
from models.contracts import RegisterCaseInput
from models.tables import AuditEvent, Case, OrgUnit, Veteran


def _input(case_id: str, veteran_id: int) -> RegisterCaseInput:
    return RegisterCaseInput(
        case_id=case_id,
        workflow_id=case_id,
        run_id="run",
        process="return_home",
        title="退役返乡报到",
        veteran_id=veteran_id,
        started_by="county",
        started_at=datetime.now(UTC),
        data={},
        spec_version=2,
    )


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
