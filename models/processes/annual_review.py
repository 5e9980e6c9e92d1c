"""逐月领取退役金退役军人 年度登记审核: the step definitions, forms and policies.

Sources: 001_6d7289cfec67be2b.txt 第六条 (the party organisation's yearly 评定意见 as a
reference), 第八条 (台账), 第九条 (each year January to March, on site or online, the
veteran's 参加党组织生活, 参加社团, 出入境, 奖惩情况 reviewed; passed → treatment
continues; not passed → the veteran is told to correct; 苗头性问题 → 约谈提醒);
000_9975dd43201067d0.txt §6.3.1–§6.3.3 (the same, as a standard), §4.1.5 (satisfaction).

A yearly campaign (``annual_review_campaign``, one per year) opens one
``annual_review`` case per veteran of the category 逐月领取退役金退役军人. No source
authorises suspending pay for a failed or missing review: non-submission ends in a
decision by a person, never in an automatic stop.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from models.contracts import SHANGHAI, ProcessPolicy, TaskPolicy
from models.escalation import county_ladder, fast_county_ladder
from models.forms import Form, outcome_of
from models.process_spec import ProcessSpec, StepSpec

PROCESS_KEY = "annual_review"
CAMPAIGN_KEY = "annual_review_campaign"
# The registry category the campaign covers (001 第二条: 逐月领取退役金退役军人).
CATEGORY = "逐月领取退役金退役军人"
TZ = SHANGHAI
# The window: 1 January to 31 March (001 第九条 "每年1月至3月"; 000 §6.3.2).
WINDOW_END_MONTH_DAY = (3, 31)
_LOCAL = "本地承诺时限(可配置)"

# Case statuses the review moves through (the campaign's totals count them).
STATUSES = (
    "awaiting_submission",  # 待提交
    "submitted",  # 已提交待审核
    "in_correction",  # 补正中
    "interview",  # 约谈中
    "passed",  # 审核通过
    "overdue",  # 逾期未提交(待决定)
    "not_submitted",  # 已记录未提交
)
STATUS_LABELS = {
    "awaiting_submission": "待提交",
    "submitted": "已提交待审核",
    "in_correction": "补正中",
    "interview": "约谈中",
    "passed": "审核通过",
    "overdue": "逾期未提交",
    "not_submitted": "已记录未提交",
}


def campaign_id(year: int, prefix: str = "") -> str:
    """The campaign's business key: its workflow id."""
    return f"{prefix}{CAMPAIGN_KEY}-{year}"


def review_case_id(year: int, veteran_id: int, prefix: str = "") -> str:
    """One veteran's review of one year: its workflow id and case id."""
    return f"{prefix}{PROCESS_KEY}-{year}-v{veteran_id}"


def window_end(year: int, opened_at: datetime, policy: ProcessPolicy) -> datetime:
    """End of the year's window: 31 March 24:00 Asia/Shanghai, or, in the demo and
    test profiles, the span ``timers["window"]`` after the opening."""
    span = policy.timers.get("window")
    if span is not None:
        return opened_at + span
    month, day = WINDOW_END_MONTH_DAY
    end = datetime(year, month, day, tzinfo=TZ) + timedelta(days=1)
    return end.astimezone(UTC)


# --- forms -------------------------------------------------------------------------


class AnnualReviewStartForm(Form):
    """Written by the campaign, not by a clerk."""

    year: int = Field(ge=2000, le=2100, title="年度")
    window_end: datetime = Field(title="登记截止")


class TravelRecord(Form):
    departed_on: date = Field(title="出境日期")
    returned_on: date | None = Field(default=None, title="入境日期")
    destination: str = Field(min_length=1, max_length=100, title="前往国家(地区)")
    purpose: str = Field(default="", max_length=200, title="事由")


class AnnualReportForm(Form):
    """年度登记 (001 第九条): what the veteran reports for the past year. 出入境 is a
    trace of whereabouts (个人信息保护法 第二十八条: sensitive): masked and role-gated
    like the ID number."""

    party_life: str = Field(
        min_length=1,
        max_length=2000,
        title="参加党组织生活情况",
        description="无则填“无”",
    )
    associations: list[str] = Field(
        default_factory=list, max_length=20, title="参加社团情况"
    )
    travel_abroad: list[TravelRecord] = Field(
        default_factory=list,
        max_length=50,
        title="出入境情况",
        json_schema_extra={"sensitive": True},
    )
    rewards_punishments: str = Field(
        min_length=1, max_length=2000, title="奖惩情况", description="无则填“无”"
    )
    declaration: bool = Field(title="本人承诺以上信息真实")

    @model_validator(mode="after")
    def _declared(self) -> AnnualReportForm:
        if not self.declaration:
            raise ValueError("须承诺所填信息真实 (the declaration is required)")
        return self


PARTY_RATINGS = ("优秀", "合格", "基本合格", "不合格")


class PartyOpinionForm(Form):
    """党组织评定意见 (001 第六条): a reference input, not a gate."""

    rating: Literal["优秀", "合格", "基本合格", "不合格"] = Field(title="评定意见")
    organisation_life: str = Field(default="", max_length=1000, title="参加组织生活")
    dues_paid: bool = Field(default=True, title="按时交纳党费")
    note: str = Field(default="", max_length=2000, title="日常表现")


class CountyReviewForm(Form):
    """年度登记审核 (001 第九条): pass, correct (every defect at once, 一次性告知) or
    interview (苗头性问题, with what was found)."""

    defects: list[str] = Field(
        default_factory=list, max_length=30, title="需补正的事项(一次性告知)"
    )
    concerns: str = Field(default="", max_length=2000, title="发现的苗头性问题")
    note: str = Field(default="", max_length=2000, title="审核意见")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> CountyReviewForm:
        outcome = outcome_of(info)
        if outcome == "correct" and not [d for d in self.defects if d.strip()]:
            raise ValueError("通知补正须一次性列明全部需补正的事项 (list every defect)")
        if outcome == "interview" and not self.concerns.strip():
            raise ValueError("约谈须写明发现的苗头性问题 (describe the concern)")
        return self


class InterviewForm(Form):
    """约谈提醒, 教育引导 (001 第九条): the record of the talk."""

    held_on: date = Field(title="约谈日期")
    interviewer: str = Field(min_length=1, max_length=100, title="约谈人")
    record: str = Field(min_length=1, max_length=4000, title="约谈记录")
    follow_up: str = Field(default="", max_length=2000, title="后续教育引导")


class NonSubmissionForm(Form):
    """After the window: extend (a new date), interview, or record non-submission.
    Nothing suspends pay automatically (no source authorises it)."""

    extend_until: date | None = Field(default=None, title="延期至")
    reason: str = Field(default="", max_length=2000, title="理由")

    @model_validator(mode="after")
    def _by_outcome(self, info: ValidationInfo) -> NonSubmissionForm:
        outcome = outcome_of(info)
        if outcome == "extend" and self.extend_until is None:
            raise ValueError("延期须填写延期日期 (extend_until is required)")
        if outcome in ("interview", "record_non_submission") and not self.reason:
            raise ValueError("须说明理由 (a reason is required)")
        return self


# --- steps -------------------------------------------------------------------------

_CLAUSE = "001 第九条; 000 §6.3.2"

SPEC = ProcessSpec(
    key=PROCESS_KEY,
    title="逐月领取退役金退役军人年度登记审核",
    title_en="Annual registration review (monthly retirement pay)",
    workflow="AnnualReviewWorkflow",
    clauses=("001 第六条", "001 第八条", "001 第九条", "000 §6.3"),
    start_form=AnnualReviewStartForm,
    first="submit_report",
    per_veteran="many",
    version=1,
    startable=False,
    status_labels=STATUS_LABELS,
    steps=(
        StepSpec(
            key="submit_report",
            title="年度登记信息报送",
            clause=_CLAUSE,
            role="village_staff",
            level="village",
            holder="veteran",
            outcomes=("submitted",),
            form=AnnualReportForm,
            next=("county_review",),
            description=(
                "退役军人本人通过链接在线报送，或由服务站工作人员帮办代报；"
                "报送参加党组织生活、参加社团、出入境、奖惩情况"
            ),
            materials=(
                "身份证",
                "出入境证件或证明",
                "奖惩材料",
                "银行账户、住址变更材料",
            ),
        ),
        StepSpec(
            key="party_opinion",
            title="党组织评定意见",
            clause="001 第六条",
            role="township_staff",
            level="township",
            outcomes=("submitted",),
            form=PartyOpinionForm,
            next=("county_review",),
            group="reference",
            description="党员所在党组织的年度评定意见，作为参考依据；逾期不等待",
        ),
        StepSpec(
            key="county_review",
            title="年度登记审核",
            clause="001 第九条; 000 §6.3.3",
            role="county_staff",
            level="county",
            outcomes=("pass", "correct", "interview"),
            form=CountyReviewForm,
            next=("submit_report", "interview"),
            description="通过的按规定落实待遇并记入台账；未通过的一次性告知补正；苗头性问题约谈",
        ),
        StepSpec(
            key="interview",
            title="约谈提醒",
            clause="001 第九条; 000 §6.3.3",
            role="leader",
            level="county",
            outcomes=("done",),
            form=InterviewForm,
            next=("county_review", "non_submission"),
            description="对发现的苗头性问题及时约谈提醒、教育引导",
        ),
        StepSpec(
            key="non_submission",
            title="逾期未报送处理",
            clause=_CLAUSE,
            role="county_staff",
            level="county",
            outcomes=("extend", "interview", "record_non_submission"),
            form=NonSubmissionForm,
            next=("submit_report", "interview"),
            description="登记期结束仍未报送：延期、约谈或记录未报送(不自动停发退役金)",
        ),
    ),
)
SPECS = {SPEC.version: SPEC}

LADDER = county_ladder(3)
FAST_LADDER = fast_county_ladder()

STANDARD_POLICY = ProcessPolicy(
    name="standard",
    default=TaskPolicy(
        working_days=10,
        remind_before=timedelta(days=2),
        source=_LOCAL,
        escalation=LADDER,
    ),
    steps={
        # Round 1 is due at the window's end (set by the workflow); a correction round
        # gets fifteen working days (the seeds fix none: a local commitment).
        "submit_report": TaskPolicy(
            working_days=15, source="001 第九条; " + _LOCAL, escalation=LADDER[:1]
        ),
        "party_opinion": TaskPolicy(
            working_days=15, source="001 第六条; " + _LOCAL, escalation=LADDER[:1]
        ),
        "county_review": TaskPolicy(
            working_days=10,
            remind_before=timedelta(days=2),
            source=_LOCAL,
            escalation=LADDER,
        ),
        "interview": TaskPolicy(
            working_days=10,
            remind_before=timedelta(days=2),
            source=_LOCAL,
            escalation=LADDER,
        ),
        "non_submission": TaskPolicy(
            working_days=5,
            remind_before=timedelta(days=1),
            source=_LOCAL,
            escalation=LADDER,
        ),
    },
    timers={
        # How long the review waits for the party organisation's opinion after the
        # report is in, and how long a self-service link stays valid.
        "party_opinion_wait": timedelta(days=21),
        "link_ttl": timedelta(days=30),
        # How often the campaign looks for veterans registered during the window.
        "rescan": timedelta(days=1),
    },
    # Reminders to veterans who have not submitted, before the window's end.
    reminder_offsets=[timedelta(days=30), timedelta(days=7), timedelta(days=1)],
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
        "submit_report": TaskPolicy(
            duration=timedelta(minutes=10), source="demo", escalation=FAST_LADDER[:1]
        ),
    },
    timers={
        "window": timedelta(minutes=30),
        "party_opinion_wait": timedelta(minutes=5),
        "link_ttl": timedelta(hours=2),
        "rescan": timedelta(minutes=1),
    },
    reminder_offsets=[timedelta(minutes=10), timedelta(minutes=2)],
)

POLICIES = {"standard": STANDARD_POLICY, "fast": FAST_POLICY}


def report_summary(task_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """What the review task shows of a report. 出入境 stays in the report task itself
    (masked unless the reader's role may see it): here only how many trips."""
    return {
        "report_task": task_id,
        "party_life": data.get("party_life", ""),
        "associations": list(data.get("associations", [])),
        "travel_abroad_count": len(data.get("travel_abroad", [])),
        "rewards_punishments": data.get("rewards_punishments", ""),
    }
