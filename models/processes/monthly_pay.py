"""逐月领取退役金 月度发放: one county's payroll of one month — step definitions, forms
and policies.

Sources: 001_6d7289cfec67be2b.txt 第十条 (退役军人事务部门按照有关规定发放和调整退役金);
000_9975dd43201067d0.txt §6.4.1 (发放和调整), §6.4.2 ("退役金发放时间一般为每月10日前。
遇国家法定节假日，应当提前发放": the pay date is the 10th or the last working day
before it, ``models.workdays.pay_date``).

A monthly schedule's opener (``OpenMonthlyPayWorkflow``) opens one ``monthly_pay`` case
per county centre: finance staff prepare the month's list of the county's veterans on
monthly pay (each one paid or held, a held one with its reason), a leader who did not
prepare it approves it two working days before the pay date (双人复核) or sends it back
with reasons, and finance staff confirm the payment on the pay date. Nothing is paid or
held automatically: every hold is a person's decision with its reason (no source
authorises stopping pay for a missing annual review).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import ClassVar

from pydantic import Field, ValidationInfo, field_validator, model_validator

from models.contracts import SHANGHAI, ProcessPolicy, TaskPolicy
from models.escalation import county_ladder, fast_county_ladder
from models.forms import Form, outcome_of
from models.process_spec import ProcessSpec, StepSpec
from models.processes.annual_review import CATEGORY as REVIEW_CATEGORY

PROCESS_KEY = "monthly_pay"
TZ = SHANGHAI
# 001 第二条: the veterans paid monthly (the same category the annual review covers).
CATEGORY = REVIEW_CATEGORY
_CLAUSE = "000 §6.4.2; 001 第十条"
_LOCAL = "本地承诺时限(可配置)"
# The leader approves this many working days before the pay date, and the list is
# prepared one working day before that (local commitments around 000 §6.4.2).
APPROVE_WORKING_DAYS_BEFORE = 2
PREPARE_WORKING_DAYS_BEFORE = 3
MAX_HELD = 200  # the API's bound on list items in a step form

STATUS_LABELS = {
    "preparing": "编制中",
    "awaiting_approval": "待审批",
    "returned": "退回重编",
    "approved": "已批准待发放",
    "paid": "已发放",
}


def case_id(unit_id: int, year: int, month: int, prefix: str = "") -> str:
    """One county's payroll of one month: its business key, workflow id and case id."""
    return f"{prefix}{PROCESS_KEY}-{unit_id}-{year:04d}-{month:02d}"


# --- forms -------------------------------------------------------------------------


class MonthlyPayStartForm(Form):
    """Written by the opener, not by a clerk: the month and its dates (computed on the
    working-day calendar when the case opens)."""

    year: int = Field(ge=2000, le=2100, title="年度")
    month: int = Field(ge=1, le=12, title="月份")
    pay_date: date = Field(title="发放日")
    prepare_by: datetime = Field(title="编制截止")
    approve_by: datetime = Field(title="审批截止")
    pay_by: datetime = Field(title="发放截止")


class HeldEntry(Form):
    """One veteran whose pay this month is held (暂缓发放), and why."""

    veteran_id: int = Field(ge=1, le=2**31 - 1, title="退役军人编号")
    reason: str = Field(min_length=1, max_length=500, title="暂缓原因")


class PreparePayrollForm(Form):
    """编制发放名单: everyone on the month's list is paid except those held, each held
    one with its reason. A held veteran must be on this round's list."""

    held: list[HeldEntry] = Field(
        default_factory=list, max_length=MAX_HELD, title="暂缓发放名单"
    )
    note: str = Field(default="", max_length=2000, title="编制说明")

    # The veteran ids of the round's list; set on the form bound to one round
    # (:meth:`bound_to`), None on the published definition.
    roster: ClassVar[frozenset[int] | None] = None

    @field_validator("held")
    @classmethod
    def _held_on_the_list(cls, held: list[HeldEntry]) -> list[HeldEntry]:
        ids = [h.veteran_id for h in held]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"暂缓名单重复列出 {twice} (listed twice)")
        if cls.roster is not None:
            unknown = [i for i in ids if i not in cls.roster]
            if unknown:
                raise ValueError(
                    f"暂缓名单中的 {unknown} 不在本月发放名单上 "
                    "(not on this month's list)"
                )
        return held

    @classmethod
    def bound_to(cls, roster: list[int]) -> type[PreparePayrollForm]:
        """This form, refusing a held id that is not on ``roster``."""
        bound: type[PreparePayrollForm] = type(
            cls.__name__,
            (cls,),
            {"roster": frozenset(roster), "__module__": cls.__module__},
        )
        return bound


class ApprovePayrollForm(Form):
    """审批发放名单: approve, or send it back with every reason (a new round)."""

    reasons: list[str] = Field(default_factory=list, max_length=30, title="退回原因")
    note: str = Field(default="", max_length=2000, title="审批意见")

    @model_validator(mode="after")
    def _reasons_to_reject(self, info: ValidationInfo) -> ApprovePayrollForm:
        if outcome_of(info) == "rejected" and not [r for r in self.reasons if r]:
            raise ValueError("退回重编须写明原因 (reasons are required to reject)")
        return self


class ConfirmPaymentForm(Form):
    """确认发放: the bank's payment of the approved list."""

    paid_on: date = Field(title="发放日期")
    bank_batch: str = Field(default="", max_length=100, title="银行代发批次号")
    note: str = Field(default="", max_length=2000, title="备注")


# --- steps -------------------------------------------------------------------------

SPEC = ProcessSpec(
    key=PROCESS_KEY,
    title="逐月领取退役金月度发放",
    title_en="Monthly retirement pay (payroll)",
    workflow="MonthlyPayWorkflow",
    clauses=("001 第十条", "000 §6.4"),
    start_form=MonthlyPayStartForm,
    first="prepare_payroll",
    per_veteran="many",
    version=1,
    startable=False,
    subject="org_unit",
    status_labels=STATUS_LABELS,
    steps=(
        StepSpec(
            key="prepare_payroll",
            title="编制发放名单",
            clause=_CLAUSE,
            role="finance_staff",
            level="county",
            outcomes=("prepared",),
            form=PreparePayrollForm,
            next=("approve_payroll",),
            description=(
                "核对本县逐月领取退役金退役军人名单(参考年度登记审核情况)，"
                "逐人确定发放或暂缓，暂缓的写明原因；不自动停发"
            ),
            materials=("退役金发放名单", "年度登记审核台账", "银行账户变更材料"),
        ),
        StepSpec(
            key="approve_payroll",
            title="审批发放名单",
            clause=_CLAUSE,
            role="leader",
            level="county",
            outcomes=("approved", "rejected"),
            form=ApprovePayrollForm,
            next=("confirm_payment", "prepare_payroll"),
            four_eyes_with="prepare_payroll",
            description="由编制人以外的负责人审批(双人复核)；退回的写明原因，重新编制",
        ),
        StepSpec(
            key="confirm_payment",
            title="确认发放",
            clause=_CLAUSE,
            role="finance_staff",
            level="county",
            outcomes=("paid",),
            form=ConfirmPaymentForm,
            description="发放日(每月10日，遇节假日提前)经银行代发后确认",
        ),
    ),
)
SPECS = {SPEC.version: SPEC}

LADDER = county_ladder(1)
FAST_LADDER = fast_county_ladder()

# The due times are absolute (the case's start data: before the pay date); the
# policies say where they come from and who hears of a late step.
STANDARD_POLICY = ProcessPolicy(
    name="standard",
    default=TaskPolicy(source=_LOCAL, escalation=LADDER),
    steps={
        "prepare_payroll": TaskPolicy(
            remind_before=timedelta(days=1),
            source="发放日前3个工作日; " + _LOCAL,
            escalation=LADDER,
        ),
        "approve_payroll": TaskPolicy(
            remind_before=timedelta(days=1),
            source="发放日前2个工作日; " + _LOCAL,
            escalation=LADDER,
        ),
        "confirm_payment": TaskPolicy(source="发放日 (000 §6.4.2)", escalation=LADDER),
    },
)

FAST_POLICY = ProcessPolicy(
    name="fast",
    default=TaskPolicy(source="demo", escalation=FAST_LADDER),
    # Demo and tests: the steps fall due this long after the case opens.
    timers={
        "prepare_payroll": timedelta(minutes=10),
        "approve_payroll": timedelta(minutes=20),
        "confirm_payment": timedelta(minutes=30),
    },
)

POLICIES = {"standard": STANDARD_POLICY, "fast": FAST_POLICY}


def due_times(
    start: MonthlyPayStartForm, opened_at: datetime, policy: ProcessPolicy
) -> dict[str, datetime]:
    """When each step falls due: before the pay date (the start data), or, in the
    demo and test profiles, the policy's span after the opening."""
    dates = {
        "prepare_payroll": start.prepare_by,
        "approve_payroll": start.approve_by,
        "confirm_payment": start.pay_by,
    }
    return {
        step: opened_at + policy.timers[step] if step in policy.timers else at
        for step, at in dates.items()
    }
