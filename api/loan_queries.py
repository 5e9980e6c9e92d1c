"""Read side of the startup loan for the case page: the loan row (models/tables.py
``Loan``, written by activities/loans.py), its schedule of 贷后回访 with each
follow-up's state, how it ended, and the latest round of the computed subsidy plan
(``LoanSubsidyLine``). The caller has checked that the case is the reader's to see
(api.case_queries.visible_case)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.web.loan_display import (
    ENDED_LABELS,
    FOLLOWUP_BADGES,
    FOLLOWUP_LABELS,
    Plan,
    PlanLine,
    rate,
    yuan,
)
from models.loan_policy import LOAN_TYPE_LABELS
from models.loan_subsidy import RULE_TEXT
from models.processes.startup_loan import STATUS_LABELS
from models.tables import Bank, Case, HumanTask, Loan, LoanSubsidyLine, aware

FOLLOWUP_STEP = "post_loan_followup"
# A follow-up task that ended unfinished (the loan ended while it was open).
UNFINISHED = ("withdrawn", "cancelled", "skipped")


@dataclass
class Followup:
    """One scheduled 贷后回访: when it falls due and what became of it."""

    n: int
    due: datetime
    state: str  # done | open | missed | scheduled | not_needed
    task: HumanTask | None = None

    @property
    def label(self) -> str:
        return FOLLOWUP_LABELS[self.state]

    @property
    def badge(self) -> str:
        return FOLLOWUP_BADGES[self.state]


@dataclass
class LoanView:
    """What the case page shows of a case's loan."""

    loan: Loan
    bank_name: str
    loan_type_label: str
    status_label: str
    amount: str
    annual_rate: str
    lpr: str
    term_months: Any
    contract_date: str
    bank_reference: str
    followups: list[Followup] = field(default_factory=list)
    plan: Plan | None = None
    subsidy_paid: str = ""
    reward_paid: str = ""

    @property
    def ended_label(self) -> str:
        kind = self.loan.ended_kind
        return ENDED_LABELS.get(kind, kind)


def _followup_no(task: HumanTask) -> int:
    """The follow-up's place in the schedule (the workflow's ``followup`` context,
    else the task's round)."""
    n = task.context.get("followup")
    return int(n) if isinstance(n, int) else task.round


def followup_schedule(loan: Loan, tasks: list[HumanTask]) -> list[Followup]:
    """Every scheduled follow-up with its state: done / open / missed from its task;
    without a task, not yet due, or not needed once the loan has ended."""
    by_no = {_followup_no(t): t for t in tasks if t.step == FOLLOWUP_STEP}
    out: list[Followup] = []
    for i, at in enumerate(loan.followups_at, start=1):
        due = aware(datetime.fromisoformat(at))
        task = by_no.get(i)
        if task is None:
            state = "not_needed" if loan.ended_kind else "scheduled"
        elif task.status == "completed":
            state = "done"
        elif task.status == "open":
            state = "open"
        else:
            state = "missed"
        out.append(Followup(i, due, state, task))
    return out


def latest_plan(s: Session, case_id: str) -> Plan | None:
    """The subsidy plan of the latest review round (an earlier round's plan was sent
    back), with its total summed from its lines to the fen."""
    last = s.exec(
        select(LoanSubsidyLine.round)
        .where(LoanSubsidyLine.case_id == case_id)
        .order_by(col(LoanSubsidyLine.round).desc())
        .limit(1)
    ).first()
    if last is None:
        return None
    rows = s.exec(
        select(LoanSubsidyLine)
        .where(LoanSubsidyLine.case_id == case_id, LoanSubsidyLine.round == last)
        .order_by(col(LoanSubsidyLine.period))
    ).all()
    if not rows:
        return None
    total = sum((Decimal(r.subsidy) for r in rows), Decimal("0"))
    return Plan(
        lines=[
            PlanLine(
                period=r.period,
                start=r.start.isoformat(),
                end=r.end.isoformat(),
                days_in_period=r.days_in_period,
                days_in_window=r.days_in_window,
                interest_paid=yuan(r.interest_paid),
                outstanding_principal=yuan(r.outstanding_principal),
                subsidy=yuan(r.subsidy),
            )
            for r in rows
        ],
        total=yuan(total),
        rule=rows[0].rule,
        rule_text=RULE_TEXT.get(rows[0].rule, rows[0].rule),
        policy_version=rows[0].policy_version,
        round=last,
    )


def case_loan(engine: Engine, case: Case, tasks: list[HumanTask]) -> LoanView | None:
    """The case's loan as the case page shows it; None before the application (no
    loan row yet). ``tasks`` are the case's tasks (its follow-ups among them). Its
    status is the running case's (the loan row's stage once the case is closed)."""
    case_id = case.id
    with Session(engine) as s:
        loan = s.get(Loan, case_id)
        if loan is None:
            return None
        bank = s.get(Bank, loan.bank) if loan.bank else None
        plan = latest_plan(s, case_id)
    terms = loan.terms or {}
    loan_type = loan.loan_type or str(terms.get("loan_type", ""))
    return LoanView(
        loan=loan,
        bank_name=bank.name if bank else "",
        loan_type_label=LOAN_TYPE_LABELS.get(loan_type, loan_type),
        status_label=STATUS_LABELS.get(
            case.status, STATUS_LABELS.get(loan.status, loan.status)
        ),
        amount=yuan(terms.get("amount")),
        annual_rate=rate(terms.get("annual_rate")),
        lpr=rate(terms.get("lpr")),
        term_months=terms.get("term_months") or "—",
        contract_date=str(terms.get("contract_date") or "—"),
        bank_reference=str(terms.get("bank_reference") or ""),
        followups=followup_schedule(loan, tasks),
        plan=plan,
        subsidy_paid=yuan(loan.subsidy_total) if loan.subsidy_total else "",
        reward_paid=yuan(loan.reward_total) if loan.reward_total else "",
    )


def bank_names(engine: Engine) -> dict[str, str]:
    """Every lending bank's name by its code (a loan step's context names the code)."""
    with Session(engine) as s:
        return {b.code: b.name for b in s.exec(select(Bank)).all()}
