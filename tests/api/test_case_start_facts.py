"""What a case start checks before Temporal, in one statement (api.case_queries
.start_facts): the veteran in the caller's subtree, the count that numbers their next
case of a process, and the case that makes the start a 409."""

from __future__ import annotations

from sqlmodel import Session, select

from api.case_queries import start_facts
from models.tables import Case, CaseExclusion, OrgUnit, Veteran


def _veteran(engine) -> tuple[int, OrgUnit]:
    with Session(engine) as s:
        vet = s.exec(select(Veteran).where(Veteran.category != "军休干部")).first()
        assert vet is not None and vet.id is not None
        unit = s.get(OrgUnit, vet.org_unit_id)
        assert unit is not None
        return vet.id, unit


def _case(engine, case_id: str, vet: int, unit: OrgUnit, process: str, status: str):
    with Session(engine) as s:
        s.add(
            Case(
                id=case_id,
                workflow_id=case_id,
                process=process,
                veteran_id=vet,
                org_unit_id=unit.id or 0,
                org_path=unit.path,
                status=status,
            )
        )
        s.commit()


def test_the_veteran_outside_the_subtree_is_none(seeded_engine) -> None:
    vet, unit = _veteran(seeded_engine)
    facts = start_facts(seeded_engine, vet, unit.path, "startup_loan")
    assert facts is not None and facts.unit_path == unit.path
    assert facts.cases == 0 and facts.existing is None
    assert start_facts(seeded_engine, vet, unit.path + "9999/", "startup_loan") is None
    assert start_facts(seeded_engine, 10**9, "/", "startup_loan") is None


def test_closed_cases_count_and_an_open_one_blocks(seeded_engine) -> None:
    vet, unit = _veteran(seeded_engine)
    _case(seeded_engine, "t-startup_loan-1", vet, unit, "startup_loan", "closed")
    _case(seeded_engine, "t-annual_review-1", vet, unit, "annual_review", "running")
    facts = start_facts(seeded_engine, vet, "/", "startup_loan")
    assert facts is not None and (facts.cases, facts.existing) == (1, None)
    _case(seeded_engine, "t-startup_loan-2", vet, unit, "startup_loan", "running")
    facts = start_facts(seeded_engine, vet, "/", "startup_loan")
    assert facts is not None
    assert (facts.cases, facts.existing) == (2, "t-startup_loan-2")


def test_a_once_process_is_blocked_by_its_closed_case_unless_excluded(
    seeded_engine,
) -> None:
    vet, unit = _veteran(seeded_engine)
    once = f"t-retiree_aftercare-v{vet}"
    assert start_facts(seeded_engine, vet, "/", "retiree_aftercare", once_id=once)
    _case(seeded_engine, once, vet, unit, "retiree_aftercare", "closed")
    facts = start_facts(seeded_engine, vet, "/", "retiree_aftercare", once_id=once)
    assert facts is not None and facts.existing == once
    # Without once_id (a process started many times) a closed case blocks nothing.
    facts = start_facts(seeded_engine, vet, "/", "retiree_aftercare")
    assert facts is not None and (facts.cases, facts.existing) == (1, None)
    # A check for nobody in particular does not see a case kept from the root unit.
    with Session(seeded_engine) as s:
        s.add(CaseExclusion(case_id=once, org_path="/", reason="reported"))
        s.commit()
    facts = start_facts(seeded_engine, vet, "/", "retiree_aftercare", once_id=once)
    assert facts is not None and facts.existing is None
