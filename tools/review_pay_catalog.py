"""English for the annual registration review and the monthly retirement pay
(models/processes/annual_review.py, models/processes/monthly_pay.py): process and step
titles, form fields, outcomes, running statuses and the forms' own checks, merged into
tools/english_catalog.py's EN (one wording per key: the merge refuses a different one)."""

from __future__ import annotations

REVIEW_PAY_EN = {
    # 年度登记审核 (001 第六条, 第九条; 000 §6.3)
    "逐月领取退役金退役军人年度登记审核": "Annual registration review (monthly retirement pay)",
    "年度登记信息报送": "Annual registration report",
    "党组织评定意见": "Party organisation's assessment",
    "年度登记审核": "Annual registration review",
    "约谈提醒": "Reminder interview",
    "逾期未报送处理": "Report overdue: decide",
    "参加党组织生活情况": "Party organisation life taken part in",
    "参加社团情况": "Associations joined",
    "出入境情况": "Travel abroad (exits and entries)",
    "奖惩情况": "Rewards and punishments",
    "本人承诺以上信息真实": "I declare the above is true",
    "评定意见": "Assessment",
    "参加组织生活": "Organisation life taken part in",
    "按时交纳党费": "Party dues paid on time",
    "日常表现": "Everyday conduct",
    "需补正的事项(一次性告知)": "Items to correct (one-time notice)",
    "发现的苗头性问题": "Early warning signs found",
    "约谈日期": "Interview date",
    "约谈人": "Interviewer",
    "约谈记录": "Interview record",
    "后续教育引导": "Follow-up guidance",
    "延期至": "Extended until",
    "理由": "Reason",
    "通知补正(一次性告知)": "Ask for corrections (one-time notice)",
    "延期提交": "Extend the deadline",
    "记录未提交": "Record non-submission",
    "须承诺所填信息真实 (the declaration is required)": "Declare that the information given is true",
    "通知补正须一次性列明全部需补正的事项 (list every defect)": "A request for corrections must list every item to correct at once",
    "约谈须写明发现的苗头性问题 (describe the concern)": "An interview needs the early warning signs found",
    "延期须填写延期日期 (extend_until is required)": "Give the date the deadline is extended to",
    "须说明理由 (a reason is required)": "Give the reason",
    # 逐月领取退役金月度发放 (001 第十条; 000 §6.4)
    "逐月领取退役金月度发放": "Monthly retirement pay (payroll)",
    "编制发放名单": "Prepare the payroll list",
    "审批发放名单": "Approve the payroll list",
    "确认发放": "Confirm the payment",
    "暂缓发放名单": "Pay held for",
    "编制说明": "Preparer's note",
    "审批意见": "Approver's opinion",
    "发放日期": "Paid on",
    "银行代发批次号": "Bank payment batch no.",
    "编制完成": "Prepared",
    "批准": "Approve",
    # An outcome (the approver sends the list back) and the status it leads to.
    "退回重编": "Sent back to be prepared again",
    "已发放": "Paid",
    "编制中": "Being prepared",
    "待审批": "Awaiting approval",
    "已批准待发放": "Approved, awaiting payment",
    "退回重编须写明原因 (reasons are required to reject)": "Give the reasons for sending it back",
}
