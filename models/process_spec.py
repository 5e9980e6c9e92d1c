"""Declarative step definitions of a process.

A workflow opens each human task from its ``StepSpec`` (title, clause, role, level,
outcomes, form), and ``GET /api/processes`` serves the same objects, so a diagram drawn
from the API cannot drift from the code. Sandbox-safe: pydantic only.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# What each outcome reads as, to clerks (buttons) and in the veteran's case summary.
OUTCOME_LABELS = {
    "approve": "通过",
    "return_for_correction": "退回补正(一次性告知)",
    "return": "退回下级重报",
    "refuse": "不予办理",
    "not_ours": "不属于本中心职权范围",
    "submitted": "提交",
    "received": "已接收",
    "done": "办结",
    "not_applicable": "不适用",
    "enrolled": "报名参加",
    "declined": "本人不参加",
    "reported": "已上报",
    "resend": "重新发送",
    "informed_otherwise": "已以其他方式告知",
    "pass": "审核通过",
    "correct": "通知补正(一次性告知)",
    "interview": "约谈提醒",
    "extend": "延期提交",
    "record_non_submission": "记录未提交",
    "prepared": "编制完成",
    "approved": "批准",
    "rejected": "退回重编",
    "paid": "已发放",
    "loan_granted": "银行批准",
    "loan_declined": "银行未批准",
    "refer_bank": "转介其他银行",
    "refer_guidance": "转创业指导",
    "not_repaid": "未还清或违规(不予贴息)",
    "apply": "申请奖励",
    "determined": "已认定",
    "recovered": "已收回",
    "offset": "从待遇中抵扣",
    "waived": "免予收回(报批)",
    "refused": "不同意",
    "confirmed": "确认符合条件",
    "not_eligible": "不再符合条件",
    "found": "已恢复联系",
    "died": "确认死亡",
    "still_missing": "仍未联系上",
    # the complaint closed loop (models/processes/complaint.py)
    "valid": "情况属实",
    "misrated": "误评(申诉)",
    "malicious": "恶意差评(申诉)",
    "appeal_upheld": "申诉成立",
    "sent_back": "申诉不成立,退回整改",
    "rectified": "已整改",
    "explained": "已解释说明",
    "complex": "复杂问题(申请延期)",
    "satisfied": "满意",
    "unsatisfied": "不满意(重新整改)",
    "accept": "受理",
    "transfer": "转送(不属于本机关)",
    "not_acceptable": "不予受理",
    "supported": "支持",
    "not_supported": "不予支持",
    "upheld": "维持",
    "revised": "变更",
    "hearing": "组织听证",
    "held": "已听证",
    "supervised": "已督办",
    "request_extension": "申请延期(报负责人批准)",
}


class StepSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    title: str  # Chinese title shown to clerks
    clause: str  # e.g. "003 §6.2.2"
    role: str  # candidate role
    level: str  # org level that holds the task: county | township | village
    outcomes: tuple[str, ...]
    form: type[BaseModel]
    next: tuple[str, ...] = ()  # what may follow (for diagrams)
    group: str | None = None  # steps that run in parallel share a group
    description: str = ""
    # Materials the step works from (the checklist shown to the clerk and named in
    # the one-time notification, 003 §7.6 b).
    materials: tuple[str, ...] = ()
    # Who holds the case while this step is open: "agency" (staff work it) or
    # "veteran" (the veteran's own report: the case's clock runs on the veteran's
    # side, and besides station staff submitting on the veteran's behalf (帮办) the
    # veteran may complete it through a signed self-service link).
    holder: str = "agency"
    # Four-eyes: the step whose completer may not complete this one (the validator
    # refuses the same person with 409).
    four_eyes_with: str | None = None
    # A step the veteran takes part in (served at a window, visited): once completed,
    # the veteran is offered a rating link for it (003 §9.1.3).
    rated: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "clause": self.clause,
            "role": self.role,
            "level": self.level,
            "outcomes": list(self.outcomes),
            "next": list(self.next),
            "group": self.group,
            "description": self.description,
            "materials": list(self.materials),
            "holder": self.holder,
            "four_eyes_with": self.four_eyes_with,
            "rated": self.rated,
            "form_schema": self.form.model_json_schema(),
        }


class ProcessSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    title: str
    title_en: str
    workflow: str  # registered workflow type name
    clauses: tuple[str, ...]
    start_form: type[BaseModel]
    first: str
    # How many cases of this process one veteran may have: "once" (the return home
    # happens once) gives the case a deterministic id, so a repeated start is refused
    # by Temporal itself; "many" numbers each case anew; "numbered" keys the n-th
    # case of the veteran ("startup_loan-v7-2"), one open at a time.
    per_veteran: str = "once"
    # Version of this definition. A case runs the version it started with to its end
    # (recorded in its start input); a changed step order or form ships as a new
    # version beside the old one (README, Releasing).
    version: int = 1
    steps: tuple[StepSpec, ...] = Field(default_factory=tuple)
    # Veteran categories this process does not serve, each with where they are
    # served instead; a start for them is refused (422) with that pointer.
    excluded_categories: dict[str, str] = Field(default_factory=dict)
    # The only categories it serves (empty: every category not excluded); a start for
    # another is refused (422) with ``served_message``.
    served_categories: tuple[str, ...] = ()
    served_message: str = ""
    # Whether clerks start it (POST /api/cases); False: opened by a campaign or a
    # schedule (the annual review, the monthly payroll).
    startable: bool = True
    # What a case is about: "veteran" (one veteran's case) or "org_unit" (a unit's
    # case with no veteran, e.g. a county's monthly payroll).
    subject: str = "veteran"
    # Words for the statuses a running case of this process may carry besides
    # ``running`` and ``closed`` (the pages show them).
    status_labels: dict[str, str] = Field(default_factory=dict)
    # Whether the veteran is offered a rating link when a case closes (003 §9.1.3);
    # False where nobody served can rate (a death, a veteran out of contact).
    rated_on_close: bool = True

    def step(self, key: str) -> StepSpec:
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(key)

    def public(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "title_en": self.title_en,
            "version": self.version,
            "clauses": list(self.clauses),
            "start_schema": self.start_form.model_json_schema(),
            "first": self.first,
            "excluded_categories": dict(self.excluded_categories),
            "served_categories": list(self.served_categories),
            "startable": self.startable,
            "subject": self.subject,
            "status_labels": dict(self.status_labels),
            "rated_on_close": self.rated_on_close,
            "steps": [s.public() for s in self.steps],
        }
