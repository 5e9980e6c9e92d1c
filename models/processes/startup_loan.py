"""退役军人创业贷款及贴息 (entrepreneurship loan and interest subsidy): step definitions,
forms and policies.

Sources: 003_f9c5147b9b40820b.txt §6.3.2.3 (创业需求登记: 姓名、身份证号、创业意向领域、
是否有创业指导需求 …), §6.3.2.5 (宣传创业贷款贴息政策), §6.3.2.6 (指导申请个人自主创业
贷款、小微企业初创期贷款、信用贷款和抵押贷款, 协调金融机构受理、审批、发放),
§6.3.2.7 (贷款使用结束后, 按经办银行提供的贷款审批资料、本金利息还清记录审核贴息资格,
提出贴息方案, 发放贴息资金), §6.3.2.8 (创业带动就业奖励); domain.md §3 (the Qingdao
parameters, materials, and the veteran's separate consent before anything goes to a
bank: 个人信息保护法 第二十三条).

A case lives from the first registration of a business idea to the subsidy paid years
later: the years of repayment run in a child workflow (``LoanServicingWorkflow``) that
continues as new, so the case's own history stays small.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, model_validator

from models.contracts import ProcessPolicy, TaskPolicy
from models.escalation import county_ladder, fast_county_ladder
from models.forms import Form, outcome_of
from models.loan_policy import LoanType, SubjectType
from models.loan_subsidy import Repayment
from models.process_spec import ProcessSpec, StepSpec

PROCESS_KEY = "startup_loan"
_LOCAL = "本地承诺时限(可配置)"

STATUS_LABELS = {
    "registered": "已登记创业需求",
    "applying": "申请中",
    "in_correction": "补正中(一次性告知)",
    "under_review": "资格审核中",
    "at_bank": "银行审批中",
    "bank_rejected": "银行未批准",
    "repaying": "贷款使用中",
    "repaid": "已还清待审核贴息",
    "subsidy_review": "贴息资格审核中",
    "subsidy_approval": "贴息方案待审批",
    "subsidy_paying": "贴息待发放",
    "subsidy_paid": "贴息已发放",
    "no_subsidy": "不予贴息",
    "employment_reward": "就业奖励办理中",
    "referred_guidance": "转创业指导",
    "refused": "不予受理",
}

# Case ids: ``startup_loan-v<veteran id>-<n>``, one veteran may have several loans over
# the years (``ProcessSpec.per_veteran == "numbered"``).


def servicing_id(case_id: str) -> str:
    """The workflow id of a case's repayment phase (its child workflow)."""
    return f"{case_id}.servicing"


def application_ref(case_id: str, n: int) -> str:
    """Our reference of the n-th push of the application to a bank: the bank quotes
    it back in its callbacks."""
    return f"{case_id}.bank.{n}"


# --- forms -------------------------------------------------------------------------


class StartupLoanStartForm(Form):
    note: str = Field(default="", max_length=2000, title="备注")


class DemandRegistrationForm(Form):
    """创业需求登记 (003 §6.3.2.3): the identity fields come from the registry."""

    intent_field: str = Field(min_length=1, max_length=200, title="创业意向领域")
    needs_guidance: bool = Field(title="是否有创业指导需求")
    contact_phone: str = Field(
        pattern=r"^[0-9+\- ]{7,20}$", max_length=20, title="联系电话"
    )
    education: str = Field(default="", max_length=50, title="学历")
    specialty: str = Field(default="", max_length=200, title="特长")
    note: str = Field(default="", max_length=2000, title="备注")


class ApplicationForm(Form):
    """Loan application and choice of bank (003 §6.3.2.6), with the veteran's separate
    consent to share data with the bank (个人信息保护法 第二十三条): recorded here;
    without it the eligibility check fails and nothing goes to a bank."""

    loan_type: LoanType = Field(title="贷款类型")
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2, title="申请金额(元)")
    term_months: int = Field(gt=0, le=360, title="贷款期限(月)")
    bank: str = Field(
        min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$", title="意向银行"
    )
    subject_type: SubjectType = Field(title="申请主体")
    subject_name: str = Field(default="", max_length=200, title="经营主体名称")
    registered_on: date | None = Field(default=None, title="经营主体登记注册日期")
    business_plan: str = Field(min_length=1, max_length=4000, title="创业计划摘要")
    bank_data_consent: bool = Field(
        title="本人单独同意向承办银行提供个人信息(个人信息保护法第二十三条)"
    )
    consent_signed_on: date | None = Field(default=None, title="同意书签署日期")

    @model_validator(mode="after")
    def _consent_dated(self) -> ApplicationForm:
        if self.bank_data_consent and self.consent_signed_on is None:
            raise ValueError("须填写同意书签署日期 (consent_signed_on is required)")
        return self


class ReviewDecisionForm(Form):
    """A review that passes, sends back every defect at once, or refuses with reason."""

    defects: list[str] = Field(
        default_factory=list, max_length=30, title="需补正的事项(一次性告知)"
    )
    reason: str = Field(default="", max_length=2000, title="不予办理理由")
    note: str = Field(default="", max_length=2000, title="审核意见")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> ReviewDecisionForm:
        outcome = outcome_of(info)
        if outcome == "return_for_correction" and not [
            d for d in self.defects if d.strip()
        ]:
            raise ValueError("退回补正须一次性列明全部需补正的事项 (list every defect)")
        if outcome == "refuse" and not self.reason.strip():
            raise ValueError("不予办理须说明理由 (a reason is required)")
        return self


class CountyReviewForm(ReviewDecisionForm):
    """身份/资格核实 (domain.md §3 step 3): the veteran's identity and the subject."""

    identity_verified: bool = Field(default=False, title="退役军人身份已核实")
    subject_verified: bool = Field(default=False, title="经营主体已核实")

    @model_validator(mode="after")
    def _verified(self, info: ValidationInfo) -> CountyReviewForm:
        if outcome_of(info) == "approve" and not (
            self.identity_verified and self.subject_verified
        ):
            raise ValueError("通过须核实身份和经营主体 (verify identity and subject)")
        return self


class BankDecision(BaseModel):
    """What a bank decides on an application: the callback's body, or the desk task of
    a bank without an integration (the same fields)."""

    bank_reference: str = Field(min_length=1, max_length=80, title="银行业务编号")
    amount: Decimal | None = Field(
        default=None, gt=0, max_digits=12, decimal_places=2, title="核准金额(元)"
    )
    annual_rate: Decimal | None = Field(
        default=None, ge=0, le=36, max_digits=7, decimal_places=4, title="年利率(%)"
    )
    lpr: Decimal | None = Field(
        default=None,
        ge=0,
        le=20,
        max_digits=7,
        decimal_places=4,
        title="合同签订日1年期LPR(%)",
    )
    term_months: int | None = Field(default=None, gt=0, le=360, title="期限(月)")
    contract_date: date | None = Field(default=None, title="合同签订日")
    reason: str = Field(default="", max_length=2000, title="未批准原因")


class BankDecisionForm(Form, BankDecision):
    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> BankDecisionForm:
        check_decision(outcome_of(info), self)
        return self


# The desk task's outcomes, as the bank callback's kinds.
DESK_OUTCOMES = {"loan_granted": "approved", "loan_declined": "rejected"}


def check_decision(outcome: str | None, d: BankDecision) -> None:
    """Approved: every loan term; rejected: the reason (``outcome`` a callback kind
    or a desk outcome)."""
    outcome = DESK_OUTCOMES.get(outcome or "", outcome)
    if outcome == "approved":
        missing = [
            name
            for name in ("amount", "annual_rate", "lpr", "term_months", "contract_date")
            if getattr(d, name) is None
        ]
        if missing:
            raise ValueError(
                f"批准须填写 {', '.join(missing)} (required when approved)"
            )
    if outcome == "rejected" and not d.reason.strip():
        raise ValueError("未批准须说明原因 (a reason is required)")


class BankRejectedForm(Form):
    """银行未批准: refer to another bank or to 创业指导 (domain.md §3 e)."""

    bank: str = Field(
        default="", max_length=40, pattern=r"^[a-z0-9_]*$", title="转介银行"
    )
    note: str = Field(default="", max_length=2000, title="说明")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> BankRejectedForm:
        if outcome_of(info) == "refer_bank" and not self.bank:
            raise ValueError("转介其他银行须选择银行 (bank is required)")
        return self


class FollowupForm(Form):
    """贷后回访 (domain.md §3 step 5): funds only for the business."""

    visited_on: date = Field(title="回访日期")
    operating: bool = Field(title="经营正常")
    funds_for_business: bool = Field(title="贷款用于创业经营")
    note: str = Field(default="", max_length=2000, title="回访记录")


class RepaymentProofForm(Form):
    """本金利息还清记录 (003 §6.3.2.7): the repayments as paid, and the account the
    subsidy goes to (金融账户: sensitive, masked unless the role needs it)."""

    repayments: list[Repayment] = Field(
        default_factory=list, max_length=600, title="还款记录(实际)"
    )
    settled_on: date | None = Field(default=None, title="结清日期")
    proof_reference: str = Field(default="", max_length=100, title="结清证明编号")
    subsidy_account: str = Field(
        default="",
        max_length=40,
        pattern=r"^[0-9 ]*$",
        title="贴息收款账户",
        json_schema_extra={"sensitive": True},
    )
    reason: str = Field(default="", max_length=2000, title="未还清/违规原因")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> RepaymentProofForm:
        outcome = outcome_of(info)
        if outcome == "submitted":
            if not self.repayments or not self.proof_reference or not self.settled_on:
                raise ValueError(
                    "须填写还款记录、结清日期和结清证明编号 "
                    "(repayments, settled_on and proof_reference are required)"
                )
            if not self.subsidy_account.strip():
                raise ValueError("须填写贴息收款账户 (subsidy_account is required)")
            dates = [r.paid_on for r in self.repayments]
            if any(a >= b for a, b in pairwise(dates)):
                raise ValueError(
                    "还款记录须按还款日期逐笔递增 (repayments in order of their dates)"
                )
        if outcome == "not_repaid" and not self.reason.strip():
            raise ValueError("须说明原因 (a reason is required)")
        return self


class SubsidyApprovalForm(Form):
    note: str = Field(default="", max_length=2000, title="审批意见")
    reason: str = Field(default="", max_length=2000, title="退回理由")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> SubsidyApprovalForm:
        if outcome_of(info) == "rejected" and not self.reason.strip():
            raise ValueError("退回须说明理由 (a reason is required)")
        return self


class PaymentForm(Form):
    """The payment as made (the amount is the approved plan's, shown in the task)."""

    paid_on: date = Field(title="发放日期")
    payment_reference: str = Field(min_length=1, max_length=100, title="支付凭证号")
    note: str = Field(default="", max_length=2000, title="备注")


class Hire(BaseModel):
    name: str = Field(min_length=1, max_length=50, title="姓名")
    is_veteran: bool = Field(default=True, title="退役军人")
    contract_months: int = Field(ge=0, le=600, title="劳动合同期限(月)")
    social_insurance_months: int = Field(ge=0, le=600, title="已缴社保(月)")


class EmploymentRewardForm(Form):
    """创业带动就业奖励 (003 §6.3.2.8): 3,000 元 per veteran hired, 5,000 元 when the
    firm is veteran-founded; each hire needs a labour contract of ≥ 1 year and 社保
    paid ≥ 1 year (domain.md §3 b)."""

    veteran_founded: bool = Field(default=True, title="退役军人创办企业")
    hires: list[Hire] = Field(
        default_factory=list, max_length=200, title="吸纳就业人员"
    )
    reason: str = Field(default="", max_length=2000, title="不申请理由")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> EmploymentRewardForm:
        if outcome_of(info) == "apply" and not self.hires:
            raise ValueError("申请奖励须列明吸纳就业人员 (list the hires)")
        return self


REWARD_PER_HIRE = Decimal("3000.00")
REWARD_PER_HIRE_VETERAN_FOUNDED = Decimal("5000.00")
MIN_CONTRACT_MONTHS = 12
MIN_SOCIAL_INSURANCE_MONTHS = 12


def employment_reward(data: dict[str, object]) -> tuple[Decimal, list[str]]:
    """The reward and the hires that do not count (with why), from the form data."""
    form = EmploymentRewardForm.model_validate(data)
    per = REWARD_PER_HIRE_VETERAN_FOUNDED if form.veteran_founded else REWARD_PER_HIRE
    total = Decimal("0.00")
    refused: list[str] = []
    for hire in form.hires:
        if not hire.is_veteran:
            refused.append(f"{hire.name}: 非退役军人")
        elif hire.contract_months < MIN_CONTRACT_MONTHS:
            refused.append(f"{hire.name}: 劳动合同不满1年")
        elif hire.social_insurance_months < MIN_SOCIAL_INSURANCE_MONTHS:
            refused.append(f"{hire.name}: 社保缴纳不满1年")
        else:
            total += per
    return total, refused


# --- steps -------------------------------------------------------------------------

SPEC = ProcessSpec(
    key=PROCESS_KEY,
    title="退役军人创业贷款及贴息",
    title_en="Entrepreneurship loan and interest subsidy",
    workflow="StartupLoanWorkflow",
    clauses=("003 §6.3.2.3", "003 §6.3.2.6", "003 §6.3.2.7", "003 §6.3.2.8"),
    start_form=StartupLoanStartForm,
    first="demand_registration",
    per_veteran="numbered",
    version=1,
    status_labels=STATUS_LABELS,
    steps=(
        StepSpec(
            key="demand_registration",
            title="创业需求登记",
            clause="003 §6.3.2.3",
            role="village_staff",
            level="village",
            outcomes=("submitted",),
            form=DemandRegistrationForm,
            rated=True,
            next=("application",),
            description="登记创业意向领域、是否有创业指导需求，纳入创业需求库",
        ),
        StepSpec(
            key="application",
            title="创业贷款申请",
            clause="003 §6.3.2.6",
            role="county_staff",
            level="county",
            outcomes=("submitted",),
            form=ApplicationForm,
            next=("county_review",),
            description=(
                "选择贷款类型和意向银行；本人单独同意向银行提供信息后方可推送；"
                "自动按申请日有效的政策版本审核资格，不符合的一次性告知全部事项"
            ),
            materials=(
                "创业贷款申请表",
                "身份证",
                "退役证或优待证",
                "营业执照及法定代表人/股东证明",
                "创业计划书",
                "向银行提供个人信息的单独同意书",
            ),
        ),
        StepSpec(
            key="county_review",
            title="身份及经营主体资格核实",
            clause="003 §6.3.2.6",
            role="county_staff",
            level="county",
            outcomes=("approve", "return_for_correction", "refuse"),
            form=CountyReviewForm,
            next=("bank_decision", "application"),
            description="核实退役军人身份和经营主体，通过后向承办银行推送申请",
        ),
        StepSpec(
            key="bank_decision",
            title="银行审批结果登记",
            clause="003 §6.3.2.6",
            role="county_staff",
            level="county",
            outcomes=("loan_granted", "loan_declined"),
            form=BankDecisionForm,
            next=("post_loan_followup", "bank_rejected"),
            description="未接入系统的银行(或银行逾期未回复)由工作人员登记审批结果",
            materials=("银行贷款审批资料", "借款合同"),
        ),
        StepSpec(
            key="bank_rejected",
            title="银行未批准处理",
            clause="003 §6.3.2.6; 003 §6.3.2.4",
            role="county_staff",
            level="county",
            outcomes=("refer_bank", "refer_guidance"),
            form=BankRejectedForm,
            next=("bank_decision",),
            description="转介其他银行，或转创业指导(003 §6.3.2.4)",
        ),
        StepSpec(
            key="post_loan_followup",
            title="贷后回访",
            clause="003 §6.3.2.6",
            role="county_staff",
            level="county",
            outcomes=("done",),
            form=FollowupForm,
            next=("repayment_proof",),
            group="servicing",
            description="贷款期间按期回访，确认经营情况及贷款用于创业经营",
        ),
        StepSpec(
            key="repayment_proof",
            title="本息还清记录登记",
            clause="003 §6.3.2.7",
            role="county_staff",
            level="county",
            outcomes=("submitted", "not_repaid"),
            form=RepaymentProofForm,
            next=("subsidy_review",),
            description="按经办银行提供的本金利息还清记录登记实际还款；逾期或挪用的不予贴息",
            materials=("本金利息还清记录", "结清证明", "贴息收款账户"),
        ),
        StepSpec(
            key="subsidy_review",
            title="贴息资格审核及贴息方案",
            clause="003 §6.3.2.7",
            role="county_staff",
            level="county",
            outcomes=("approve", "return_for_correction", "refuse"),
            form=ReviewDecisionForm,
            next=("subsidy_approval", "repayment_proof"),
            description="审核贴息资格；通过后按政策版本计算贴息方案(逐期列明)",
            materials=("银行贷款审批资料", "本金利息还清记录"),
        ),
        StepSpec(
            key="subsidy_approval",
            title="贴息方案审批",
            clause="003 §6.3.2.7",
            role="leader",
            level="county",
            outcomes=("approved", "rejected"),
            form=SubsidyApprovalForm,
            next=("subsidy_payment", "subsidy_review"),
            four_eyes_with="subsidy_review",
            description="由未参与编制方案的领导审批(双人复核)",
        ),
        StepSpec(
            key="subsidy_payment",
            title="发放贴息资金",
            clause="003 §6.3.2.7",
            role="finance_staff",
            level="county",
            outcomes=("paid",),
            form=PaymentForm,
            next=("employment_reward",),
            description="按批准的贴息方案发放，并告知本人",
        ),
        StepSpec(
            key="employment_reward",
            title="创业带动就业奖励",
            clause="003 §6.3.2.8",
            role="county_staff",
            level="county",
            outcomes=("apply", "not_applicable"),
            form=EmploymentRewardForm,
            next=("reward_payment",),
            description=(
                "吸纳退役军人就业的每人3000元(退役军人创办的每人5000元)；"
                "须签订1年以上劳动合同并缴纳社保满1年"
            ),
            materials=("劳动合同", "社保缴费记录"),
        ),
        StepSpec(
            key="reward_payment",
            title="发放就业奖励",
            clause="003 §6.3.2.8",
            role="finance_staff",
            level="county",
            outcomes=("paid",),
            form=PaymentForm,
            description="按核定的奖励金额发放",
        ),
    ),
)
SPECS = {SPEC.version: SPEC}

LADDER = county_ladder(3)
FAST_LADDER = fast_county_ladder()


def _days(n: int) -> TaskPolicy:
    return TaskPolicy(
        working_days=n,
        remind_before=timedelta(days=1),
        source=_LOCAL,
        escalation=LADDER,
    )


STANDARD_POLICY = ProcessPolicy(
    name="standard",
    default=_days(5),
    steps={
        "demand_registration": _days(5),
        "application": _days(20),
        "county_review": _days(5),
        "bank_decision": _days(10),
        "bank_rejected": _days(5),
        "post_loan_followup": _days(10),
        "repayment_proof": _days(20),
        "subsidy_review": _days(10),
        "subsidy_approval": _days(5),
        "subsidy_payment": _days(10),
        "employment_reward": _days(20),
        "reward_payment": _days(10),
    },
    timers={
        # How long an integrated bank has to answer before a clerk is asked to chase it.
        "bank_answer": timedelta(days=30),
    },
    counts={
        # 贷后回访 every three calendar months (local practice: the seeds fix none).
        "followup_every_months": 3,
        # The repayment phase continues as new after this many follow-ups.
        "servicing_rollover": 4,
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
    timers={
        "bank_answer": timedelta(minutes=10),
        # In the demo and test profiles a loan "month" lasts this long.
        "month": timedelta(minutes=1),
    },
    counts={"followup_every_months": 3, "servicing_rollover": 2},
)

POLICIES = {"standard": STANDARD_POLICY, "fast": FAST_POLICY}

BankEventKind = Literal["approved", "rejected", "early_repayment", "repaid"]
