"""English for the complaint closed loop (models/processes/complaint.py: 差评, window
complaints, 信访) and its staff pages (the case page's complaint section, the task
pages' context, the registration page /complaints/new): the process, its steps and
their descriptions, form fields, outcomes (models/process_spec.OUTCOME_LABELS), running
statuses, the forms' own checks, and the labels of channels, petition kinds, grades,
matters and improvements, merged into tools/english_catalog.py's EN (one wording per
key: the merge refuses a different one)."""

from __future__ import annotations

from models.processes.complaint import (
    CHANNEL_LABELS,
    GRADE_LABELS,
    IMPROVEMENT_LABELS,
    MATTER_LABELS,
    PETITION_KIND_LABELS,
    SPEC,
    ComplaintStartForm,
    PetitionRequest,
    Representative,
)


def _descriptions() -> set[str]:
    """The steps' and the forms' descriptions (shown beside a step or a field)."""
    out = {s.description for s in SPEC.steps if s.description}
    forms = [s.form for s in SPEC.steps] + [
        ComplaintStartForm,
        PetitionRequest,
        Representative,
    ]
    for form in forms:
        out |= {f.description for f in form.model_fields.values() if f.description}
    return out


# Labels the pages translate through a lookup of the models' own tables (not
# extractable by pybabel), and the titles of the forms no step carries (the
# petitioner's 复查/复核 request, a representative's row): the catalog must carry them.
COMPLAINT_IDS = (
    set(CHANNEL_LABELS.values())
    | set(PETITION_KIND_LABELS.values())
    | set(GRADE_LABELS.values())
    | set(MATTER_LABELS.values())
    | set(IMPROVEMENT_LABELS.values())
    | {f.title for f in PetitionRequest.model_fields.values() if f.title}
    | {f.title for f in Representative.model_fields.values() if f.title}
    | _descriptions()
)

COMPLAINT_EN = {
    # The process and its steps (003 §9.2.1; 信访工作条例)
    "投诉/信访/差评 闭环处理": "Complaint closed loop: bad reviews, window complaints, petitions",
    "问题核实": "Verify the complaint",
    "申诉复核": "Appeal review",
    "反馈整改": "Rectify",
    "整改延期审批": "Approve the rectification's extension",
    "问题回访": "Follow-up visit",
    "改进提升": "Improve",
    "决定是否受理(书面告知)": "Decide on acceptance (written notice)",
    "办理并出具信访处理意见书": "Handle and issue the petition opinion",
    "信访办理延期审批": "Approve the petition's extension",
    "复查": "Review (复查)",
    "复核": "Re-examination (复核)",
    "听证(不计入复核期限)": "Hearing (not counted in the re-examination's time limit)",
    "督办": "Supervise (督办)",
    # The steps' descriptions
    "谁办理、谁负责: 办理单位联系服务对象核实差评或投诉": "Whoever handled it answers for it: the handling unit contacts the person served and verifies the bad review or complaint",
    "误评、恶意差评由上一级复核: 申诉成立的差评不计入; 不成立的退回整改": "A mistaken or malicious rating is reviewed by the unit above: an upheld appeal does not count the bad review; otherwise it goes back to rectification",
    "立行立改; 复杂问题列入台账、限期整改(报领导批准)": "Fix it at once; a complex problem goes into the ledger with a deadline (approved by the leader)",
    "回访服务对象: 不满意的重新整改(计为重开)": "Visit the person served again: not satisfied means rectified again (counted as a reopen)",
    "收到之日起15日内书面告知信访人是否受理": "Tell the petitioner in writing within 15 days of receipt whether it is accepted",
    "受理之日起60日内办结(第三十四条); 延期须负责人批准并告知理由": "Concluded within 60 days of acceptance (Art. 34); an extension needs the head's approval and the reason told",
    "延长不超过30日，并告知信访人延期理由": "At most 30 more days, with the reason told to the petitioner",
    "收到复查请求之日起30日内提出复查意见": "The review opinion within 30 days of the request",
    "收到复核请求之日起30日内提出复核意见; 听证时间不计入": "The re-examination opinion within 30 days of the request; a hearing's time is not counted",
    "办理环节逾期的，由上一级督办": "An overdue step is supervised by the unit above",
    # Running statuses
    "问题核实中": "Verifying",
    "申诉复核中": "Appeal under review",
    "整改中": "Rectifying",
    "延期报批中": "Extension awaiting approval",
    "回访中": "Follow-up visit",
    "改进提升中": "Improving",
    "申诉成立(差评不计)": "Appeal upheld (the bad review does not count)",
    "待决定是否受理": "Awaiting the acceptance decision",
    "已答复(复查申请期)": "Answered (review may be requested)",
    "复查中": "Under review",
    "已复查(复核申请期)": "Reviewed (re-examination may be requested)",
    "复核中": "Under re-examination",
    "听证中(不计入期限)": "Hearing (not counted in the time limit)",
    "已转送": "Transferred",
    # Outcomes (models/process_spec.OUTCOME_LABELS)
    "情况属实": "Valid",
    "误评(申诉)": "Mistaken rating (appeal)",
    "恶意差评(申诉)": "Malicious rating (appeal)",
    "申诉成立": "Appeal upheld",
    "申诉不成立,退回整改": "Appeal not upheld, back to rectification",
    "已整改": "Rectified",
    "已解释说明": "Explained",
    "复杂问题(申请延期)": "Complex problem (extension requested)",
    "申请延期(报负责人批准)": "Request an extension (the head approves)",
    "满意": "Satisfied",
    "不满意(重新整改)": "Not satisfied (rectify again)",
    "转送(不属于本机关)": "Transfer (not ours)",
    "支持": "Supported",
    "不予支持": "Not supported",
    "维持": "Upheld",
    "变更": "Revised",
    "组织听证": "Hold a hearing",
    "已听证": "Hearing held",
    "已督办": "Supervised",
    # Start form and step forms
    "信访类别": "Petition kind",
    "信访件必填: 建议意见 / 检举控告 / 申诉求决": "Required for a petition: suggestion / report / claim",
    "事项类别": "Matter",
    "投诉/信访事项": "Complaint or petition",
    "投诉人/信访人": "Complainant or petitioner",
    "投诉人为登记在册的退役军人(编号)": "The complainant is a registered veteran (no.)",
    "走访代表(不超过5人)": "Representatives of the visit (at most 5)",
    "代表姓名": "Representative's name",
    "来访人数": "Visitors",
    "被检举单位": "Unit reported",
    "被检举人(账号)": "Person reported (account)",
    "联系核实日期": "Contacted on",
    "核实情况": "Findings",
    "复核意见": "Review opinion",
    "整改措施/说明": "Measures or explanation",
    "整改期限(复杂问题)": "Rectification deadline (complex problem)",
    "延期理由": "Reason for the extension",
    "回访方式": "Follow-up by",
    "回访情况": "Follow-up findings",
    "改进类别": "Improvement kind",
    "改进措施": "Improvement measure",
    "督办意见": "Supervision instruction",
    "书面告知文号": "Written notice no.",
    "转送机关": "Transferred to",
    "意见书文号": "Opinion no.",
    "处理意见": "Opinion",
    "延长天数(不超过30日)": "Days of extension (at most 30)",
    "延期/听证理由": "Reason for the extension or hearing",
    "听证日期": "Hearing date",
    "听证情况": "Hearing summary",
    "请求": "Request",
    "收到请求日期": "Request received on",
    "请求理由": "Reason for the request",
    # The forms' own checks
    "信访件须注明信访类别 (kind is required for a petition)": "A petition needs its kind",
    "窗口投诉不填信访类别 (kind is for petitions only)": "A window complaint has no petition kind",
    "被检举单位/人只用于检举控告 (reported_* only for kind 'report')": "A unit or person reported only for a report (检举控告)",
    "检举控告须注明被检举单位或被检举人 (reported_unit_id or reported_person)": "A report needs the unit or person reported",
    "多人走访须推选代表，不超过5人 (信访工作条例 第二十条: representatives)": "A group visit names representatives, at most 5 (Art. 20)",
    "须填写整改措施或解释说明 (measures are required)": "Give the measures or the explanation",
    "复杂问题须填写整改期限和理由 (new_deadline and reason are required)": "A complex problem needs a deadline and the reason",
    "不同意须说明理由 (opinion is required to refuse)": "A refusal needs a reason",
    "转送须写明转送机关 (transfer_to is required)": "A transfer names where it goes",
    "须写明理由 (reason is required)": "Give the reason",
    "延期须写明天数和理由 (extension_days and reason are required)": "An extension needs its days and the reason",
    "听证须写明理由 (reason is required)": "A hearing needs its reason",
    "须填写意见书文号和处理意见 (document_no and opinion are required)": "Give the opinion's number and text",
    # Labels: channels, petition kinds, grades, matters, improvements
    "差评": "Bad review",
    "窗口投诉": "Window complaint",
    "信访": "Petition",
    "建议意见": "Suggestion",
    "检举控告": "Report (检举控告)",
    "申诉求决": "Claim",
    "非常满意": "Very satisfied",
    "基本满意": "Fairly satisfied",
    "不满意": "Dissatisfied",
    "非常不满意": "Very dissatisfied",
    "服务态度": "Attitude",
    "办事效率": "Efficiency",
    "政策落实": "Policy implementation",
    "待遇保障": "Benefits",
    "就业创业": "Employment and business",
    "权益维护": "Rights",
    "其他": "Other",
    "制度完善": "Rules",
    "流程优化": "Process",
    "人员培训": "Training",
    "服务设施": "Facilities",
    "政策宣传": "Publicity",
    # The case page's complaint section and the task pages' context
    # (api/templates/cases/_complaint.html, api/web/complaint_display.py)
    "投诉/信访情况": "The complaint",
    "评价等级": "Grade",
    "办理阶段": "Stage",
    "已登记": "Registered",
    "回访不满意，重新整改": "Not satisfied at the follow-up: rectified again",
    "已重新整改次数": "Times rectified again",
    "办理期限延长": "Handling time extended",
    "{days} 日(负责人批准)": "{days} days (approved by the head)",
    "复核期限": "Re-examination time limit",
    "听证期间暂停计时 {days} 天, 期限已顺延": "The clock paused {days} days for the hearing; the deadline moved on by as much",
    "复核结论": "Re-examination",
    "复核已办结: 同一事实和理由不再受理": "Re-examined: the same facts and reasons are not accepted again",
    "关联的前案": "Earlier case of the same matter",
    "身份信息已隐藏，仅有权限的岗位可查看": "Identity hidden: only roles that need it may see it",
    "被评价的案件": "Rated case",
    "显示完整信息": "Show in full",
    "查看将记入审计": "The read is audited",
    "台账": "Ledger",
    "阶段": "Stage",
    "记录": "Entry",
    "被评价的办理环节": "Rated step",
    "被评价的工作人员": "Rated clerk",
    "核实结论": "Finding",
    "申请的整改期限": "Deadline asked for",
    "逾期环节": "Overdue step",
    "信访处理意见书": "Petition opinion",
    "复查意见书": "Review opinion (复查)",
    "听证暂停计时": "Clock paused for hearings",
    "已延期一次": "Extended once",
    "申请延长天数": "Days of extension asked for",
    # The registration page (api/pages/complaint_new.py, cases/complaint_new.html)
    "登记投诉/信访": "Register a complaint or petition",
    "办理单位": "Handling unit",
    "谁办理、谁负责: 投诉/信访由该单位办理，上一级复查、督办": "Whoever handles it answers for it: this unit handles the complaint or petition; the unit above reviews and supervises",
    "投诉人/信访人的身份信息单独保密保存，不随案件流转；办理人员需要时经授权查看，查看记入审计。": "The complainant's identity is kept apart and confidential, never passed along with the case; staff who need it may reveal it, and every reveal is audited.",
    "同一事项的前案": "Earlier case of the same matter",
    "登记": "Register",
}
