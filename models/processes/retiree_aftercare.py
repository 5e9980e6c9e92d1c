"""军休干部逝世善后 (death and aftercare of a retired cadre): step definitions, forms and
policies; and 失联 (a retired cadre out of contact, ``retiree_lost_contact``).

Sources: 004_e39f325d814e467f.txt §6.10 (逝世善后: 报告, 慰问吊唁, 讣告和生平, 遗体告别
从简, 覆盖党旗军旗按有关规定, 抚恤和遗属待遇), §6.2.2.9 (慰问), §6.3.2.6 (离退休费、护理费
停发), §6.4.2.4 (失去联系满6个月的暂停发放并调查报告); 军人抚恤优待条例 第十五–十八条
(一次性抚恤金, 增发, 遗属), 第二十二条; domain.md §4.

The case runs the urgent work in parallel at once — stopping the pension (and recovering
what was paid for later months), the condolence visit, the obituary, the flag covering
when requested, and the survivors' determination — then the benefits (claim, review,
approval by a leader who did not review it, payment), then the card recall and the
archive closure. Each survivor on the living allowance gets a workflow of their own
that runs for years with a yearly confirmation.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from models.aftercare_benefit import Cause, Honour
from models.contracts import EscalationRung, ProcessPolicy, TaskPolicy
from models.escalation import county_ladder, fast_county_ladder
from models.forms import Form, outcome_of
from models.idnumber import validate_id_number
from models.process_spec import ProcessSpec, StepSpec

PROCESS_KEY = "retiree_aftercare"
LOST_CONTACT_KEY = "retiree_lost_contact"
# The categories this process serves (004 scope: 军队离休退休干部和退休军士).
SERVED = ("军休干部", "军休士官")
SERVED_MESSAGE = (
    "军休干部逝世善后仅适用于军休干部、军休士官 (DB51/T 2839—2021 §6.10): "
    "only for retired cadres"
)
_LOCAL = "本地承诺时限(可配置)"

STATUS_LABELS = {
    "reported": "已报告",
    "in_progress": "善后办理中",
    "benefits": "抚恤待遇办理中",
    "benefits_approval": "抚恤待遇待审批",
    "benefits_paid": "抚恤待遇已发放",
    "closing": "收尾(收回优待证、档案)",
}
LOST_CONTACT_LABELS = {
    "suspended": "已暂停发放",
    "investigating": "调查中",
    "found": "已恢复联系",
    "died": "已确认死亡",
}


def survivor_id(case_id: str, n: int) -> str:
    """The workflow id of the n-th survivor's living allowance."""
    return f"{case_id}.survivor.{n}"


# --- forms -------------------------------------------------------------------------


class DeathReportForm(Form):
    """The death report that starts the case (004 §6.10: 家属报告军休机构)."""

    died_on: date = Field(title="死亡日期")
    cause: Cause = Field(title="死亡性质")
    place: str = Field(min_length=1, max_length=200, title="死亡地点")
    reported_by: str = Field(min_length=1, max_length=50, title="报告人")
    reporter_relation: str = Field(min_length=1, max_length=20, title="与逝者关系")
    cause_detail: str = Field(
        default="",
        max_length=500,
        title="死亡原因",
        json_schema_extra={"sensitive": True},
    )
    flag_covering_requested: bool = Field(default=False, title="申请覆盖党旗/军旗")
    flag_basis: Literal["", "wish", "family_application"] = Field(
        default="", title="覆盖依据(本人遗愿/家属申请)"
    )
    farewell_on: date | None = Field(default=None, title="遗体告别日期")

    @model_validator(mode="after")
    def _flag(self) -> DeathReportForm:
        if self.flag_covering_requested and (
            not self.flag_basis or not self.farewell_on
        ):
            raise ValueError(
                "申请覆盖党旗/军旗须写明依据和遗体告别日期 "
                "(flag_basis and farewell_on are required)"
            )
        if self.farewell_on and self.farewell_on < self.died_on:
            raise ValueError("遗体告别日期不能早于死亡日期 (farewell before death)")
        return self


class ReportForm(Form):
    reported_on: date = Field(title="报告日期")
    bureau: str = Field(min_length=1, max_length=100, title="报告单位(安置主管部门)")
    note: str = Field(default="", max_length=2000, title="备注")


class StopPensionForm(Form):
    """离退休费和护理费自死亡次月起停发 (004 §6.3.2.6): what was paid, through which
    month, so the overpayment is computed."""

    monthly_pension: Decimal = Field(
        ge=0, max_digits=10, decimal_places=2, title="月离退休费(元)"
    )
    nursing_fee: Decimal = Field(
        default=Decimal("0"),
        ge=0,
        max_digits=10,
        decimal_places=2,
        title="月护理费(元)",
    )
    paid_through: date = Field(title="已发放至(月份)")
    stopped_on: date = Field(title="停发日期")


class RecoveryForm(Form):
    reference: str = Field(default="", max_length=100, title="收回凭证号")
    waiver_reason: str = Field(default="", max_length=2000, title="免予收回理由")
    note: str = Field(default="", max_length=2000, title="备注")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> RecoveryForm:
        outcome = outcome_of(info)
        if outcome == "recovered" and not self.reference:
            raise ValueError("须填写收回凭证号 (reference is required)")
        if outcome == "waived" and not self.waiver_reason.strip():
            raise ValueError("免予收回须说明理由 (a reason is required)")
        return self


class ApprovalForm(Form):
    note: str = Field(default="", max_length=2000, title="审批意见")
    reason: str = Field(default="", max_length=2000, title="不同意理由")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> ApprovalForm:
        if outcome_of(info) in ("rejected", "refused") and not self.reason.strip():
            raise ValueError("须说明理由 (a reason is required)")
        return self


class VisitForm(Form):
    visited_on: date = Field(title="慰问日期")
    visitors: str = Field(min_length=1, max_length=200, title="慰问人员")
    note: str = Field(default="", max_length=2000, title="慰问情况")


class ObituaryForm(Form):
    """讣告和生平 (drafted from the registry and the archive)."""

    obituary: str = Field(min_length=1, max_length=8000, title="讣告")
    life_summary: str = Field(min_length=1, max_length=20000, title="生平")


class ReviewForm(Form):
    defects: list[str] = Field(
        default_factory=list, max_length=30, title="需补正的事项(一次性告知)"
    )
    note: str = Field(default="", max_length=2000, title="审核意见")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> ReviewForm:
        if outcome_of(info) == "return_for_correction" and not [
            d for d in self.defects if d.strip()
        ]:
            raise ValueError("退回补正须一次性列明全部需补正的事项 (list every defect)")
        return self


class FlagForm(Form):
    """覆盖党旗/军旗 按有关规定 (004 §6.10): approved or refused before the farewell."""

    flag: Literal["party", "army", "party_and_army"] = Field(title="覆盖旗帜")
    note: str = Field(default="", max_length=2000, title="审批意见")
    reason: str = Field(default="", max_length=2000, title="不同意理由")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> FlagForm:
        if outcome_of(info) == "refused" and not self.reason.strip():
            raise ValueError("须说明理由 (a reason is required)")
        return self


Relation = Literal["spouse", "parent", "child", "sibling", "dependant"]
RELATION_LABELS = {
    "spouse": "配偶",
    "parent": "父母(抚养人)",
    "child": "子女",
    "sibling": "兄弟姐妹",
    "dependant": "由其生前供养的人",
}


class Survivor(BaseModel):
    """One 遗属 (第十八条); the ID number validated and masked like a veteran's."""

    model_config = {"extra": "forbid", "str_strip_whitespace": True}

    name: str = Field(min_length=1, max_length=50, title="姓名")
    id_number: str = Field(
        min_length=18,
        max_length=18,
        title="身份证号",
        json_schema_extra={"sensitive": True},
    )
    relation: Relation = Field(title="关系")
    born_on: date = Field(title="出生日期")
    allowance_eligible: bool = Field(
        default=False, title="符合遗属生活补助条件(无收入、无工作)"
    )

    @field_validator("id_number")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return validate_id_number(value)

    @model_validator(mode="after")
    def _born_as_the_id_says(self) -> Survivor:
        # The age test of 第十八条 reads born_on: it must be the ID number's date.
        if self.id_number[6:14] != f"{self.born_on:%Y%m%d}":
            raise ValueError(
                "出生日期与身份证号不符 (born_on does not match the ID number)"
            )
        return self


class SurvivorsForm(Form):
    survivors: list[Survivor] = Field(min_length=1, max_length=30, title="遗属")
    note: str = Field(default="", max_length=2000, title="备注")


def survivor_defects(survivors: list[Survivor], died_on: date) -> list[str]:
    """第十八条: 父母(抚养人), 配偶, 子女; only when there are none, brothers and sisters
    under 18 at the death, or persons the deceased supported. Every defect at once."""
    defects: list[str] = []
    first = [s for s in survivors if s.relation in ("spouse", "parent", "child")]
    others = [s for s in survivors if s.relation in ("sibling", "dependant")]
    if first and others:
        names = "、".join(s.name for s in others)
        defects.append(f"有配偶、父母或子女的，兄弟姐妹及被供养人不列为遗属: {names}")
    for s in survivors:
        if s.relation == "sibling":
            age = (
                died_on.year
                - s.born_on.year
                - ((died_on.month, died_on.day) < (s.born_on.month, s.born_on.day))
            )
            if age >= 18:
                defects.append(f"{s.name}: 兄弟姐妹须在逝者死亡时未满18周岁")
        if s.born_on > died_on and s.relation != "child":
            defects.append(f"{s.name}: 出生日期晚于死亡日期")
    seen: set[str] = set()
    for s in survivors:
        if s.id_number in seen:
            defects.append(f"{s.name}: 身份证号重复")
        seen.add(s.id_number)
    return defects


class BenefitClaimForm(Form):
    """丧葬费、一次性抚恤金、遗属生活补助的申报."""

    monthly_base_pay: Decimal = Field(
        gt=0, max_digits=10, decimal_places=2, title="本人月基本工资(基本离退休费,元)"
    )
    honours: list[Honour] = Field(default_factory=list, max_length=20, title="荣誉")
    applicant: str = Field(min_length=1, max_length=50, title="申领人(遗属)")
    account: str = Field(
        default="",
        max_length=40,
        pattern=r"^[0-9 ]*$",
        title="收款账户",
        json_schema_extra={"sensitive": True},
    )
    note: str = Field(default="", max_length=2000, title="备注")


class PaymentForm(Form):
    paid_on: date = Field(title="发放日期")
    payment_reference: str = Field(min_length=1, max_length=100, title="支付凭证号")
    note: str = Field(default="", max_length=2000, title="备注")


class CardRecallForm(Form):
    recalled_on: date | None = Field(default=None, title="收回日期")
    reason: str = Field(default="", max_length=2000, title="未收回原因")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> CardRecallForm:
        outcome = outcome_of(info)
        if outcome == "done" and self.recalled_on is None:
            raise ValueError("须填写收回日期 (recalled_on is required)")
        if outcome == "not_applicable" and not self.reason.strip():
            raise ValueError("须说明原因 (a reason is required)")
        return self


class ArchiveClosureForm(Form):
    closed_on: date = Field(title="归档日期")
    location: str = Field(min_length=1, max_length=200, title="存放位置")
    note: str = Field(default="", max_length=2000, title="备注")


class ConfirmationForm(Form):
    """遗属生活补助 yearly confirmation: still alive, still eligible."""

    confirmed_on: date = Field(title="确认日期")
    reason: str = Field(default="", max_length=2000, title="不再符合条件的原因")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> ConfirmationForm:
        if outcome_of(info) == "not_eligible" and not self.reason.strip():
            raise ValueError("须说明原因 (a reason is required)")
        return self


# --- steps -------------------------------------------------------------------------

_county = {"role": "county_staff", "level": "county"}
_finance = {"role": "finance_staff", "level": "county"}
_leader = {"role": "leader", "level": "county"}

SPEC = ProcessSpec(
    key=PROCESS_KEY,
    title="军休干部逝世善后",
    title_en="Death and aftercare of a retired cadre",
    workflow="RetireeAftercareWorkflow",
    clauses=(
        "004 §6.10",
        "004 §6.3.2.6",
        "004 §6.4.2.4",
        "军人抚恤优待条例 第十五–十八条",
    ),
    start_form=DeathReportForm,
    first="report_to_bureau",
    per_veteran="once",
    # The veteran has died: nobody is sent a rating link at the close.
    rated_on_close=False,
    version=1,
    served_categories=SERVED,
    served_message=SERVED_MESSAGE,
    status_labels=STATUS_LABELS,
    steps=(
        StepSpec(
            key="report_to_bureau",
            title="向安置主管部门报告",
            clause="004 §6.10",
            **_county,
            outcomes=("reported",),
            form=ReportForm,
            next=(
                "stop_pension",
                "condolence_visit",
                "obituary",
                "flag_covering",
                "survivor_determination",
            ),
            description="军休机构及时向本级安置主管部门报告",
        ),
        StepSpec(
            key="stop_pension",
            title="停发离退休费和护理费",
            clause="004 §6.3.2.6",
            **_finance,
            outcomes=("done",),
            form=StopPensionForm,
            next=("recover_overpayment", "benefit_claim"),
            group="urgent",
            description="自死亡次月起停发；已多发的计算后收回或从待遇中抵扣",
        ),
        StepSpec(
            key="recover_overpayment",
            title="收回多发的离退休费",
            clause="004 §6.3.2.6",
            **_finance,
            outcomes=("recovered", "offset", "waived"),
            form=RecoveryForm,
            next=("waiver_approval", "benefit_claim"),
            group="urgent",
            description="收回、从抚恤待遇中抵扣，或经批准免予收回",
        ),
        StepSpec(
            key="waiver_approval",
            title="免予收回审批",
            clause="004 §6.3.2.6",
            **_leader,
            outcomes=("approved", "rejected"),
            form=ApprovalForm,
            next=("recover_overpayment",),
            group="urgent",
            four_eyes_with="recover_overpayment",
        ),
        StepSpec(
            key="condolence_visit",
            title="慰问吊唁",
            clause="004 §6.10; 004 §6.2.2.9",
            **_county,
            outcomes=("done",),
            form=VisitForm,
            group="urgent",
        ),
        StepSpec(
            key="obituary",
            title="讣告和生平",
            clause="004 §6.10",
            **_county,
            outcomes=("submitted",),
            form=ObituaryForm,
            next=("obituary_approval",),
            group="urgent",
            description="根据登记信息和档案起草讣告、生平",
            materials=("人事档案", "登记信息"),
        ),
        StepSpec(
            key="obituary_approval",
            title="讣告和生平审定",
            clause="004 §6.10",
            **_leader,
            outcomes=("approve", "return_for_correction"),
            form=ReviewForm,
            next=("obituary",),
            group="urgent",
        ),
        StepSpec(
            key="flag_covering",
            title="覆盖党旗/军旗审批",
            clause="004 §6.10",
            **_leader,
            outcomes=("approved", "refused"),
            form=FlagForm,
            group="urgent",
            description="本人遗愿或家属申请的，按有关规定在遗体告别前审批",
        ),
        StepSpec(
            key="survivor_determination",
            title="遗属认定",
            clause="军人抚恤优待条例 第十八条",
            **_county,
            outcomes=("determined",),
            form=SurvivorsForm,
            next=("benefit_claim",),
            group="urgent",
            description="父母(抚养人)、配偶、子女；无上述亲属的，未满18周岁的兄弟姐妹或生前供养的人",
            materials=("遗属身份证", "户口簿", "亲属关系证明"),
        ),
        StepSpec(
            key="benefit_claim",
            title="抚恤待遇申报",
            clause="军人抚恤优待条例 第十五条; 军人抚恤优待条例 第十六条",
            **_county,
            outcomes=("submitted",),
            form=BenefitClaimForm,
            next=("benefit_review",),
            description="丧葬费、一次性抚恤金、遗属生活补助；按公式计算，逐项列明",
            materials=(
                "死亡医学证明或火化证明",
                "户口注销证明",
                "离退休证",
                "遗属银行账户",
            ),
        ),
        StepSpec(
            key="benefit_review",
            title="抚恤待遇审核",
            clause="军人抚恤优待条例 第十五条",
            **_county,
            outcomes=("approve", "return_for_correction"),
            form=ReviewForm,
            next=("benefit_approval", "benefit_claim"),
        ),
        StepSpec(
            key="benefit_approval",
            title="抚恤待遇审批",
            clause="军人抚恤优待条例 第十五条",
            **_leader,
            outcomes=("approved", "rejected"),
            form=ApprovalForm,
            next=("benefit_payment", "benefit_review"),
            four_eyes_with="benefit_review",
            description="由未参与审核的领导审批(双人复核)",
        ),
        StepSpec(
            key="benefit_payment",
            title="发放抚恤待遇",
            clause="军人抚恤优待条例 第十五条",
            **_finance,
            outcomes=("paid",),
            form=PaymentForm,
            next=("card_recall",),
        ),
        StepSpec(
            key="allowance_confirmation",
            title="遗属生活补助年度确认",
            clause="军人抚恤优待条例 第十八条",
            **_county,
            outcomes=("confirmed", "not_eligible"),
            form=ConfirmationForm,
            group="allowance",
            description="每年确认遗属健在且仍符合条件；未确认的停发",
        ),
        StepSpec(
            key="card_recall",
            title="收回优待证",
            clause="004 §6.10",
            **_county,
            outcomes=("done", "not_applicable"),
            form=CardRecallForm,
            next=("archive_closure",),
        ),
        StepSpec(
            key="archive_closure",
            title="档案整理归档",
            clause="004 §6.10; 003 §6.9.2.4",
            **_county,
            outcomes=("done",),
            form=ArchiveClosureForm,
        ),
    ),
)
SPECS = {SPEC.version: SPEC}


# --- lost contact (004 §6.4.2.4) ----------------------------------------------------


class LostContactStartForm(Form):
    last_contact_on: date = Field(title="最后联系日期")
    note: str = Field(default="", max_length=2000, title="情况说明")


class SuspendForm(Form):
    suspended_from: date = Field(title="暂停发放自")
    note: str = Field(default="", max_length=2000, title="备注")


class InvestigationForm(Form):
    """The investigation's finding; a confirmed death carries the death report."""

    finding: str = Field(min_length=1, max_length=4000, title="调查情况")
    died_on: date | None = Field(default=None, title="死亡日期")
    cause: Cause | None = Field(default=None, title="死亡性质")
    place: str = Field(default="", max_length=200, title="死亡地点")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> InvestigationForm:
        if outcome_of(info) == "died" and not (
            self.died_on and self.cause and self.place
        ):
            raise ValueError(
                "确认死亡须填写死亡日期、性质和地点 (died_on, cause, place required)"
            )
        return self


class UpwardReportForm(Form):
    reported_on: date = Field(title="报告日期")
    note: str = Field(default="", max_length=2000, title="备注")


LOST_CONTACT_SPEC = ProcessSpec(
    key=LOST_CONTACT_KEY,
    title="军休干部失联处置",
    title_en="Retired cadre out of contact",
    workflow="RetireeLostContactWorkflow",
    clauses=("004 §6.4.2.4",),
    start_form=LostContactStartForm,
    first="suspend_pay",
    per_veteran="numbered",
    rated_on_close=False,
    version=1,
    served_categories=SERVED,
    served_message=SERVED_MESSAGE,
    status_labels=LOST_CONTACT_LABELS,
    steps=(
        StepSpec(
            key="suspend_pay",
            title="暂停发放离退休费",
            clause="004 §6.4.2.4",
            **_finance,
            outcomes=("done",),
            form=SuspendForm,
            next=("investigate",),
            description="失去联系满6个月的，暂停发放",
        ),
        StepSpec(
            key="investigate",
            title="调查核实",
            clause="004 §6.4.2.4",
            **_county,
            outcomes=("found", "died", "still_missing"),
            form=InvestigationForm,
            next=("report_upward",),
        ),
        StepSpec(
            key="report_upward",
            title="向上级报告",
            clause="004 §6.4.2.4",
            **_county,
            outcomes=("reported",),
            form=UpwardReportForm,
            next=("resume_pay",),
        ),
        StepSpec(
            key="resume_pay",
            title="恢复发放",
            clause="004 §6.4.2.4",
            **_finance,
            outcomes=("done",),
            form=SuspendForm,
            description="恢复联系的，恢复发放并补发暂停期间的离退休费",
        ),
    ),
)
LOST_CONTACT_SPECS = {LOST_CONTACT_SPEC.version: LOST_CONTACT_SPEC}

# --- policies ----------------------------------------------------------------------

LADDER = county_ladder(1)
FAST_LADDER = fast_county_ladder()


def _days(n: int, source: str = _LOCAL) -> TaskPolicy:
    return TaskPolicy(
        working_days=n,
        remind_before=timedelta(hours=4),
        source=source,
        escalation=LADDER,
    )


STANDARD_POLICY = ProcessPolicy(
    name="standard",
    default=_days(5),
    steps={
        # "及时" (004 §6.10): one working day, a local commitment.
        "report_to_bureau": _days(1, "004 §6.10 及时; " + _LOCAL),
        "stop_pension": _days(3),
        "condolence_visit": TaskPolicy(
            calendar_days=3,
            remind_before=timedelta(hours=12),
            source="004 §6.10; " + _LOCAL,
            escalation=LADDER,
        ),
        "obituary": _days(2),
        "obituary_approval": _days(1),
        # Due the day before the farewell (set by the workflow); the leader hears at once.
        "flag_covering": TaskPolicy(
            working_days=1,
            source="004 §6.10",
            escalation=[EscalationRung(after_working_days=0, notify="county_leader")],
        ),
        "survivor_determination": _days(10),
        "benefit_claim": _days(20),
        "benefit_review": _days(10),
        "benefit_approval": _days(5),
        "benefit_payment": _days(10),
        "recover_overpayment": _days(20),
        "waiver_approval": _days(5),
        "allowance_confirmation": _days(20),
        "card_recall": _days(20),
        "archive_closure": _days(20),
        "suspend_pay": _days(3),
        "investigate": _days(30),
        "report_upward": _days(5),
        "resume_pay": _days(5),
    },
    timers={
        # The survivors' allowance is confirmed once a year.
        "allowance_year": timedelta(days=365),
    },
    counts={"allowance_rollover_years": 5},
)

FAST_POLICY = ProcessPolicy(
    name="fast",
    default=TaskPolicy(
        duration=timedelta(minutes=10),
        remind_before=timedelta(minutes=2),
        source="demo",
        escalation=FAST_LADDER,
    ),
    steps={
        "flag_covering": TaskPolicy(
            duration=timedelta(minutes=10),
            source="demo",
            escalation=[EscalationRung(after=timedelta(0), notify="county_leader")],
        ),
    },
    timers={"allowance_year": timedelta(minutes=5)},
    counts={"allowance_rollover_years": 2},
)

POLICIES = {"standard": STANDARD_POLICY, "fast": FAST_POLICY}
