"""The aftercare activities and the figure lookup against the real database (SQLite
and PostgreSQL): figures by year and by effective date, every missing figure named at
once, the plan kept on the case's row and audited once per round, the aftercare row
and its survivors written idempotently and never blanked by a branch that records
late, a stopped allowance kept stopped, and the demo's figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from activities import build_activities
from activities.aftercare import AftercareActivities
from activities.notify_adapters import LogAdapter
from models.aftercare_benefit import (
    ENSIGN_BASE_PAY,
    FUNERAL_GRANT,
    NATIONAL_INCOME,
    SURVIVOR_ALLOWANCE,
    BenefitQuote,
    BenefitQuoteInput,
    MissingFigure,
)
from models.aftercare_contracts import (
    AftercareRecordInput,
    BenefitPlanInput,
    BenefitPlanResult,
    SurvivorAllowanceRecord,
)
from models.aftercare_figures import MissingFigures, figure, period_of, quote_benefits
from models.demo import DEMO_FIGURE_SOURCE, seed_demo
from models.idnumber import make_id_number
from models.processes.retiree_aftercare import Survivor
from models.tables import Aftercare, AftercareFigure, AftercareSurvivor, AuditEvent

AT = datetime(2025, 3, 12, 9, 30, tzinfo=UTC)
CASE = "t-retiree_aftercare-v7"
DIED = date(2025, 3, 10)


@pytest.fixture
def acts(engine: Engine) -> AftercareActivities:
    return AftercareActivities(engine)


def run(fn: Any, arg: Any) -> Any:
    return ActivityEnvironment().run(fn, arg)


def add_figure(
    engine: Engine,
    kind: str,
    value: str,
    *,
    year: int | None = None,
    on: date | None = None,
    source: str = "测试来源",
) -> None:
    with Session(engine) as s:
        s.add(
            AftercareFigure(
                kind=kind,
                year=year,
                effective_from=on,
                period=period_of(kind, year, on),
                value=value,
                source=source,
            )
        )
        s.commit()


@pytest.fixture
def figures(engine: Engine) -> Engine:
    """The 2024 income and standards from 2020, a newer funeral grant from 2025-06."""
    add_figure(engine, NATIONAL_INCOME, "51821.00", year=2023)
    add_figure(engine, NATIONAL_INCOME, "54188.00", year=2024)
    add_figure(engine, ENSIGN_BASE_PAY, "3500.00", on=date(2020, 1, 1))
    add_figure(engine, FUNERAL_GRANT, "20000.00", on=date(2020, 1, 1))
    add_figure(engine, FUNERAL_GRANT, "25000.00", on=date(2025, 6, 1))
    add_figure(engine, SURVIVOR_ALLOWANCE, "1500.00", on=date(2020, 1, 1))
    return engine


def audits(engine: Engine, action: str) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(
            s.exec(select(AuditEvent).where(col(AuditEvent.action) == action)).all()
        )


def quote_input(died: date = DIED, **changes: Any) -> BenefitQuoteInput:
    return BenefitQuoteInput.model_validate(
        {
            "cause": "illness",
            "death_date": died,
            "monthly_base_pay": "8000.00",
            "honours": ["third_class_war_merit_or_second_class_merit"],
            **changes,
        }
    )


def plan(round: int = 1, **changes: Any) -> BenefitPlanInput:
    return BenefitPlanInput(
        case_id=CASE,
        round=round,
        quote=quote_input(),
        at=AT,
        **changes,
    )


# --- registration ------------------------------------------------------------------


def test_registered_under_the_names_the_workflow_calls(engine):
    names = {
        activity._Definition.must_from_callable(fn).name
        for fn in build_activities(engine, None, LogAdapter(), None)
    }
    assert {
        "plan_aftercare_benefits",
        "record_aftercare",
        "record_survivor_allowance",
    } <= names


# --- the figures ---------------------------------------------------------------------


def test_income_by_year_and_standards_effective_on_the_date(figures):
    with Session(figures) as s:
        income = figure(s, NATIONAL_INCOME, year=2024)
        assert income.value == Decimal("54188.00")
        assert income.version == "national_income@2024"
        assert income.source == "测试来源"
        # The latest effective_from on or before the date.
        before = figure(s, FUNERAL_GRANT, on=date(2025, 5, 31))
        on_day = figure(s, FUNERAL_GRANT, on=date(2025, 6, 1))
        assert (before.value, before.version) == (
            Decimal("20000.00"),
            "funeral_grant@2020-01-01",
        )
        assert on_day.value == Decimal("25000.00")


def test_a_missing_figure_is_named_in_chinese_and_english(figures):
    with Session(figures) as s:
        with pytest.raises(MissingFigure) as missing:
            figure(s, NATIONAL_INCOME, year=2025)
        assert missing.value.kind == NATIONAL_INCOME
        assert str(missing.value) == (
            "缺少2025年全国城镇居民人均可支配收入 (national_income for 2025 missing)"
        )
        with pytest.raises(MissingFigure) as missing:
            figure(s, ENSIGN_BASE_PAY, on=date(2019, 12, 31))  # before any standard
        assert "少尉" in str(missing.value)
        assert "ensign_base_pay effective on 2019-12-31 missing" in str(missing.value)


def test_the_income_is_the_year_before_the_death(figures):
    with Session(figures) as s:
        quote = quote_benefits(s, quote_input(), Decimal("0"), 0)
    assert quote.lump_sum.income_year == 2024
    assert quote.lump_sum.income == Decimal("54188.00")
    assert quote.lump_sum.amount == Decimal("492632.40")
    assert quote.funeral_grant == Decimal("20000.00")
    assert quote.total == Decimal("512632.40")
    assert quote.survivor_allowance_monthly is None  # nobody eligible
    assert [f.version for f in quote.figures] == [
        "national_income@2024",
        "ensign_base_pay@2020-01-01",
        "funeral_grant@2020-01-01",
    ]


def test_every_missing_figure_at_once(engine):
    add_figure(engine, ENSIGN_BASE_PAY, "3500.00", on=date(2020, 1, 1))
    with Session(engine) as s, pytest.raises(MissingFigures) as missing:
        quote_benefits(s, quote_input(), Decimal("0"), 2)
    assert [m.kind for m in missing.value.missing] == [
        NATIONAL_INCOME,
        FUNERAL_GRANT,
        SURVIVOR_ALLOWANCE,
    ]
    assert missing.value.messages[0] == (
        "缺少2024年全国城镇居民人均可支配收入 (national_income for 2024 missing)"
    )


def test_a_figure_is_unique_by_kind_and_year_or_date(figures):
    with pytest.raises(IntegrityError):
        add_figure(figures, NATIONAL_INCOME, "99999.00", year=2024)
    with pytest.raises(IntegrityError):
        add_figure(figures, FUNERAL_GRANT, "1.00", on=date(2025, 6, 1))


# --- the plan ------------------------------------------------------------------------


def test_the_plan_is_kept_on_the_row_and_audited_once_per_round(figures, acts):
    result = run(acts.plan_aftercare_benefits, plan(overpayment_offset="9000.00"))
    assert isinstance(result, BenefitPlanResult) and result.missing == []
    assert result.quote is not None
    assert result.quote.total == Decimal("503632.40")  # 512,632.40 − 9,000.00
    run(acts.plan_aftercare_benefits, plan(overpayment_offset="9000.00"))  # a retry
    with Session(figures) as s:
        row = s.get(Aftercare, CASE)
    assert row is not None and row.quote_round == 1
    stored = BenefitQuote.model_validate(row.quote)
    assert stored == result.quote
    assert row.quote["total"] == "503632.40"  # Decimals as strings
    assert row.quote["lump_sum"]["amount"] == "492632.40"
    assert (row.died_on, row.cause) == (DIED, "illness")
    [audit] = audits(figures, "aftercare_benefits_planned")
    assert audit.case_id == CASE
    assert audit.after is not None and audit.after["total"] == "503632.40"
    # The next round replaces the plan and is audited on its own.
    run(acts.plan_aftercare_benefits, plan(round=2))
    with Session(figures) as s:
        row = s.get(Aftercare, CASE)
    assert row is not None and row.quote_round == 2
    assert row.quote["total"] == "512632.40"
    assert len(audits(figures, "aftercare_benefits_planned")) == 2
    # A late retry of round 1 does not bring the older plan back.
    run(acts.plan_aftercare_benefits, plan(round=1, overpayment_offset="9000.00"))
    with Session(figures) as s:
        row = s.get(Aftercare, CASE)
    assert row is not None and row.quote["total"] == "512632.40"


def test_eligible_survivors_need_the_allowance_rate(figures, acts):
    result = run(acts.plan_aftercare_benefits, plan(eligible_survivors=2))
    assert result.quote.survivor_allowance_monthly == Decimal("1500.00")


def test_missing_figures_are_a_result_naming_them_not_an_error(engine, acts):
    add_figure(engine, ENSIGN_BASE_PAY, "3500.00", on=date(2020, 1, 1))
    add_figure(engine, FUNERAL_GRANT, "20000.00", on=date(2020, 1, 1))
    result = run(acts.plan_aftercare_benefits, plan())
    assert result.quote is None
    assert result.missing == [
        "缺少2024年全国城镇居民人均可支配收入 (national_income for 2024 missing)"
    ]
    with Session(engine) as s:
        assert s.get(Aftercare, CASE) is None  # no plan kept
    [audit] = audits(engine, "aftercare_benefits_planned")
    assert audit.after == {"round": 1, "missing": result.missing}


# --- the aftercare row and its survivors ---------------------------------------------


def survivor(name: str, relation: str, born: date, seq: str, **more: Any) -> Survivor:
    return Survivor(
        name=name,
        id_number=make_id_number("370102", born, seq),
        relation=relation,
        born_on=born,
        **more,
    )


WIFE = survivor("王秀英", "spouse", date(1950, 5, 1), "024", allowance_eligible=True)
SON = survivor("李建国", "child", date(1975, 8, 9), "011")


def record(stage: str, at: datetime = AT, **fields: Any) -> AftercareRecordInput:
    return AftercareRecordInput(
        case_id=CASE,
        veteran_id=7,
        stage=stage,
        died_on=DIED,
        cause="illness",
        at=at,
        **fields,
    )


def survivors(engine: Engine) -> list[AftercareSurvivor]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(AftercareSurvivor)
                .where(AftercareSurvivor.case_id == CASE)
                .order_by(col(AftercareSurvivor.n))
            ).all()
        )


def test_record_aftercare_writes_the_row_and_survivors_idempotently(engine, acts):
    inp = record("survivors_determined", survivors=[WIFE, SON])
    run(acts.record_aftercare, inp)
    run(acts.record_aftercare, inp)  # a retry
    with Session(engine) as s:
        row = s.get(Aftercare, CASE)
    assert row is not None
    assert (row.veteran_id, row.stage, row.died_on) == (7, "survivors_determined", DIED)
    rows = survivors(engine)
    assert [(r.n, r.name, r.relation) for r in rows] == [
        (1, "王秀英", "spouse"),
        (2, "李建国", "child"),
    ]
    assert rows[0].id_number == WIFE.id_number  # stored in full, masked on read
    assert rows[0].allowance_eligible and not rows[1].allowance_eligible
    assert rows[0].allowance_status == "none"


def test_a_branch_recording_late_blanks_nothing(engine, acts):
    """The parallel branches send the workflow's state as it was: the pension branch's
    record (no survivors yet) may land after the survivors'; it keeps them."""
    later = AT + timedelta(minutes=5)
    run(acts.record_aftercare, record("survivors_determined", later, survivors=[WIFE]))
    run(
        acts.record_aftercare,
        record("pension_stopped", overpayment=Decimal("13846.9")),
    )
    run(
        acts.record_aftercare,
        record(
            "overpayment_settled",
            later,
            overpayment=Decimal("13846.90"),
            recovery="offset",
        ),
    )
    with Session(engine) as s:
        row = s.get(Aftercare, CASE)
    assert row is not None
    assert row.stage == "overpayment_settled"
    assert (row.overpayment, row.recovery) == ("13846.90", "offset")
    assert len(survivors(engine)) == 1
    run(
        acts.record_aftercare,
        record(
            "benefits_paid",
            later + timedelta(days=3),
            overpayment=Decimal("13846.90"),
            recovery="offset",
            survivors=[WIFE],
            benefit_total=Decimal("498785.5"),
            paid_reference="PAY-2025-001",
        ),
    )
    with Session(engine) as s:
        row = s.get(Aftercare, CASE)
    assert row is not None
    assert (row.stage, row.benefit_total, row.paid_reference) == (
        "benefits_paid",
        "498785.50",
        "PAY-2025-001",
    )
    [paid] = audits(engine, "aftercare_benefits_paid")
    assert paid.after == {
        "stage": "benefits_paid",
        "overpayment": "13846.90",
        "recovery": "offset",
        "benefit_total": "498785.50",
        "paid_reference": "PAY-2025-001",
    }
    assert len(audits(engine, "aftercare_overpayment_settled")) == 1


def allowance(status: str, years: int = 0, **more: Any) -> SurvivorAllowanceRecord:
    return SurvivorAllowanceRecord(
        case_id=CASE,
        n=1,
        name=WIFE.name,
        id_number=WIFE.id_number,
        relation=WIFE.relation,
        monthly=Decimal("1500"),
        starts_on=date(2025, 4, 1),
        status=status,
        years_confirmed=years,
        at=AT,
        **more,
    )


def test_the_allowance_is_recorded_and_a_stop_is_final_and_audited(engine, acts):
    run(acts.record_aftercare, record("survivors_determined", survivors=[WIFE, SON]))
    next_at = datetime(2026, 3, 12, tzinfo=UTC)
    run(
        acts.record_survivor_allowance,
        allowance("active", next_confirmation_at=next_at),
    )
    first = survivors(engine)[0]
    assert (first.allowance_status, first.monthly, first.years_confirmed) == (
        "active",
        "1500.00",
        0,
    )
    assert first.next_confirmation_at is not None
    assert first.next_confirmation_at.replace(tzinfo=UTC) == next_at
    assert first.allowance_starts_on == date(2025, 4, 1)
    stop = allowance("stopped", 1, stopped_reason="逾期未确认")
    run(acts.record_survivor_allowance, stop)
    run(acts.record_survivor_allowance, stop)  # a retry
    # A late retry of an earlier 'active' record does not reopen it.
    run(acts.record_survivor_allowance, allowance("active", 1))
    first = survivors(engine)[0]
    assert (first.allowance_status, first.stopped_reason, first.years_confirmed) == (
        "stopped",
        "逾期未确认",
        1,
    )
    [audit] = audits(engine, "survivor_allowance_stopped")
    assert audit.after is not None and audit.after["reason"] == "逾期未确认"
    assert WIFE.id_number not in str(audit.after)  # never in the trail
    # The survivors' own fields stay as determined; their allowance is not touched
    # by a later aftercare record.
    run(acts.record_aftercare, record("benefits_paid", survivors=[WIFE, SON]))
    assert survivors(engine)[0].allowance_status == "stopped"


def test_an_allowance_without_a_survivor_row_creates_it(engine, acts):
    run(acts.record_survivor_allowance, allowance("active"))
    [row] = survivors(engine)
    assert (row.n, row.name, row.born_on) == (1, "王秀英", date(1950, 5, 1))
    assert row.allowance_eligible and row.allowance_status == "active"


# --- demo data -----------------------------------------------------------------------


def test_demo_figures_are_seeded_once_also_into_an_older_demo(engine):
    assert seed_demo(engine)
    assert not seed_demo(engine)
    with Session(engine) as s:
        rows = s.exec(select(AftercareFigure)).all()
        by = {(r.kind, r.period): r for r in rows}
    assert len(rows) == 5
    assert by[(NATIONAL_INCOME, "2023")].value == "51821.00"
    assert by[(NATIONAL_INCOME, "2024")].value == "54188.00"
    assert "国家统计局" in by[(NATIONAL_INCOME, "2024")].source
    assert (NATIONAL_INCOME, "2025") not in by  # no communiqué in our sources
    for kind in (ENSIGN_BASE_PAY, FUNERAL_GRANT, SURVIVOR_ALLOWANCE):
        [demo] = [r for r in rows if r.kind == kind]
        assert demo.source == DEMO_FIGURE_SOURCE
    with Session(engine) as s:
        s.exec(delete(AftercareFigure))
        s.commit()
    assert not seed_demo(engine)  # an existing demo database gets them too
    with Session(engine) as s:
        assert len(s.exec(select(AftercareFigure)).all()) == 5
