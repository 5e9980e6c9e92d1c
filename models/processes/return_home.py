"""退役返乡报到 / 一站式报到: the step definitions and deadline policies.

Sources: 003_f9c5147b9b40820b.txt (DB3702/T 41—2024) §6.1–6.2, §6.3.3.3, §6.9, §7.1,
§7.6–7.9; 001_6d7289cfec67be2b.txt 第七条, 第八条, 第十一条; 000_9975dd43201067d0.txt
§5.1–5.2; 002_32c48a21ac783144.txt §5.4.2–5.4.3 (五关爱, 退役返乡必访).

Version 1 is the process as first released (cases opened on it finish on it); version 2
is the process read clause by clause against the seeds (issue 13).
"""

from __future__ import annotations

from datetime import timedelta

from models.contracts import EscalationRung, ProcessPolicy, TaskPolicy
from models.forms import (
    COLLECTION_MATERIALS,
    AdaptiveTrainingForm,
    ArchiveReviewForm,
    ArchiveReviewFormV2,
    DeskForm,
    FileFilingForm,
    FileGapRequestForm,
    FileReceiptForm,
    HomeVisitForm,
    HomeVisitFormV2,
    InformationCollectionForm,
    InformationCollectionFormV2,
    PartyTransferForm,
    RegistrationForm,
    ReportUpwardForm,
    ReturnHomeStartForm,
    ReturnHomeStartFormV2,
    ReviewForm,
    SupplementForm,
    WelcomeForm,
)
from models.process_spec import ProcessSpec, StepSpec

PROCESS_KEY = "return_home"

ONE_STOP_DESKS: tuple[tuple[str, str, str], ...] = (
    # (step key, title, desk role) — 001 第七条; 003 §6.2.2 一站式报到
    ("hukou", "落户", "desk_hukou"),
    ("social_insurance", "社会保险关系转接", "desk_social_insurance"),
    ("medical_insurance", "医疗保险", "desk_medical_insurance"),
    ("housing_fund", "住房公积金转接", "desk_housing_fund"),
    ("reserve", "预备役登记", "desk_reserve"),
    ("bank_account", "开设银行账户", "desk_bank"),
    ("subsidy_preregistration", "一次性经济补助预登记", "desk_subsidy"),
)
ONE_STOP_KEYS = tuple(k for k, _, _ in ONE_STOP_DESKS)

_desks = tuple(
    StepSpec(
        key=key,
        title=title,
        clause="001 第七条; 003 §6.2.2",
        role=role,
        level="county",
        outcomes=("done", "not_applicable"),
        form=DeskForm,
        next=("home_visit",),
        group="one_stop",
        description="一站式报到窗口事项，各窗口并行办理",
    )
    for key, title, role in ONE_STOP_DESKS
)

SPEC = ProcessSpec(
    key=PROCESS_KEY,
    title="退役返乡报到(一站式报到)",
    title_en="Return-home reception and one-stop registration",
    workflow="ReturnHomeWorkflow",
    clauses=("003 §6.1–6.2", "003 §7.6–7.9", "001 第七条", "000 §5.1–5.2", "002 §5.4"),
    start_form=ReturnHomeStartForm,
    first="archive_review",
    version=1,
    steps=(
        StepSpec(
            key="archive_review",
            title="档案审核",
            clause="003 §6.2.2",
            role="county_staff",
            level="county",
            outcomes=("approve", "return_for_correction"),
            form=ArchiveReviewForm,
            next=("information_collection", "supplement_materials"),
            description="审核通过后方可组织报到；退回须一次性告知全部缺少材料(003 §7.6)",
        ),
        StepSpec(
            key="supplement_materials",
            title="补充材料",
            clause="003 §7.6; 003 §7.8.3",
            role="village_staff",
            level="village",
            outcomes=("submitted",),
            form=SupplementForm,
            next=("archive_review",),
            description="服务站登记退役军人补交的材料，档案重新审核",
        ),
        StepSpec(
            key="information_collection",
            title="信息采集",
            clause="003 §6.1.2–6.1.4",
            role="village_staff",
            level="village",
            outcomes=("submitted",),
            form=InformationCollectionForm,
            next=("township_review",),
            description="村(社区)站采集信息并初步审核后上报",
        ),
        StepSpec(
            key="township_review",
            title="乡镇(街道)站审核",
            clause="003 §6.1.4",
            role="township_staff",
            level="township",
            outcomes=("approve", "return"),
            form=ReviewForm,
            next=("county_review", "information_collection"),
            description="逐级审核；退回下级重报并说明原因",
        ),
        StepSpec(
            key="county_review",
            title="区(县)中心审核",
            clause="003 §6.1.4",
            role="county_staff",
            level="county",
            outcomes=("approve", "return"),
            form=ReviewForm,
            next=("party_transfer", "township_review"),
            description="逐级审核；退回下级重报并说明原因",
        ),
        StepSpec(
            key="party_transfer",
            title="党(团)组织关系转接",
            clause="001 第七条",
            role="desk_party",
            level="county",
            outcomes=("done",),
            form=PartyTransferForm,
            next=("registration",),
            description="先转接党员组织关系、后办理报到手续；非党(团)员跳过并记录原因",
        ),
        StepSpec(
            key="registration",
            title="退役报到",
            clause="003 §6.2.2; 001 第七条",
            role="county_staff",
            level="county",
            outcomes=("done",),
            form=RegistrationForm,
            rated=True,
            next=ONE_STOP_KEYS,
        ),
        *_desks,
        StepSpec(
            key="home_visit",
            title="入户走访(发放联络服务卡)",
            clause="003 §6.2.1 c; 002 §5.4.2.1; 002 §5.4.3.1",
            role="village_staff",
            level="village",
            outcomes=("done",),
            form=HomeVisitForm,
            next=(),
            description="退役返乡必访，发放联络服务卡并记录卡号",
        ),
    ),
)

# --- version 2: true to the standards (issue 13) ---------------------------------------
#
# archive received and reviewed (returns go back to the first handler; file gaps to the
# sending unit) → at once: the welcome, the home visit, the filing → organisation
# transfer (党员/团员) → registration → the one-stop desks with the adaptive training →
# information collection reviewed level by level up to the city and reported upward.

ONE_STOP_DESKS_V2: tuple[tuple[str, str, str, str], ...] = (
    # (step key, title, desk role, clause); 003 §6.2.2 names the departments
    # (组织部, 人社局, 医保局, 团委, 武装部, 银行); 001 第七条 the items.
    ("hukou", "落户", "desk_hukou", "001 第七条"),
    (
        "social_insurance",
        "社会保险关系转接",
        "desk_social_insurance",
        "001 第七条; 003 §6.2.2",
    ),
    (
        "medical_insurance",
        "医疗保险关系转接",
        "desk_medical_insurance",
        "003 §6.2.2; 000 §5.2.2",
    ),
    ("housing_fund", "住房公积金转接", "desk_housing_fund", "001 第七条"),
    ("reserve", "预备役登记", "desk_reserve", "001 第七条; 003 §6.2.2"),
    ("bank_account", "开设银行账户", "desk_bank", "001 第七条; 003 §6.2.2"),
    (
        "subsidy_preregistration",
        "一次性经济补助预登记",
        "desk_subsidy",
        "003 §6.2.2; 退役军人安置条例 第23条",
    ),
)
ONE_STOP_KEYS_V2 = tuple(k for k, _, _, _ in ONE_STOP_DESKS_V2)
# 一次性经济补助 is paid to 自主就业 veterans (退役军人安置条例 第23条).
SUBSIDY_CATEGORY = "自主就业"
LEVEL_REVIEW_V2 = (
    "information_collection",
    "township_review",
    "county_review",
    "city_review",
)
EARLY_STEPS = ("welcome", "home_visit", "file_filing")

# 004 §6.1.2.4: retired cadres are received by the 军休机构 in a three-party meeting.
RETIRED_CADRES = (
    "军休干部(士官)按 DB51/T 2839—2021 第6.1条接收安置"
    "(召开“三方”见面会、核对档案材料和待遇项目、签订交接协议)，不适用退役返乡报到流程"
)

_county = {"role": "county_staff", "level": "county"}
_city = {"role": "city_staff", "level": "city"}

SPEC_V2 = ProcessSpec(
    key=PROCESS_KEY,
    title="退役返乡报到(一站式报到)",
    title_en="Return-home reception and one-stop registration",
    workflow="ReturnHomeWorkflow",
    clauses=(
        "003 §6.1–6.2",
        "003 §6.9",
        "003 §7.6–7.9",
        "001 第七条、第八条、第十一条",
        "000 §5.1–5.2",
        "002 §5.4.2–5.4.3",
    ),
    start_form=ReturnHomeStartFormV2,
    first="file_receipt",
    version=2,
    excluded_categories=dict.fromkeys(("军休干部", "军休士官"), RETIRED_CADRES),
    steps=(
        StepSpec(
            key="file_receipt",
            title="档案接收",
            clause="003 §6.9.2.2; 003 §6.9.1.1 b; 001 第八条",
            **_county,
            outcomes=("received",),
            form=FileReceiptForm,
            next=("archive_review",),
            description="人事档案经机要交通或专人送达接收，不由本人自行携带",
        ),
        StepSpec(
            key="archive_review",
            title="档案审核",
            clause="003 §6.2.2; 003 §7.6",
            **_county,
            outcomes=("approve", "return_for_correction", "refuse", "not_ours"),
            form=ArchiveReviewFormV2,
            materials=COLLECTION_MATERIALS,
            next=(
                "supplement_materials",
                "file_gap_request",
                *EARLY_STEPS,
                "party_transfer",
                "league_transfer",
                "registration",
            ),
            description=(
                "审核通过后组织报到；退回须一次性告知全部缺少材料，"
                "不予办理或不属本中心职权的告知理由或有权机关(003 §7.6)"
            ),
        ),
        StepSpec(
            key="supplement_materials",
            title="补充材料(首办负责)",
            clause="003 §7.8.3; 003 §7.6 d–e",
            **_county,
            outcomes=("submitted",),
            form=SupplementForm,
            next=("archive_review",),
            group="correction",
            description="退役军人补交的材料由首办人员接收，档案重新审核",
        ),
        StepSpec(
            key="file_gap_request",
            title="向移交单位函调档案材料",
            clause="003 §6.9.2.2",
            **_county,
            outcomes=("received",),
            form=FileGapRequestForm,
            next=("archive_review",),
            group="correction",
            description="档案缺少的材料由移交单位经机要交通或专人转递，不由本人携带",
        ),
        StepSpec(
            key="welcome",
            title="返乡迎接",
            clause="003 §6.2.1 a–b; 001 第十一条; 000 §5.1",
            **_county,
            outcomes=("done",),
            form=WelcomeForm,
            group="early",
            description="五关爱之迎接仪式：接待站接待、佩戴红花、发放报到须知等",
        ),
        StepSpec(
            key="home_visit",
            title="入户走访(五关爱、发放联络服务卡)",
            clause="003 §6.2.1 c; 002 §5.4.2.1; 002 §5.4.3.1",
            role="village_staff",
            level="village",
            outcomes=("done",),
            form=HomeVisitFormV2,
            group="early",
            description="退役返乡必访：谈心谈话、宣讲政策、推介岗位，第一时间上门",
        ),
        StepSpec(
            key="file_filing",
            title="档案入档与数字档案",
            clause="001 第八条; 003 §6.1.5; 003 §6.9.1.1 b",
            **_county,
            outcomes=("done",),
            form=FileFilingForm,
            group="early",
            description="一人一档，按规定建立数字档案",
        ),
        StepSpec(
            key="party_transfer",
            title="党组织关系转接",
            clause="001 第七条; 003 §6.2.2",
            role="desk_party",
            level="county",
            outcomes=("done",),
            form=PartyTransferForm,
            next=("registration",),
            group="transfer",
            description="组织部窗口：先转接党员组织关系、后办理报到手续",
        ),
        StepSpec(
            key="league_transfer",
            title="团组织关系转接",
            clause="003 §6.2.2",
            role="desk_league",
            level="county",
            outcomes=("done",),
            form=PartyTransferForm,
            next=("registration",),
            group="transfer",
            description="团委窗口：共青团员团组织关系转接",
        ),
        StepSpec(
            key="registration",
            title="退役报到",
            clause="003 §6.2.2; 001 第七条",
            **_county,
            outcomes=("done",),
            form=RegistrationForm,
            rated=True,
            next=(*ONE_STOP_KEYS_V2, "adaptive_training"),
            description="档案审核通过后组织报到，当日办结(003 §7.1.1 日清)",
        ),
        *(
            StepSpec(
                key=key,
                title=title,
                clause=clause,
                role=role,
                level="county",
                outcomes=("done", "not_applicable"),
                form=DeskForm,
                next=("information_collection",),
                group="one_stop",
                description="一站式报到窗口事项，各窗口并行办理",
            )
            for key, title, role, clause in ONE_STOP_DESKS_V2
        ),
        StepSpec(
            key="adaptive_training",
            title="适应性培训",
            clause="003 §6.3.3.3",
            **_county,
            outcomes=("enrolled", "declined"),
            form=AdaptiveTrainingForm,
            next=("information_collection",),
            group="one_stop",
            description="组织当年接收安置的退役军人全员适应性培训",
        ),
        StepSpec(
            key="information_collection",
            title="信息采集",
            clause="003 §6.1.2–6.1.4; 002 §5.4.2.2",
            role="village_staff",
            level="village",
            outcomes=("submitted",),
            form=InformationCollectionFormV2,
            materials=COLLECTION_MATERIALS,
            next=("township_review",),
            description="村(社区)站依据 003 §6.1.2 的材料采集八类信息并初步审核后上报",
        ),
        StepSpec(
            key="township_review",
            title="乡镇(街道)站审核",
            clause="003 §6.1.4; 002 §5.4.2.2",
            role="township_staff",
            level="township",
            outcomes=("approve", "return"),
            form=ReviewForm,
            next=("county_review", "information_collection"),
            description="逐级审核；退回下级重报并说明原因",
        ),
        StepSpec(
            key="county_review",
            title="区(县)中心审核",
            clause="003 §6.1.4",
            **_county,
            outcomes=("approve", "return"),
            form=ReviewForm,
            next=("city_review", "township_review"),
            description="逐级审核；退回下级重报并说明原因",
        ),
        StepSpec(
            key="city_review",
            title="市中心审核",
            clause="003 §6.1.4",
            **_city,
            outcomes=("approve", "return"),
            form=ReviewForm,
            next=("report_to_province", "county_review"),
            description="逐级审核；退回下级重报并说明原因",
        ),
        StepSpec(
            key="report_to_province",
            title="上报省退役军人服务中心",
            clause="003 §6.1.4",
            **_city,
            outcomes=("reported",),
            form=ReportUpwardForm,
            description="确认信息无误后上报至省退役军人服务中心",
        ),
    ),
)

# Every released version of this process (a case keeps the one it started with).
SPECS = {SPEC.version: SPEC, SPEC_V2.version: SPEC_V2}

# Deadlines. The seeds fix no number of days for these steps; 003 §7.9 requires each
# item to be finished within its published promise. These defaults are the local
# commitments vetflow ships with, one place to change per province/city.
_LOCAL = "003 §7.9 限时办结 (local commitment, configurable)"
# Who hears of an overdue task, and when (003 §7.9 督办): at the due time the unit's
# supervisor, one working day later the unit above, three working days later the
# county centre's leader. A local commitment like the day counts.
LADDER = [
    EscalationRung(notify="supervisor"),
    EscalationRung(after_working_days=1, notify="unit_above"),
    EscalationRung(after_working_days=3, notify="county_leader"),
]
FAST_LADDER = [
    EscalationRung(notify="supervisor"),
    EscalationRung(after=timedelta(minutes=5), notify="unit_above"),
    EscalationRung(after=timedelta(minutes=15), notify="county_leader"),
]


def _with_ladder(policy: ProcessPolicy, ladder: list[EscalationRung]) -> ProcessPolicy:
    """Every step of ``policy`` escalates along ``ladder`` unless it says otherwise."""

    def laddered(p: TaskPolicy) -> TaskPolicy:
        return p if p.escalation else p.model_copy(update={"escalation": ladder})

    return policy.model_copy(
        update={
            "default": laddered(policy.default),
            "steps": {k: laddered(v) for k, v in policy.steps.items()},
        }
    )


STANDARD_POLICY = ProcessPolicy(
    name="standard",
    default=TaskPolicy(working_days=5, remind_before=timedelta(days=1), source=_LOCAL),
    steps={
        "archive_review": TaskPolicy(
            working_days=5, remind_before=timedelta(days=1), source=_LOCAL
        ),
        "supplement_materials": TaskPolicy(
            working_days=10, remind_before=timedelta(days=2), source=_LOCAL
        ),
        "information_collection": TaskPolicy(
            working_days=5, remind_before=timedelta(days=1), source=_LOCAL
        ),
        "township_review": TaskPolicy(
            working_days=3, remind_before=timedelta(days=1), source=_LOCAL
        ),
        "county_review": TaskPolicy(
            working_days=5, remind_before=timedelta(days=1), source=_LOCAL
        ),
        # Receipt (1) + review (5) + transfer (5) + registration (1): twelve working
        # days, inside the 30 days a veteran has to report (退役军人安置条例 第51条).
        "party_transfer": TaskPolicy(
            working_days=5,
            remind_before=timedelta(days=1),
            source="001 第七条; " + _LOCAL,
        ),
        # 报到: the veteran must report within 30 days (退役军人安置条例 第51条); the
        # window finishes it on the day (日清, 003 §7.1.1) — one working day.
        "registration": TaskPolicy(
            working_days=1, remind_before=timedelta(hours=4), source="003 §7.1.1 日清"
        ),
        "file_receipt": TaskPolicy(
            working_days=1, remind_before=timedelta(hours=4), source=_LOCAL
        ),
        "file_gap_request": TaskPolicy(
            working_days=15, remind_before=timedelta(days=3), source=_LOCAL
        ),
        "welcome": TaskPolicy(
            working_days=5, remind_before=timedelta(days=1), source=_LOCAL
        ),
        "file_filing": TaskPolicy(
            working_days=10, remind_before=timedelta(days=2), source=_LOCAL
        ),
        "league_transfer": TaskPolicy(
            working_days=5,
            remind_before=timedelta(days=1),
            source="003 §6.2.2; " + _LOCAL,
        ),
        "adaptive_training": TaskPolicy(
            working_days=20, remind_before=timedelta(days=3), source=_LOCAL
        ),
        "city_review": TaskPolicy(
            working_days=5, remind_before=timedelta(days=1), source=_LOCAL
        ),
        "report_to_province": TaskPolicy(
            working_days=5, remind_before=timedelta(days=1), source=_LOCAL
        ),
        **{
            k: TaskPolicy(
                working_days=5, remind_before=timedelta(days=1), source=_LOCAL
            )
            for k in ONE_STOP_KEYS
        },
        # 退役返乡必访 "第一时间" (003 §6.2.1 c; 002 §5.4.2.1, §5.4.3.1): the seeds
        # give no number of days; ten working days is the shipped local commitment.
        "home_visit": TaskPolicy(
            working_days=10,
            remind_before=timedelta(days=2),
            source="003 §6.2.1 c 第一时间; " + _LOCAL,
        ),
    },
)

FAST_POLICY = ProcessPolicy(
    name="fast",
    default=TaskPolicy(
        duration=timedelta(minutes=10),
        remind_before=timedelta(minutes=2),
        source="demo",
    ),
)
STANDARD_POLICY = _with_ladder(STANDARD_POLICY, LADDER)
FAST_POLICY = _with_ladder(FAST_POLICY, FAST_LADDER)

POLICIES = {"standard": STANDARD_POLICY, "fast": FAST_POLICY}
