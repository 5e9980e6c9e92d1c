"""A complaint (差评 / 窗口投诉 / 信访) in words, for the case and task pages.

The case page's section: channel, kind, category, grade, where it stands, the 复核
clock's pauses (信访工作条例 第三十六条: a hearing's time is not counted), the 台账
lines (003 §9.2.1) and the complainant masked unless the reader may reveal them.
A step's context (workflows/complaint.py ``_context`` and the steps' own keys) in
words: the generic rendering (api/web/display.py) would title ``grade`` or
``overdue_step`` by their keys and show the 意见书 a review is given as a dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api.web.display import NO, YES, Shown, data_shown, words
from models.complaint_public import ComplaintPublic
from models.process_spec import OUTCOME_LABELS, ProcessSpec
from models.processes.complaint import (
    CHANNEL_LABELS,
    GRADE_LABELS,
    MATTER_LABELS,
    PETITION_KIND_LABELS,
    STATUS_LABELS,
)


def _(text: str) -> str:
    """Marks a text for the English catalog; the page translates it when shown."""
    return text


# The projection's stages that are not a running status of the case (the 台账's own).
STAGE_LABELS = {
    **STATUS_LABELS,
    "registered": _("已登记"),
    "rectified": _("已整改"),
    "reopened": _("回访不满意，重新整改"),
}
# What a complaint step's context says, in words (keys the workflow writes).
CONTEXT_TITLES = {
    "channel": _("渠道"),
    "kind": _("信访类别"),
    "category": _("事项类别"),
    "matter": _("投诉/信访事项"),
    "received_on": _("收到日期"),
    "grade": _("评价等级"),
    "rated_step": _("被评价的办理环节"),
    "rated_clerk": _("被评价的工作人员"),
    "related_case_id": _("关联的前案"),
    "visitors": _("来访人数"),
    "finding": _("核实结论"),
    "facts": _("核实情况"),
    "reopens": _("已重新整改次数"),
    "new_deadline": _("申请的整改期限"),
    "reason": _("理由"),
    "overdue_step": _("逾期环节"),
    "due_at": _("原定时限"),
    "request_received_on": _("收到请求日期"),
    "request_reason": _("请求理由"),
    "opinion": _("信访处理意见书"),
    "review": _("复查意见书"),
    "paused_days": _("听证暂停计时"),
    "extended": _("已延期一次"),
    "days": _("申请延长天数"),
}
# A value that is another step's submitted data: the step whose form titles its fields.
DATA_OF = {"opinion": "handling", "review": "review", "reason": "recheck"}


def days_text(seconds: int) -> str:
    """A span in days, to a tenth (a hearing of a few hours shows 0.1)."""
    return f"{round(seconds / 86400, 1):g}"


@dataclass
class LedgerLine:
    at: datetime | None
    stage: str
    label: str
    text: str


@dataclass
class PartyView:
    """The complainant as this reader may see them: masked unless revealed."""

    name: str
    phone: str
    id_number: str
    representatives: list[str]
    veteran_id: int | None  # a link to the person only when revealed
    rated_case_id: str | None  # the rated case names its veteran: when revealed
    reported_person: str
    revealed: bool


@dataclass
class ComplaintView:
    """What the case page shows of a complaint."""

    channel: str
    channel_label: str
    kind_label: str
    category_label: str
    grade: str | None
    grade_label: str
    stage: str
    stage_label: str
    received_on: str
    reopens: int
    extended_days: int
    paused_seconds: int
    final: bool
    related_case_id: str | None
    ledger: list[LedgerLine] = field(default_factory=list)
    party: PartyView | None = None
    may_reveal: bool = False

    @property
    def paused_days(self) -> str:
        return days_text(self.paused_seconds)


def _at(value: Any) -> datetime | None:
    if isinstance(value, datetime) or value is None:
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def complaint_view(c: ComplaintPublic) -> ComplaintView:
    """The complaint as the API reads it (api/complaint_identity.read_complaint), in
    words; the party masked unless revealed."""
    p = c.party
    return ComplaintView(
        channel=c.channel,
        channel_label=CHANNEL_LABELS.get(c.channel, c.channel),
        kind_label=PETITION_KIND_LABELS.get(c.kind, "") if c.kind else "",
        category_label=MATTER_LABELS.get(c.category, c.category),
        grade=c.grade,
        grade_label=GRADE_LABELS.get(c.grade, "") if c.grade else "",
        stage=c.stage,
        stage_label=STAGE_LABELS.get(c.stage, c.stage),
        received_on=c.received_on.isoformat(),
        reopens=c.reopens,
        extended_days=c.extended_days,
        paused_seconds=c.paused_seconds,
        final=c.final,
        related_case_id=c.related_case_id,
        ledger=[
            LedgerLine(
                _at(line.at), line.stage, STAGE_LABELS.get(line.stage, ""), line.text
            )
            for line in c.ledger
        ],
        party=PartyView(
            name=p.name,
            phone=p.phone,
            id_number=p.id_number,
            representatives=[r.name for r in p.representatives],
            veteran_id=p.veteran_id,
            rated_case_id=p.rated_case_id,
            reported_person=p.reported_person,
            revealed=not p.masked,
        )
        if p is not None
        else None,
        may_reveal=c.may_reveal,
    )


def _value(spec: ProcessSpec | None, key: str, value: Any) -> Shown:
    title = CONTEXT_TITLES[key]
    if key == "finding":
        return Shown(key, title, text=OUTCOME_LABELS.get(str(value), words(value)))
    if key == "paused_days":
        return Shown(key, title, text=f"{float(value):g} 天" if value else "0 天")
    if key == "extended":
        return Shown(key, title, text=YES if value else NO)
    if key == "rated_clerk":
        return Shown(key, title, text=str(value), actor=str(value))
    if key == "due_at":
        at = _at(value)
        return Shown(key, title, text=at.strftime("%Y-%m-%d %H:%M") if at else "—")
    if key in DATA_OF and isinstance(value, dict):
        form = spec.step(DATA_OF[key]).form if spec else None
        shown = data_shown(form.model_json_schema(), value) if form else []
        text = "；".join(f"{s.title}: {s.text}" for s in shown) or words(value)
        return Shown(key, title, text=text)
    return Shown(key, title, text=words(value))


def complaint_context(
    spec: ProcessSpec | None, context: dict[str, Any]
) -> tuple[list[Shown], dict[str, Any]]:
    """A complaint step's context: the keys in words, and those left to the generic
    rendering."""
    facts: list[Shown] = []
    rest: dict[str, Any] = {}
    for key, value in context.items():
        if value is None or value == "" or value == []:
            continue
        if key in CONTEXT_TITLES:
            facts.append(_value(spec, key, value))
        else:
            rest[key] = value
    return facts, rest
