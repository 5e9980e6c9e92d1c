"""Activities of the monthly payroll: the pay date and its deadlines, the counties to
open a payroll for, and one county's list of veterans on monthly pay."""

from __future__ import annotations

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from temporalio import activity

from models.contracts import (
    PayDates,
    PayDatesInput,
    PayrollCountiesInput,
    PayrollCounty,
    PayrollEntry,
    PayrollRoster,
    PayrollRosterInput,
)
from models.db import session_scope
from models.idnumber import mask_id_number
from models.processes import annual_review, monthly_pay
from models.tables import AnnualReviewLedger, Case, OrgLevel, OrgUnit, Veteran
from models.workdays import (
    explain_pay_date,
    office_close,
    pay_calendar_of,
    working_days_before,
)

log = structlog.get_logger(__name__)

LEDGER_LABELS = {"passed": "审核通过", "non_submission": "已记录未提交"}


class PayrollActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def pay_dates(self, inp: PayDatesInput) -> PayDates:
        """The month's pay date on the working-day calendar (admin table first, then
        chinese-calendar, then weekends only) and the deadlines before it."""
        with session_scope(self.engine) as session:
            cal, names = pay_calendar_of(session, inp.year)
        explained = explain_pay_date(inp.year, inp.month, cal, names)
        pay = explained.pay_date
        prepare = working_days_before(pay, monthly_pay.PREPARE_WORKING_DAYS_BEFORE, cal)
        approve = working_days_before(pay, monthly_pay.APPROVE_WORKING_DAYS_BEFORE, cal)
        if explained.warning:
            log.warning("pay_date_calendar_missing", year=inp.year, month=inp.month)
        return PayDates(
            pay_date=pay.isoformat(),
            prepare_by=office_close(prepare),
            approve_by=office_close(approve),
            pay_by=office_close(pay),
            moved=explained.moved,
            reason=explained.reason,
            source=explained.source,
            warning=explained.warning,
        )

    @activity.defn
    def payroll_counties(self, inp: PayrollCountiesInput) -> list[PayrollCounty]:
        """Every county centre with veterans of the category in its subtree (a county
        with none has no payroll), with the month's case id and whether it exists."""
        with session_scope(self.engine) as session:
            counties = session.exec(
                select(OrgUnit)
                .where(OrgUnit.level == OrgLevel.county)
                .order_by(col(OrgUnit.id))
            ).all()
            found: list[PayrollCounty] = []
            for unit in counties:
                if not _has_members(session, unit.path, inp.category):
                    continue
                case = monthly_pay.case_id(
                    unit.id or 0, inp.year, inp.month, inp.case_id_prefix
                )
                found.append(
                    PayrollCounty(
                        org_unit_id=unit.id or 0,
                        name=unit.name,
                        org_path=unit.path,
                        case_id=case,
                        case_exists=session.get(Case, case) is not None,
                    )
                )
        return found

    @activity.defn
    def payroll_roster(self, inp: PayrollRosterInput) -> PayrollRoster:
        """The county's veterans on monthly pay, in id order, each with the ID number
        masked, their station, and this year's annual review: the 台账 line, or the
        status of the open review case (a hint for the preparer, never a hold)."""
        with session_scope(self.engine) as session:
            county = session.get(OrgUnit, inp.org_unit_id)
            if county is None:
                return PayrollRoster()
            rows = session.exec(
                select(Veteran, OrgUnit)
                .join(OrgUnit, col(OrgUnit.id) == col(Veteran.org_unit_id))
                .where(Veteran.category == inp.category)
                .where(col(OrgUnit.path).startswith(county.path))
                .order_by(col(Veteran.id))
            ).all()
            ids = [v.id or 0 for v, _ in rows]
            ledger = _ledger(session, ids, inp.year)
            reviews = _open_reviews(session, ids, inp.year)
            entries = []
            for vet, unit in rows:
                vid = vet.id or 0
                entry = PayrollEntry(
                    veteran_id=vid,
                    name=vet.name,
                    id_number_masked=mask_id_number(vet.id_number),
                    station=unit.name,
                )
                if vid in ledger:
                    line = ledger[vid]
                    entry.review_state = line.result
                    entry.review_label = LEDGER_LABELS.get(line.result, line.result)
                    entry.review_case_id = line.case_id
                elif vid in reviews:
                    case = reviews[vid]
                    entry.review_state = case.status
                    entry.review_label = annual_review.STATUS_LABELS.get(
                        case.status, case.status
                    )
                    entry.review_case_id = case.id
                entries.append(entry)
        return PayrollRoster(veterans=entries)


def _has_members(session: Session, path: str, category: str) -> bool:
    count = session.exec(
        select(func.count())
        .select_from(Veteran)
        .join(OrgUnit, col(OrgUnit.id) == col(Veteran.org_unit_id))
        .where(Veteran.category == category)
        .where(col(OrgUnit.path).startswith(path))
    ).one()
    return bool(count)


def _ledger(
    session: Session, ids: list[int], year: int
) -> dict[int, AnnualReviewLedger]:
    if not ids:
        return {}
    lines = session.exec(
        select(AnnualReviewLedger).where(
            col(AnnualReviewLedger.veteran_id).in_(ids),
            AnnualReviewLedger.year == year,
        )
    ).all()
    return {line.veteran_id: line for line in lines}


def _open_reviews(session: Session, ids: list[int], year: int) -> dict[int, Case]:
    """Each veteran's review case of ``year`` that is still open (its status is the
    review's own: awaiting_submission, overdue, ...)."""
    if not ids:
        return {}
    cases = session.exec(
        select(Case)
        .where(
            Case.process == annual_review.PROCESS_KEY,
            col(Case.veteran_id).in_(ids),
            Case.status != "closed",
        )
        .order_by(col(Case.started_at))
    ).all()
    return {
        c.veteran_id: c
        for c in cases
        if c.veteran_id is not None and _year_of(c) == year
    }


def _year_of(case: Case) -> int | None:
    year = case.data.get("year")
    if isinstance(year, int):
        return year
    if isinstance(year, str) and year.isdigit():
        return int(year)
    return None
