"""English for the dashboard's annual review section (merged into
tools/english_catalog.py's EN; an entry EN has already keeps EN's wording)."""

from __future__ import annotations

CAMPAIGN_EN = {
    "{year}年度登记审核": "Annual registration review {year}",
    "{year}年度登记审核已开启，未重复开启": "The annual registration review {year} is open already: nothing opened twice",
    "已开启{year}年度登记审核，正在为每位退役军人开启案件": "Opened the annual registration review {year}: a case is being opened for every veteran",
    "请填写有效的年度": "Enter a valid year",
    "各服务站年度登记审核进度(与上方图表相同)": "Annual review progress per station (the same figures as the charts above)",
    "开启年度登记审核": "Open the annual registration review",
    "本年度登记审核尚未开启：每年1月1日由定时任务自动开启，也可在此手动开启。": "This year's registration review is not open yet: the schedule opens it on 1 January, or open it here by hand.",
    "开启人": "Opened by",
    "进行中": "Running",
    "已结束": "Ended",
    "已开启案件": "Cases opened",
    "平均天数：经办机构 / 退役军人": "Average days: with the agency / with the veteran",
    "经办机构平均天数": "Average days with the agency",
    "退役军人平均天数": "Average days with the veteran",
    "合计": "Total",
    "服务站": "Station",
    "年度": "Year",
    "登记截止": "Registration closes",
    "未提交": "Not submitted",
    "已提交待审核": "Submitted, awaiting review",
    "补正中": "Correcting",
    "约谈中": "Interview",
    "审核通过": "Passed",
    "逾期未提交": "Overdue, not submitted",
    "已记录未提交": "Non-submission recorded",
}
