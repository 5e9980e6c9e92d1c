"""退役返乡报到 / 一站式报到: the step definitions and deadline policies.

Sources: 003_f9c5147b9b40820b.txt §6.1–6.2, §7.6–7.9; 001_6d7289cfec67be2b.txt 第七条;
000_9975dd43201067d0.txt §5.1–5.2; 002_32c48a21ac783144.txt §5.4 (五关爱, 退役返乡必访).
"""

from __future__ import annotations

from datetime import timedelta

from models.contracts import EscalationRung, ProcessPolicy, TaskPolicy
from models.forms import (
    ArchiveReviewForm,
    DeskForm,
    HomeVisitForm,
    InformationCollectionForm,
    PartyTransferForm,
    RegistrationForm,
    ReturnHomeStartForm,
    ReviewForm,
    SupplementForm,
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
            description="逐级审核；退回下一级并说明原因",
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
            description="逐级审核；退回下一级并说明原因",
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
            next=ONE_STOP_KEYS,
        ),
        *_desks,
        StepSpec(
            key="home_visit",
            title="入户走访(发放联络服务卡)",
            clause="003 §6.2.1 c; 002 §5.4.1.1",
            role="village_staff",
            level="village",
            outcomes=("done",),
            form=HomeVisitForm,
            next=(),
            description="退役返乡必访，发放联络服务卡并记录卡号",
        ),
    ),
)

# Every released version of this process (a case keeps the one it started with).
SPECS = {SPEC.version: SPEC}

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
        "party_transfer": TaskPolicy(
            working_days=10,
            remind_before=timedelta(days=2),
            source="001 第七条; " + _LOCAL,
        ),
        # 报到: the veteran must report within 30 days ([R:安置]第51条); the desk itself
        # finishes on the day (日清, 003 §7.2) — one working day.
        "registration": TaskPolicy(
            working_days=1, remind_before=timedelta(hours=4), source="003 §7.2 日清"
        ),
        **{
            k: TaskPolicy(
                working_days=5, remind_before=timedelta(days=1), source=_LOCAL
            )
            for k in ONE_STOP_KEYS
        },
        # 新批准对象一个月内走访 (003 §6.6.3) applied to the return-home visit.
        "home_visit": TaskPolicy(
            calendar_days=30,
            remind_before=timedelta(days=3),
            source="003 §6.6.3 (by analogy)",
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
