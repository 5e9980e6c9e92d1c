"""English for the dashboard's 服务评价与投诉 section (the satisfaction report;
merged into tools/english_catalog.py's EN; an entry EN has already keeps EN's
wording)."""

from __future__ import annotations

REPORT_EN = {
    "服务评价与投诉": "Service ratings and complaints",
    "差评整改": "Bad-review rectification",
    "信访受理告知": "Petition: acceptance notice",
    "信访办理": "Petition: handling",
    "信访复查": "Petition: review (复查)",
    "信访复核": "Petition: recheck (复核)",
    "目标": "Goal",
    "开始日期": "From",
    "结束日期": "To",
    "满意率(目标≥{goal})": "Satisfaction rate (goal ≥ {goal})",
    "达标": "Goal met",
    "未达标": "Goal not met",
    "暂无评价": "No ratings yet",
    "评价数(计入)": "Ratings (counted)",
    "差评数": "Bad reviews",
    "整改按期率": "Rectified on time",
    "回访后重新整改率": "Rectified again after follow-up",
    "各月满意率与目标": "Satisfaction rate per month, and the goal",
    "各月满意率(与图表相同)": "Satisfaction rate per month (the same figures as the chart)",
    "月份": "Month",
    "满意率": "Satisfaction rate",
    "申诉成立不计入": "Uncounted (appeal upheld)",
    "按期办结率": "Completed on time",
    "按期办结率(与图表相同)": "Completed on time (the same figures as the chart)",
    "按期": "On time",
    "按期率": "On-time rate",
    "各机构满意率与目标": "Satisfaction rate per unit, and the goal",
    "各机构服务评价与投诉(与上方图表相同；下级机构含其所属站点)": "Ratings and complaints per unit (the same figures as the chart above; a unit below includes its stations)",
    "本级": "the unit itself",
    "只统计数量：不显示评价人、投诉人、被评价的案件或经办人员，也不按经办人员分列。": "Counts only: no rater, complainant, rated case or clerk is shown, and nothing is broken down by clerk.",
}
