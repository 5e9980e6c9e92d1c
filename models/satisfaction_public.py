"""Response bodies of the satisfaction report (GET /api/reports/satisfaction).

Counts only: no rater, no rated case, no clerk (see api/satisfaction_queries.py).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

# 000 §4.1.5: 服务对象满意率 ≥ 90 %.
SATISFACTION_GOAL = 0.9
# Petition stages with a statutory clock (信访工作条例 第二十三、三十四、三十五、三十六条).
PETITION_STAGES = ("acceptance_decision", "handling", "review", "recheck")


class GradeCounts(BaseModel):
    """Counted ratings per grade (003 §9.1.3's five grades)."""

    very_satisfied: int = Field(description="非常满意")
    satisfied: int = Field(description="满意")
    basically_satisfied: int = Field(description="基本满意")
    dissatisfied: int = Field(description="不满意")
    very_dissatisfied: int = Field(description="非常不满意")


class StageOnTime(BaseModel):
    """A petition stage's tasks completed in the period, and how many by their due."""

    completed: int = Field(description="Completed with a due time")
    on_time: int = Field(description="Completed at or before the due time")
    on_time_rate: float | None = Field(description="on_time / completed; null if 0")


class PetitionOnTime(BaseModel):
    acceptance_decision: StageOnTime = Field(description="受理告知 (15 日, 第二十三条)")
    handling: StageOnTime = Field(description="办理意见书 (60 日 + 延期, 第三十四条)")
    review: StageOnTime = Field(description="复查意见 (30 日, 第三十五条)")
    recheck: StageOnTime = Field(description="复核意见 (30 日, 听证不计, 第三十六条)")


class SatisfactionFigures(BaseModel):
    """One set of figures (the totals, a unit or a month). Every rate is null, not 0,
    when there is nothing to count."""

    ratings: int = Field(description="Counted ratings (an upheld appeal uncounts one)")
    grades: GradeCounts
    satisfied: int = Field(description="非常满意 + 满意 + 基本满意")
    satisfaction_rate: float | None = Field(description="satisfied / ratings")
    goal: float = Field(default=SATISFACTION_GOAL, description="000 §4.1.5: ≥ 0.9")
    meets_goal: bool | None = Field(description="satisfaction_rate ≥ goal")
    bad_reviews: int = Field(description="Counted 不满意 + 非常不满意 ratings (差评)")
    appeals_upheld: int = Field(
        description="Ratings not counted: an appeal upheld them as 误评 / 恶意差评"
    )
    rectify_completed: int = Field(description="整改 tasks completed with a due time")
    rectify_on_time: int = Field(description="… completed at or before it")
    rectify_on_time_rate: float | None
    complaints_concluded: int = Field(
        description="差评 / 窗口投诉 cases concluded (回访满意, 改进提升 done)"
    )
    complaints_reopened: int = Field(
        description="… of which rectified again after an unsatisfied 回访"
    )
    reopen_rate: float | None = Field(
        description="complaints_reopened / complaints_concluded"
    )
    petition: PetitionOnTime


class UnitFigures(SatisfactionFigures):
    org_unit_id: int
    org_unit_name: str
    org_path: str
    rolled_up: bool = Field(
        description="True: the unit and everything below it; False: the chosen unit "
        "itself only (its children have rows of their own)"
    )


class MonthFigures(SatisfactionFigures):
    month: str = Field(description="YYYY-MM (Asia/Shanghai)")


class SatisfactionReport(BaseModel):
    """The figures of a unit's subtree over a period of Asia/Shanghai calendar days."""

    org_unit_id: int
    org_unit_name: str
    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to")
    timezone: str = "Asia/Shanghai"
    totals: SatisfactionFigures
    units: list[UnitFigures] = Field(
        description="The chosen unit itself, then each direct child unit rolled up"
    )
    months: list[MonthFigures]
