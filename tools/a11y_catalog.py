"""English for the accessibility texts of the staff pages (issue 14: the names of the
landmarks, the charts' names and tables, the process diagram's steps in words, the
labels of the dashboard's check boxes; merged into tools/english_catalog.py's EN)."""

from __future__ import annotations

A11Y_EN = {
    "主导航": "Main navigation",
    "任务分类": "Task lists",
    "数据表": "Data table",
    "数量": "Count",
    "小时": "Hours",
    "时限状态": "Deadline status",
    "案件数": "Cases",
    "{year}年度登记审核：合计": "Annual registration review {year}: total",
    "{year}年度登记审核：{unit}": "Annual registration review {year}: {unit}",
    "各环节办理用时(与图表相同)": "Time taken per step (the chart's figures)",
    "选择": "Select",
    "选择 {case} 的 {step}": "Select {step} of {case}",
    "同时办理：": "At the same time:",
    "图例：": "Legend: ",
    "无标记：未开始": "no mark: not started",
    "流程步骤(文字版)": "The steps in words",
    "可退回：": "Ways back:",
}
