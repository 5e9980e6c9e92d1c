"""投诉 / 信访 / 差评 闭环 (the complaint closed loop): step definitions, forms, policies.

Sources: 003_f9c5147b9b40820b.txt §9.1.3 (评价: 评价器、二维码、书面评价表、短信 — the
person served rates the service), §9.2.1 (差评发现 → 问题核实 → 反馈整改 → 问题回访 →
改进提升), §7.4.2 (回访台账; 效果不理想的再推动), §7.6–7.9 (一次性告知, AB角, 首办负责,
限时办结); 000_9975dd43201067d0.txt §4.1.5 (满意率 ≥ 90%); 信访工作条例 第二十条 (走访
推选代表, 不超过5人), 第二十三条 (15日内书面告知是否受理), 第三十条 (检举、揭发、控告
材料不得透露或者转送给被检举人、单位), 第三十二条, 第三十四条 (60日内办结; 经批准可延长,
不超过30日, 告知延期理由), 第三十五条 (30日内请求复查; 30日内提出复查意见), 第三十六条
(30日内请求复核; 30日内提出复核意见, 听证所需时间不计算在内; 复核后同一事实和理由
不再受理), 第四十条 (督办); domain.md §5.

One ``complaint`` case per complaint, of three channels:

- ``rating``: a 不满意 / 非常不满意 rating (差评) opens it automatically;
- ``window``: a complaint made at a service window, registered by staff;
- ``petition``: 信访, registered by staff, on calendar-day (日) clocks.

A case is about the unit that handles it (谁办理、谁负责): ``subject="org_unit"``, the
case's unit is the handling unit, and its steps sit at that unit ("handling"), the unit
above it ("above": 申诉复核, 督办, 复查) or the one above that ("above2": 复核). Who
complained is never in the workflow's input or the case row: the API keeps it in the
confidential ``complaint_party`` row (shown only to roles that need it, never to the
rated clerk or a reported person, every full read audited).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from models.contracts import SHANGHAI, EscalationRung, ProcessPolicy, TaskPolicy
from models.escalation import county_ladder, fast_county_ladder
from models.forms import Form, outcome_of
from models.idnumber import validate_id_number
from models.process_spec import ProcessSpec, StepSpec

PROCESS_KEY = "complaint"
TZ = SHANGHAI
_LOCAL = "本地承诺时限(可配置)"

Channel = Literal["rating", "window", "petition"]
CHANNEL_LABELS = {"rating": "差评", "window": "窗口投诉", "petition": "信访"}
# 信访工作条例 第二十九—三十一条: routing by kind.
PetitionKind = Literal["suggestion", "report", "claim"]
PETITION_KIND_LABELS = {
    "suggestion": "建议意见",
    "report": "检举控告",
    "claim": "申诉求决",
}
# The five grades of 003 §9.1.3 (国办发〔2019〕51号): the last two are 差评.
GRADES = (
    "very_satisfied",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "very_dissatisfied",
)
GRADE_LABELS = {
    "very_satisfied": "非常满意",
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "dissatisfied": "不满意",
    "very_dissatisfied": "非常不满意",
}
BAD_GRADES = frozenset({"dissatisfied", "very_dissatisfied"})
Grade = Literal[
    "very_satisfied",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "very_dissatisfied",
]
# What a complaint is about (the duplicate check and the improvement report use it).
MatterCategory = Literal[
    "attitude", "efficiency", "policy", "benefits", "employment", "rights", "other"
]
MATTER_LABELS = {
    "attitude": "服务态度",
    "efficiency": "办事效率",
    "policy": "政策落实",
    "benefits": "待遇保障",
    "employment": "就业创业",
    "rights": "权益维护",
    "other": "其他",
}
ImprovementCategory = Literal[
    "rules", "process", "training", "facilities", "publicity", "other"
]
IMPROVEMENT_LABELS = {
    "rules": "制度完善",
    "process": "流程优化",
    "training": "人员培训",
    "facilities": "服务设施",
    "publicity": "政策宣传",
    "other": "其他",
}
# 信访工作条例 第二十条: a group visit names at most five representatives.
MAX_REPRESENTATIVES = 5
# 第三十四条: one extension, at most 30 days.
MAX_EXTENSION_DAYS = 30

STATUS_LABELS = {
    "verifying": "问题核实中",
    "appeal": "申诉复核中",
    "rectifying": "整改中",
    "extension": "延期报批中",
    "follow_up": "回访中",
    "improving": "改进提升中",
    "appeal_upheld": "申诉成立(差评不计)",
    "acceptance": "待决定是否受理",
    "handling": "办理中",
    "replied": "已答复(复查申请期)",
    "review": "复查中",
    "reviewed": "已复查(复核申请期)",
    "recheck": "复核中",
    "hearing": "听证中(不计入期限)",
    "transferred": "已转送",
    "not_accepted": "不予受理",
    "concluded": "已办结",
}

# --- the start form: what staff register --------------------------------------------


class Representative(Form):
    name: str = Field(min_length=1, max_length=50, title="代表姓名")
    phone: str = Field(default="", max_length=30, title="联系电话")


class ComplaintStartForm(Form):
    """登记: a window complaint or a petition, as staff record it. The complainant's
    identity (name, phone, ID number, the representatives of a group visit) is kept
    apart from the case (``identity_of``); the rest is the case's data."""

    channel: Literal["window", "petition"] = Field(title="渠道")
    kind: PetitionKind | None = Field(
        default=None,
        title="信访类别",
        description="信访件必填: 建议意见 / 检举控告 / 申诉求决",
    )
    category: MatterCategory = Field(title="事项类别")
    matter: str = Field(min_length=1, max_length=2000, title="投诉/信访事项")
    received_on: date = Field(title="收到日期")
    complainant_name: str = Field(
        min_length=1,
        max_length=50,
        title="投诉人/信访人",
        json_schema_extra={"sensitive": True},
    )
    complainant_phone: str = Field(
        default="",
        max_length=30,
        title="联系电话",
        json_schema_extra={"sensitive": True},
    )
    complainant_id_number: str = Field(
        default="",
        max_length=18,
        title="身份证号",
        json_schema_extra={"sensitive": True},
    )
    complainant_veteran_id: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        title="投诉人为登记在册的退役军人(编号)",
        json_schema_extra={"sensitive": True},
    )
    representatives: list[Representative] = Field(
        default_factory=list,
        max_length=MAX_REPRESENTATIVES,
        title="走访代表(不超过5人)",
        json_schema_extra={"sensitive": True},
    )
    visitors: int = Field(default=1, ge=1, le=10000, title="来访人数")
    reported_unit_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, title="被检举单位"
    )
    reported_person: str = Field(
        default="",
        max_length=64,
        title="被检举人(账号)",
        json_schema_extra={"sensitive": True},
    )

    @model_validator(mode="after")
    def _consistent(self) -> ComplaintStartForm:
        if self.channel == "petition" and self.kind is None:
            raise ValueError("信访件须注明信访类别 (kind is required for a petition)")
        if self.channel == "window" and self.kind is not None:
            raise ValueError("窗口投诉不填信访类别 (kind is for petitions only)")
        if (self.reported_unit_id or self.reported_person) and self.kind != "report":
            raise ValueError(
                "被检举单位/人只用于检举控告 (reported_* only for kind 'report')"
            )
        if self.kind == "report" and not (
            self.reported_unit_id or self.reported_person
        ):
            raise ValueError(
                "检举控告须注明被检举单位或被检举人 (reported_unit_id or reported_person)"
            )
        if self.complainant_id_number:
            validate_id_number(self.complainant_id_number)
        if self.visitors > 5 and not self.representatives:
            raise ValueError(
                "多人走访须推选代表，不超过5人 (信访工作条例 第二十条: representatives)"
            )
        return self


IDENTITY_FIELDS = (
    "complainant_name",
    "complainant_phone",
    "complainant_id_number",
    "complainant_veteran_id",
    "representatives",
    "reported_person",
)


def identity_of(form: ComplaintStartForm) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the case's data, the confidential identity): who complained, and whom a report
    names, never travel with the case."""
    data = form.model_dump(mode="json")
    identity = {k: data.pop(k) for k in IDENTITY_FIELDS}
    return data, identity


def matter_key(identity: dict[str, Any], category: str, handling_unit_id: int) -> str:
    """The same matter from the same petitioner (信访工作条例 第三十六条: 同一事实和理由):
    the petitioner (ID number, else name and phone), the category and the unit it is
    brought to. A hash: the key names nobody."""
    who = str(identity.get("complainant_id_number") or "").upper() or (
        f"{identity.get('complainant_name', '')}|{identity.get('complainant_phone', '')}"
    )
    raw = f"{who}|{category}|{handling_unit_id}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class ComplaintCaseData(Form):
    """What the workflow starts with (the start form without the identity, plus what a
    rating adds). ``received_on`` starts the statutory clocks of a petition."""

    channel: Channel
    kind: PetitionKind | None = None
    category: MatterCategory = "other"
    matter: str = ""
    received_on: date
    visitors: int = 1
    reported_unit_id: int | None = None
    # A rating's complaint: what was rated (the rated case itself is not named here:
    # its veteran is the rater).
    rating_id: int | None = None
    grade: Grade | None = None
    rated_step_title: str = ""
    rated_clerk: str = ""
    # The people the case's steps are never given to (回避): the rated clerk, a
    # reported person.
    recused: list[str] = Field(default_factory=list)
    # The same matter from the same petitioner (a hash naming nobody), and an earlier
    # case of it still open.
    matter_key: str = ""
    related_case_id: str | None = None


# --- step forms ---------------------------------------------------------------------


class VerifyForm(Form):
    """问题核实 (谁办理、谁负责): the handling unit calls the complainant back and finds
    the complaint valid, 误评 or 恶意差评 (the last two go to 申诉复核)."""

    contacted_on: date = Field(title="联系核实日期")
    facts: str = Field(min_length=1, max_length=2000, title="核实情况")


class AppealReviewForm(Form):
    """申诉复核 by the unit above: uphold the appeal (the rating does not count) or
    send it back (the bad review stands and is rectified)."""

    opinion: str = Field(min_length=1, max_length=2000, title="复核意见")


class RectifyForm(Form):
    """反馈整改: fixed (立行立改 or within the limit), explained (no legal basis: 解释
    说明), or complex — recorded in the 台账 with a new deadline and the reason, for the
    leader's approval."""

    measures: str = Field(default="", max_length=2000, title="整改措施/说明")
    new_deadline: date | None = Field(default=None, title="整改期限(复杂问题)")
    reason: str = Field(default="", max_length=1000, title="延期理由")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> RectifyForm:
        outcome = outcome_of(info)
        if outcome in ("rectified", "explained") and not self.measures:
            raise ValueError("须填写整改措施或解释说明 (measures are required)")
        if outcome == "complex" and not (self.new_deadline and self.reason):
            raise ValueError(
                "复杂问题须填写整改期限和理由 (new_deadline and reason are required)"
            )
        return self


class ApprovalForm(Form):
    opinion: str = Field(default="", max_length=1000, title="审批意见")

    @model_validator(mode="after")
    def _refusal_reasoned(self, info: ValidationInfo) -> ApprovalForm:
        if outcome_of(info) == "refused" and not self.opinion:
            raise ValueError("不同意须说明理由 (opinion is required to refuse)")
        return self


class FollowUpForm(Form):
    """问题回访 (003 §7.4.2): the complainant's satisfaction with the rectification."""

    contacted_on: date = Field(title="回访日期")
    method: Literal["phone", "visit", "sms"] = Field(title="回访方式")
    feedback: str = Field(min_length=1, max_length=2000, title="回访情况")


class ImproveForm(Form):
    """改进提升: the measure that keeps it from happening again, categorised."""

    category: ImprovementCategory = Field(title="改进类别")
    measure: str = Field(min_length=1, max_length=2000, title="改进措施")


class SuperviseForm(Form):
    """督办 (信访工作条例 第四十条; 003 §7.9): the unit above presses an overdue step."""

    instruction: str = Field(min_length=1, max_length=2000, title="督办意见")


class AcceptanceForm(Form):
    """是否受理 (第二十三条): accept, transfer to whom it belongs (the petitioner told),
    or not acceptable — each with the written notice."""

    notice_no: str = Field(min_length=1, max_length=50, title="书面告知文号")
    notified_on: date = Field(title="告知日期")
    transfer_to: str = Field(default="", max_length=200, title="转送机关")
    reason: str = Field(default="", max_length=1000, title="理由")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> AcceptanceForm:
        outcome = outcome_of(info)
        if outcome == "transfer" and not self.transfer_to:
            raise ValueError("转送须写明转送机关 (transfer_to is required)")
        if outcome in ("transfer", "not_acceptable") and not self.reason:
            raise ValueError("须写明理由 (reason is required)")
        return self


class OpinionForm(Form):
    """信访处理意见书 / 复查意见书 / 复核意见书, or (handling) a request to extend."""

    document_no: str = Field(default="", max_length=50, title="意见书文号")
    opinion: str = Field(default="", max_length=4000, title="处理意见")
    extension_days: int | None = Field(
        default=None, ge=1, le=MAX_EXTENSION_DAYS, title="延长天数(不超过30日)"
    )
    reason: str = Field(default="", max_length=1000, title="延期/听证理由")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> OpinionForm:
        outcome = outcome_of(info)
        if outcome == "request_extension":
            if not (self.extension_days and self.reason):
                raise ValueError(
                    "延期须写明天数和理由 (extension_days and reason are required)"
                )
        elif outcome == "hearing":
            if not self.reason:
                raise ValueError("听证须写明理由 (reason is required)")
        elif outcome is not None and not (self.document_no and self.opinion):
            raise ValueError(
                "须填写意见书文号和处理意见 (document_no and opinion are required)"
            )
        return self


class HearingForm(Form):
    """听证 (第三十六条): its time is not counted in the 复核 deadline."""

    held_on: date = Field(title="听证日期")
    summary: str = Field(min_length=1, max_length=4000, title="听证情况")


class PetitionRequest(Form):
    """The petitioner's request for 复查 (第三十五条) or 复核 (第三十六条), recorded by
    staff within 30 days of the written opinion."""

    kind: Literal["review", "recheck"] = Field(title="请求")
    received_on: date = Field(title="收到请求日期")
    reason: str = Field(min_length=1, max_length=2000, title="请求理由")


# --- steps --------------------------------------------------------------------------

_handling = {"role": "handling_staff", "level": "handling"}
_above = {"role": "above_staff", "level": "above"}
_leader = {"role": "leader", "level": "county"}

SPEC = ProcessSpec(
    key=PROCESS_KEY,
    title="投诉/信访/差评 闭环处理",
    title_en="Complaint closed loop: bad reviews, window complaints, petitions",
    workflow="ComplaintWorkflow",
    clauses=("003 §9.2.1", "003 §9.1.3", "003 §7.4.2", "信访工作条例 第二十三条"),
    start_form=ComplaintStartForm,
    first="verify",
    per_veteran="many",
    subject="org_unit",
    rated_on_close=False,
    status_labels=STATUS_LABELS,
    steps=(
        StepSpec(
            key="verify",
            title="问题核实",
            clause="003 §9.2.1",
            **_handling,
            outcomes=("valid", "misrated", "malicious"),
            form=VerifyForm,
            next=("rectify", "appeal_review"),
            description="谁办理、谁负责: 办理单位联系服务对象核实差评或投诉",
        ),
        StepSpec(
            key="appeal_review",
            title="申诉复核",
            clause="003 §9.2.1",
            **_above,
            outcomes=("appeal_upheld", "sent_back"),
            form=AppealReviewForm,
            next=("rectify",),
            description="误评、恶意差评由上一级复核: 申诉成立的差评不计入; 不成立的退回整改",
        ),
        StepSpec(
            key="rectify",
            title="反馈整改",
            clause="003 §9.2.1",
            **_handling,
            outcomes=("rectified", "explained", "complex"),
            form=RectifyForm,
            next=("follow_up", "rectify_extension"),
            description="立行立改; 复杂问题列入台账、限期整改(报领导批准)",
        ),
        StepSpec(
            key="rectify_extension",
            title="整改延期审批",
            clause="003 §9.2.1",
            **_leader,
            outcomes=("approved", "refused"),
            form=ApprovalForm,
            next=("rectify",),
        ),
        StepSpec(
            key="follow_up",
            title="问题回访",
            clause="003 §7.4.2",
            **_handling,
            outcomes=("satisfied", "unsatisfied"),
            form=FollowUpForm,
            next=("improve", "rectify"),
            description="回访服务对象: 不满意的重新整改(计为重开)",
        ),
        StepSpec(
            key="improve",
            title="改进提升",
            clause="003 §9.2.1",
            **_handling,
            outcomes=("done",),
            form=ImproveForm,
        ),
        StepSpec(
            key="acceptance_decision",
            title="决定是否受理(书面告知)",
            clause="信访工作条例 第二十三条",
            **_handling,
            outcomes=("accept", "transfer", "not_acceptable"),
            form=AcceptanceForm,
            next=("handling",),
            description="收到之日起15日内书面告知信访人是否受理",
        ),
        StepSpec(
            key="handling",
            title="办理并出具信访处理意见书",
            clause="信访工作条例 第三十二条",
            **_handling,
            outcomes=("supported", "explained", "not_supported", "request_extension"),
            form=OpinionForm,
            next=("handling_extension",),
            description="受理之日起60日内办结(第三十四条); 延期须负责人批准并告知理由",
        ),
        StepSpec(
            key="handling_extension",
            title="信访办理延期审批",
            clause="信访工作条例 第三十四条",
            **_leader,
            outcomes=("approved", "refused"),
            form=ApprovalForm,
            next=("handling",),
            description="延长不超过30日，并告知信访人延期理由",
        ),
        StepSpec(
            key="review",
            title="复查",
            clause="信访工作条例 第三十五条",
            **_above,
            outcomes=("upheld", "revised"),
            form=OpinionForm,
            description="收到复查请求之日起30日内提出复查意见",
        ),
        StepSpec(
            key="recheck",
            title="复核",
            clause="信访工作条例 第三十六条",
            role="above2_staff",
            level="above2",
            outcomes=("upheld", "revised", "hearing"),
            form=OpinionForm,
            next=("hearing",),
            description="收到复核请求之日起30日内提出复核意见; 听证时间不计入",
        ),
        StepSpec(
            key="hearing",
            title="听证(不计入复核期限)",
            clause="信访工作条例 第三十六条",
            role="above2_staff",
            level="above2",
            outcomes=("held",),
            form=HearingForm,
            next=("recheck",),
        ),
        StepSpec(
            key="supervise",
            title="督办",
            clause="信访工作条例 第四十条",
            **_above,
            outcomes=("supervised",),
            form=SuperviseForm,
            description="办理环节逾期的，由上一级督办",
        ),
    ),
)
SPECS = {SPEC.version: SPEC}


def calendar_due(day: date, days: int) -> datetime:
    """The end of the ``days``-th calendar day after ``day`` (Asia/Shanghai): 信访 time
    limits count 日, holidays included (信访工作条例; 民法典 第二百零一条 counts from the
    next day)."""
    end = day + timedelta(days=days + 1)
    return datetime(end.year, end.month, end.day, tzinfo=TZ)


# --- policies -----------------------------------------------------------------------

LADDER = county_ladder(2)
FAST_LADDER = fast_county_ladder()


def _working(n: int, source: str = _LOCAL) -> TaskPolicy:
    return TaskPolicy(
        working_days=n,
        remind_before=timedelta(hours=4),
        source=source,
        escalation=LADDER,
    )


def _calendar(n: int, source: str) -> TaskPolicy:
    return TaskPolicy(
        calendar_days=n,
        remind_before=timedelta(days=3),
        source=source,
        escalation=[EscalationRung(after_working_days=0, notify="supervisor")],
    )


STANDARD_POLICY = ProcessPolicy(
    name="standard",
    default=_working(5),
    steps={
        "verify": _working(2),
        "appeal_review": _working(5),
        # 15个工作日 to rectify (domain.md §5A: 四川, 澄江; configurable).
        "rectify": _working(15, "15个工作日(地方规定, 可配置)"),
        "rectify_extension": _working(2),
        "follow_up": _working(5, "003 §7.4.2; " + _LOCAL),
        "improve": _working(10),
        "supervise": _working(2),
        "acceptance_decision": _calendar(15, "信访工作条例 第二十三条: 15日"),
        "handling": _calendar(60, "信访工作条例 第三十四条: 60日"),
        "handling_extension": _working(2),
        "review": _calendar(30, "信访工作条例 第三十五条: 30日"),
        "recheck": _calendar(30, "信访工作条例 第三十六条: 30日"),
        "hearing": _calendar(30, _LOCAL),
    },
    timers={
        # 第三十五、三十六条: a request for 复查 / 复核 within 30 days of the opinion.
        "request_window": timedelta(days=30),
    },
)

FAST_POLICY = ProcessPolicy(
    name="fast",
    default=TaskPolicy(
        duration=timedelta(minutes=10),
        remind_before=timedelta(minutes=2),
        source="demo",
        escalation=FAST_LADDER,
    ),
    timers={"request_window": timedelta(minutes=10)},
)

POLICIES = {"standard": STANDARD_POLICY, "fast": FAST_POLICY}


# --- helpers the workflow and the pages share ----------------------------------------

PETITION_STEPS = (
    "acceptance_decision",
    "handling",
    "handling_extension",
    "review",
    "recheck",
    "hearing",
)
REVIEW_STEPS = (
    "verify",
    "appeal_review",
    "rectify",
    "rectify_extension",
    "follow_up",
    "improve",
)
