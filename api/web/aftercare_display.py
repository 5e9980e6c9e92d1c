"""A retired cadre's death and aftercare in words, for the case and task pages: the
benefit quote as its components (the year-before income × 2 or 20, 40 × the base pay
— the 少尉 floor said when it applied —, the subtotal, the single highest honour's
increment, the lump sum, the funeral grant, the overpayment offset, the total; 元
with two places), the figures it used with their source, causes, relations and
honours by their labels.

A step's context (workflows/retiree_aftercare.py) repeats the death report and, from
``benefit_review`` on, the quote's summary; the generic rendering (api/web/display.py)
would show the quote's keys as they are, so they are put in words here and the rest is
left to the generic list."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from api.web.display import Shown, words
from api.web.loan_display import yuan
from models.aftercare_benefit import (
    BASE_PAY_MONTHS,
    CAUSE_LABELS,
    HONOUR_LABELS,
    INCOME_MULTIPLIER,
)
from models.processes.retiree_aftercare import RELATION_LABELS


def _(text: str) -> str:
    """Marks a text for the English catalog; the page translates it when shown."""
    return text


FLAG_BASIS_LABELS = {"wish": _("本人遗愿"), "family_application": _("家属申请")}
FIGURE_LABELS = {
    "national_income": _("全国城镇居民人均可支配收入"),
    "ensign_base_pay": _("少尉月基本工资标准"),
    "funeral_grant": _("丧葬费标准"),
    "survivor_allowance": _("遗属生活补助标准(每月)"),
}
FIGURE_COLUMNS = [_("数据"), _("年度/生效日期"), _("数值(元)"), _("版本"), _("来源")]
SURVIVOR_COLUMNS = [_("姓名"), _("关系"), _("出生日期"), _("符合遗属生活补助条件")]
# What an aftercare step's context says, in words (keys the workflow writes).
FACT_TITLES = {
    "died_on": _("死亡日期"),
    "cause": _("死亡性质"),
    "place": _("死亡地点"),
    "reported_by": _("报告人"),
    "reporter_relation": _("与逝者关系"),
    "stops_from": _("停发起始月份"),
    "amount": _("多发金额(元)"),
    "months": _("多发月数"),
    "reason": _("免予收回理由"),
    "basis": _("覆盖依据"),
    "overpayment_offset": _("抵扣多发的离退休费(元)"),
    "monthly": _("遗属生活补助(元/月)"),
    "claim_task": _("抚恤待遇申报"),
    "obituary_task": _("讣告和生平"),
    "reviewed_by": _("审核人"),
    "survivors": _("遗属"),
    "survivor": _("遗属"),
    "last_contact_on": _("最后联系日期"),
}
# The quote's summary (``_quote_summary`` of the workflow): shown as the quote.
QUOTE_KEYS = {
    "total",
    "funeral_grant",
    "lump_sum",
    "income_year",
    "income",
    "income_multiplier",
    "base_pay_used",
    "floor_applied",
    "subtotal",
    "honour",
    "honour_label",
    "increment_rate",
    "overpayment_offset",
    "survivor_allowance_monthly",
    "rule_text",
}
# Said by another key (the cause by its label), or not for the reader.
SKIPPED = {"cause_label", "relation_label"}
QUOTE_STEPS = {"benefit_review", "benefit_approval", "benefit_payment"}


def percent(value: object) -> str:
    """A rate as a percentage: ``0.15`` → ``15%``, ``0.055`` → ``5.5%``."""
    try:
        d = Decimal(str(value)) * 100
    except InvalidOperation:
        return words(value)
    text = f"{d:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


@dataclass
class QuoteLine:
    """One component of the quote: what it is (a text to translate with its
    arguments, and a note in words), how it is computed, and the amount."""

    key: str
    label: str
    amount: str
    formula: str = ""
    note: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    kind: str = "part"  # part | subtotal | total | minus | monthly


@dataclass
class QuoteFigure:
    """A reference figure the quote used: its value, year or date, version, source."""

    kind: str
    label: str
    when: str
    value: str
    version: str
    source: str


@dataclass
class QuoteView:
    """The benefit quote as the reviewer, the approver and the case page show it."""

    lines: list[QuoteLine]
    total: str
    rule_text: str = ""
    floor_applied: bool = False
    figures: list[QuoteFigure] = field(default_factory=list)
    columns: list[str] = field(
        default_factory=lambda: [_("项目"), _("计算"), _("金额(元)")]
    )
    figure_columns: list[str] = field(default_factory=lambda: list(FIGURE_COLUMNS))

    def line(self, key: str) -> QuoteLine | None:
        return next((ln for ln in self.lines if ln.key == key), None)


def figure_shown(row: dict[str, Any]) -> QuoteFigure:
    kind = str(row.get("kind", ""))
    when = row.get("year") or row.get("effective_from") or ""
    return QuoteFigure(
        kind=kind,
        label=FIGURE_LABELS.get(kind, kind),
        when=str(when),
        value=yuan(row.get("value")),
        version=str(row.get("version") or ""),
        source=str(row.get("source") or ""),
    )


def summary_of_quote(quote: dict[str, Any]) -> dict[str, Any]:
    """A stored ``BenefitQuote`` (JSON) as the flat summary the workflow gives its
    tasks, with the cause, the base pay as claimed and the figures used."""
    lump = quote.get("lump_sum") or {}
    if not isinstance(lump, dict):
        lump = {}
    honour = lump.get("honour")
    return {
        "cause": lump.get("cause", ""),
        "total": quote.get("total"),
        "funeral_grant": quote.get("funeral_grant"),
        "lump_sum": lump.get("amount"),
        "income_year": lump.get("income_year"),
        "income": lump.get("income"),
        "income_multiplier": lump.get("income_multiplier"),
        "monthly_base_pay": lump.get("monthly_base_pay"),
        "base_pay_used": lump.get("base_pay_used"),
        "floor_applied": bool(lump.get("floor_applied")),
        "subtotal": lump.get("subtotal"),
        "honour": honour,
        "honour_label": HONOUR_LABELS.get(str(honour or ""), ""),
        "increment_rate": lump.get("increment_rate"),
        "overpayment_offset": quote.get("overpayment_offset"),
        "survivor_allowance_monthly": quote.get("survivor_allowance_monthly"),
        "rule_text": lump.get("rule_text", ""),
        "figures": [f for f in quote.get("figures") or [] if isinstance(f, dict)],
    }


def quote_view(summary: dict[str, Any]) -> QuoteView | None:
    """The quote's components from its summary (a task's context, or
    ``summary_of_quote``); None when the summary carries no quote."""
    if summary.get("lump_sum") in (None, "") or summary.get("total") in (None, ""):
        return None
    cause = str(summary.get("cause") or "")
    multiplier = summary.get("income_multiplier") or INCOME_MULTIPLIER.get(cause, "")
    income = _decimal(summary.get("income"))
    base_pay = _decimal(summary.get("base_pay_used"))
    subtotal = _decimal(summary.get("subtotal"))
    rate = _decimal(summary.get("increment_rate")) or Decimal("0")
    floor = bool(summary.get("floor_applied"))
    honour = str(summary.get("honour") or "")
    lines = [
        QuoteLine(
            "income",
            _("上一年度({year}年)全国城镇居民人均可支配收入 × {n}"),
            yuan(
                income * int(multiplier) if income is not None and multiplier else None
            ),
            formula=f"{yuan(income)} × {multiplier}",
            note=CAUSE_LABELS.get(cause, cause),
            args={"year": summary.get("income_year") or "—", "n": multiplier},
        ),
        QuoteLine(
            "base_pay",
            _("少尉月基本工资标准 × {n}") if floor else _("本人月基本工资 × {n}"),
            yuan(base_pay * BASE_PAY_MONTHS if base_pay is not None else None),
            formula=f"{yuan(base_pay)} × {BASE_PAY_MONTHS}",
            note=_("本人月基本工资低于少尉标准，按少尉标准计算") if floor else "",
            args={"n": BASE_PAY_MONTHS},
        ),
        QuoteLine("subtotal", _("小计"), yuan(subtotal), kind="subtotal"),
        QuoteLine(
            "increment",
            _("荣誉增发 {rate}") if honour else _("荣誉增发(无)"),
            yuan(subtotal * rate if subtotal is not None else None),
            formula=f"{yuan(subtotal)} × {percent(rate)}" if honour else "",
            note=HONOUR_LABELS.get(honour, honour),
            args={"rate": percent(rate)},
        ),
        QuoteLine(
            "lump_sum",
            _("一次性抚恤金"),
            yuan(summary.get("lump_sum")),
            kind="subtotal",
        ),
        QuoteLine("funeral_grant", _("丧葬费"), yuan(summary.get("funeral_grant"))),
        QuoteLine(
            "overpayment_offset",
            _("抵扣多发的离退休费"),
            yuan(summary.get("overpayment_offset") or "0"),
            kind="minus",
        ),
        QuoteLine("total", _("合计应发"), yuan(summary.get("total")), kind="total"),
    ]
    monthly = summary.get("survivor_allowance_monthly")
    if monthly not in (None, ""):
        lines.append(
            QuoteLine(
                "survivor_allowance",
                _("遗属生活补助(每人每月，另按月发放)"),
                yuan(monthly),
                kind="monthly",
            )
        )
    figures = summary.get("figures")
    return QuoteView(
        lines=lines,
        total=yuan(summary.get("total")),
        rule_text=str(summary.get("rule_text") or ""),
        floor_applied=floor,
        figures=[figure_shown(f) for f in figures] if isinstance(figures, list) else [],
    )


def survivor_rows(value: list[Any]) -> list[list[str]]:
    """Survivors as a step's context lists them (no ID number)."""
    return [
        [
            words(s.get("name")),
            RELATION_LABELS.get(str(s.get("relation")), words(s.get("relation"))),
            words(s.get("born_on")),
            words(bool(s.get("allowance_eligible"))),
        ]
        for s in value
        if isinstance(s, dict)
    ]


@dataclass
class AftercareTaskView:
    """An aftercare step's context: its facts in words, the quote (from the review
    on), and what is left for the generic list."""

    facts: list[Shown] = field(default_factory=list)
    quote: QuoteView | None = None
    rest: dict[str, Any] = field(default_factory=dict)


def _fact(key: str, value: Any) -> Shown | None:
    if key not in FACT_TITLES:
        return None
    title = FACT_TITLES[key]
    if key == "cause":
        return Shown(key, title, text=CAUSE_LABELS.get(str(value), words(value)))
    if key == "basis":
        return Shown(key, title, text=FLAG_BASIS_LABELS.get(str(value), words(value)))
    if key in ("amount", "overpayment_offset", "monthly"):
        return Shown(key, title, text=yuan(value))
    if key == "stops_from":
        return Shown(key, title, text=str(value)[:7])
    if key.endswith("_task") and isinstance(value, str):
        return Shown(key, title, text=value, link=value)
    if key == "reviewed_by" and isinstance(value, str):
        return Shown(key, title, text=value, actor=value)
    if key == "survivors" and isinstance(value, list):
        rows = survivor_rows(value)
        return Shown(
            key, title, text="" if rows else "—", columns=SURVIVOR_COLUMNS, rows=rows
        )
    if key == "survivor" and isinstance(value, dict):
        relation = RELATION_LABELS.get(str(value.get("relation")), "")
        born = value.get("born_on") or ""
        return Shown(
            key, title, text=f"{words(value.get('name'))} ({relation}, {born})"
        )
    return Shown(key, title, text=words(value))


def aftercare_task_view(step: str, context: dict[str, Any]) -> AftercareTaskView:
    """An aftercare (or lost-contact) task's context split into its facts in words,
    its quote (review, approval, payment) and the keys left to the generic rendering
    (the death date, the defects to correct …)."""
    quote = quote_view(context) if step in QUOTE_STEPS else None
    view = AftercareTaskView(quote=quote)
    for key, value in context.items():
        if key in SKIPPED or (quote is not None and key in QUOTE_KEYS):
            continue
        if value is None or value == "" or value == []:
            continue
        shown = _fact(key, value)
        if shown is None:
            view.rest[key] = value
        else:
            view.facts.append(shown)
    return view
