"""English for the staff pages' texts of the campaign processes (cases about an org
unit, masked sensitive fields, steps the veteran holds, rows of a form), merged into
tools/english_catalog.py's EN; an entry EN has already keeps EN's wording."""

from __future__ import annotations

PAGES_EN = {
    "办理对象": "Subject",
    "机构案件": "Org unit case",
    "案件编号、姓名、机构名称或身份证号": "Case no., name, org unit or ID number",
    "姓名、机构名称或身份证号": "Name, org unit or ID number",
    "办理依据": "What the step works from",
    "填报内容": "Data submitted",
    "敏感信息已隐藏": "Sensitive details hidden",
    "敏感信息已隐藏，仅有权限的岗位可查看": "Sensitive details are hidden: only roles allowed to see them can read them",
    "报送方式": "Reported by",
    "待退役军人本人报送，或由工作人员帮办代报": "Awaiting the veteran's own report, or a clerk's report on their behalf",
    "本人在线报送": "Reported online by the veteran",
    "帮办代报({name})": "Reported on the veteran's behalf ({name})",
    "退役军人本人": "The veteran",
    "用时": "Time taken",
    "在机构办理 {days} 天": "{days} days with the agency",
    "待退役军人报送 {days} 天": "{days} days with the veteran",
    "查看": "View",
    "添加行": "Add rows",
    "空行不提交": "blank rows are not submitted",
    "第{n}行": "Row {n}",
    "已撤回": "Withdrawn",
    "待本人报送，可帮办": "Awaiting the veteran's report (a clerk may report for them)",
    "双人复核": "Four eyes",
    "须由“{step}”的办理人以外的人员办理": "To be done by someone other than whoever did “{step}”",
    "本案为 {name}": "here: {name}",
    "已取消": "Cancelled",
    # Context values the engine gives a step (api/web/display.py CONTEXT_LABELS)
    "年度": "Year",
    "轮次": "Round",
    "报送人": "Reported by",
    "原定时限": "Original deadline",
    "报送内容": "The report",
    "出入境记录条数": "Trips abroad (count)",
    "本月发放名单": "This month's list",
    "名单人数": "On the list",
    "发放人数": "Paid",
    "暂缓人数": "Held",
    "姓名": "Name",
    "服务站": "Station",
    "身份证号": "ID number",
    "审核案件": "Review case",
    "批准人": "Approved by",
    "编制人": "Prepared by",
    # Status words of the annual review (ProcessSpec.status_labels)
    "待提交": "Awaiting the report",
    "已提交待审核": "Submitted, awaiting review",
    "补正中": "Correcting",
    "约谈中": "Interview",
    "审核通过": "Passed",
    "逾期未提交": "Overdue, not submitted",
    "已记录未提交": "Non-submission recorded",
    # Row fields of step forms (a trip abroad, a held payroll line)
    "出境日期": "Left on",
    "入境日期": "Returned on",
    "前往国家(地区)": "Country (region)",
    "事由": "Purpose",
    "退役军人编号": "Veteran no.",
    "暂缓原因": "Reason for holding",
    # The password page (/settings/password).
    "修改密码": "Change password",
    "修改后本账号的所有登录都将退出，请用新密码重新登录。": (
        "Changing it logs this account out everywhere: log in again with the new "
        "password."
    ),
    "当前密码": "Current password",
    "新密码": "New password",
    "至少 {n} 个字符，不能与当前密码或用户名相同": (
        "At least {n} characters, neither the current password nor the username"
    ),
    "再次输入新密码": "New password again",
    "新密码至少 {n} 个字符": "The new password needs at least {n} characters",
    "新密码须不同于当前密码和用户名": (
        "The new password must differ from the current one and from the username"
    ),
    "两次输入的新密码不一致": "The two new passwords differ",
    "当前密码错误": "The current password is wrong",
    "密码已修改，请用新密码登录": "Password changed: log in with the new one",
}
