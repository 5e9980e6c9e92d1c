"""The startup loan in words, for the case and task pages: amounts in 元 with two
places (thousands grouped), rates in %, loan types and subjects by their labels, and
the subsidy plan's lines as the leader approves them.

A loan step's context (workflows/startup_loan.py) repeats the loan's terms and, at
``subsidy_approval``, the computed plan; the generic rendering (api/web/display.py)
would title them by the application form (the granted amount as 申请金额) and show the
plan's lines by their keys, so the loan's keys are put in words here and the rest is
left to the generic list."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from api.web.display import Shown, words
from models.contracts import SHANGHAI
from models.loan_policy import LOAN_TYPE_LABELS, SUBJECT_LABELS
from models.loan_subsidy import RULE_TEXT

FEN = Decimal("0.01")


def _(text: str) -> str:
    """Marks a text for the English catalog; the page translates it when shown."""
    return text


ENDED_LABELS = {
    "matured": _("到期还清"),
    "early_repayment": _("提前还款结清"),
    "repaid": _("已还清"),
}
# A scheduled 贷后回访: done, open, missed (withdrawn unfinished when the loan ended),
# not yet due, or no longer needed (the loan ended before it fell due).
FOLLOWUP_LABELS = {
    "done": _("已回访"),
    "open": _("待回访"),
    "missed": _("未回访"),
    "scheduled": _("未到期"),
    "not_needed": _("贷款已结清，无需回访"),
}
FOLLOWUP_BADGES = {
    "done": "done",
    "open": "current",
    "missed": "overdue",
    "scheduled": "pending",
    "not_needed": "none",
}
RULE_LABELS = {"full": _("全额贴息"), "half_lpr": _("50%×LPR贴息")}
LINE_COLUMNS = [
    _("期次"),
    _("起始日"),
    _("还款日"),
    _("该期天数"),
    _("贴息期内天数"),
    _("该期实付利息(元)"),
    _("未还本金(元)"),
    _("贴息(元)"),
]
# What a loan step's context says, in words (keys the workflow writes).
FACT_TITLES = {
    "loan_type": _("贷款类型"),
    "subject_type": _("申请主体"),
    "annual_rate": _("合同年利率"),
    "lpr": _("合同签订日1年期LPR"),
    "term_months": _("贷款期限(月)"),
    "contract_date": _("合同签订日"),
    "bank": _("承办银行"),
    "bank_reference": _("银行业务编号"),
    "policy_version": _("政策版本"),
    "applied_on": _("申请日期"),
    "application_ref": _("推送编号"),
    "integrated": _("银行已接入系统"),
    "application_task": _("贷款申请"),
    "repayment_task": _("本息还清记录登记"),
    "maturity_at": _("贷款到期"),
    "ended": _("结清方式"),
    "bank_repayments": _("银行报送的还款记录"),
    "followup_findings": _("贷后回访发现的问题"),
    "grant_beyond_policy": _("银行核准条件超出政策"),
    "missed_followups": _("未完成的回访次数"),
    "not_counted": _("不计奖励的人员"),
}
# The context's ``amount`` by step: the applied, the granted, or the amount to pay.
AMOUNT_TITLES = {
    "subsidy_payment": _("应发贴息金额"),
    "reward_payment": _("应发奖励金额"),
}
# Shown by the plan's own table, or said by another key (the loan type's label).
PLAN_KEYS = {"total", "rule", "rule_text", "window_end", "lines"}
SKIPPED = {"loan_type_label", "bank_name", "failures", "of"}
REPAYMENT_COLUMNS = [_("还款日期"), _("本金(元)"), _("利息(元)")]


def yuan(value: object) -> str:
    """An amount of 元 (a decimal string, a Decimal) with two places, thousands
    grouped: ``200,000.00``; not a number: as given."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value)).quantize(FEN, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return str(value)
    return f"{amount:,.2f}"


def rate(value: object) -> str:
    """A rate in percent, at least two places and no trailing zeros past them:
    ``3.4500`` → ``3.45%``, ``3.1`` → ``3.10%``, ``3.4125`` → ``3.4125%``."""
    if value is None or value == "":
        return "—"
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{d:.4f}".rstrip("0")
    whole, _dot, places = text.partition(".")
    return f"{whole}.{places.ljust(2, '0')}%"


def local_time(value: object) -> str:
    """An ISO time (or a datetime) in Beijing time, to the second."""
    at = value
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(at, datetime):
        return words(value)
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def loan_type_label(value: object) -> str:
    return LOAN_TYPE_LABELS.get(str(value), words(value))


@dataclass
class PlanLine:
    period: int
    start: str
    end: str
    days_in_period: int
    days_in_window: int
    interest_paid: str
    outstanding_principal: str
    subsidy: str


@dataclass
class Plan:
    """A computed subsidy plan (贴息方案) as shown: every figure an auditor checks."""

    lines: list[PlanLine]
    total: str
    rule: str = ""
    rule_text: str = ""
    window_end: str = ""
    policy_version: str = ""
    round: int = 1
    columns: list[str] = field(default_factory=lambda: list(LINE_COLUMNS))

    @property
    def rule_label(self) -> str:
        return RULE_LABELS.get(self.rule, self.rule)


def plan_line(row: dict[str, Any]) -> PlanLine:
    return PlanLine(
        period=int(row.get("period", 0)),
        start=str(row.get("start", "")),
        end=str(row.get("end", "")),
        days_in_period=int(row.get("days_in_period", 0)),
        days_in_window=int(row.get("days_in_window", 0)),
        interest_paid=yuan(row.get("interest_paid")),
        outstanding_principal=yuan(row.get("outstanding_principal")),
        subsidy=yuan(row.get("subsidy")),
    )


def plan_of(context: dict[str, Any]) -> Plan | None:
    """The plan a ``subsidy_approval`` task carries in its context."""
    lines = context.get("lines")
    if not isinstance(lines, list):
        return None
    rule = str(context.get("rule", ""))
    return Plan(
        lines=[plan_line(r) for r in lines if isinstance(r, dict)],
        total=yuan(context.get("total")),
        rule=rule,
        rule_text=str(context.get("rule_text") or RULE_TEXT.get(rule, "")),
        window_end=str(context.get("window_end", "")),
        policy_version=str(context.get("policy_version", "")),
    )


@dataclass
class LoanTaskView:
    """A loan step's context: its facts in words, the plan (at ``subsidy_approval``),
    and what is left for the generic list."""

    facts: list[Shown] = field(default_factory=list)
    plan: Plan | None = None
    rest: dict[str, Any] = field(default_factory=dict)


def _fact(
    step: str, context: dict[str, Any], key: str, value: Any, banks: dict[str, str]
) -> Shown | None:
    if key == "amount":
        granted = "contract_date" in context
        title = AMOUNT_TITLES.get(
            step, _("贷款金额(元)") if granted else _("申请金额(元)")
        )
        return Shown(key, title, text=yuan(value))
    if key == "bank" and step == "bank_rejected":
        name = banks.get(str(value))
        text = f"{name} ({value})" if name else words(value)
        return Shown(key, _("未批准的银行"), text=text)
    if key == "reason" and step == "bank_rejected":
        return Shown(key, _("银行未批准原因"), text=words(value))
    if key == "followup":
        return Shown(
            key, _("回访次序"), text=f"{words(value)} / {words(context.get('of'))}"
        )
    if key not in FACT_TITLES:
        return None
    title = FACT_TITLES[key]
    if key == "loan_type":
        return Shown(key, title, text=loan_type_label(value))
    if key == "subject_type":
        return Shown(key, title, text=SUBJECT_LABELS.get(str(value), words(value)))
    if key in ("annual_rate", "lpr"):
        return Shown(key, title, text=rate(value))
    name = context.get("bank_name") or banks.get(str(value))
    if key == "bank" and name:
        return Shown(key, title, text=f"{name} ({value})")
    if key == "maturity_at":
        return Shown(key, title, text=local_time(value))
    if key == "ended":
        return Shown(key, title, text=ENDED_LABELS.get(str(value), words(value)))
    if key.endswith("_task") and isinstance(value, str):
        return Shown(key, title, text=value, link=value)
    if key == "bank_repayments" and isinstance(value, list):
        rows = [
            [words(r.get("paid_on")), yuan(r.get("principal")), yuan(r.get("interest"))]
            for r in value
            if isinstance(r, dict)
        ]
        return Shown(
            key, title, text="" if rows else "—", columns=REPAYMENT_COLUMNS, rows=rows
        )
    return Shown(key, title, text=words(value))


def loan_task_view(
    step: str, context: dict[str, Any], banks: dict[str, str] | None = None
) -> LoanTaskView:
    """A startup-loan task's context split into its facts in words, its plan, and the
    keys left to the generic rendering (the actor who prepared the plan, the
    repayments as entered, the defects to correct …). ``banks``: bank names by code."""
    view = LoanTaskView(plan=plan_of(context) if step == "subsidy_approval" else None)
    for key, value in context.items():
        if key in SKIPPED or (view.plan is not None and key in PLAN_KEYS):
            continue
        if value is None or value == "" or value == []:
            continue
        shown = _fact(step, context, key, value, banks or {})
        if shown is None:
            view.rest[key] = value
        else:
            view.facts.append(shown)
    return view
