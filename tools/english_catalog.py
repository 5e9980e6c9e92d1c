"""Write api/locale/en/LC_MESSAGES/messages.po: the English catalog of vetflow's pages.

Message ids are the Chinese texts. Run after changing page texts:
    .venv/bin/pybabel extract -F babel.cfg -k _ -k gettext -o /tmp/messages.pot api
    .venv/bin/python tools/english_catalog.py /tmp/messages.pot
A test fails when a page text has no English translation.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from jinja2 import Environment, nodes

import models.forms
import models.processes
from api.update_errors import TIMEOUT_MESSAGE
from api.web.forms import ERROR_TYPES
from models.process_spec import OUTCOME_LABELS, ProcessSpec
from models.processes import SPEC_VERSIONS, SUPPORT_SPECS
from tools.a11y_catalog import A11Y_EN
from tools.aftercare_catalog import AFTERCARE_EN, AFTERCARE_IDS
from tools.campaign_catalog import CAMPAIGN_EN
from tools.complaint_catalog import COMPLAINT_EN, COMPLAINT_IDS
from tools.keyboard_catalog import KEYBOARD_EN
from tools.loan_catalog import LOAN_EN
from tools.pages_catalog import PAGES_EN
from tools.rating_catalog import RATING_EN
from tools.report_catalog import REPORT_EN
from tools.review_pay_catalog import REVIEW_PAY_EN
from tools.start_form_catalog import START_FORM_EN

EN = {
    "用户名或密码错误": "Wrong user name or password",
    "登录表单已过期，请重新提交": "The login form has expired: please submit it again",
    "登录失败次数过多，已暂时锁定，请 {minutes} 分钟后再试": "Too many failed logins: locked for now, try again in {minutes} minutes",
    "已超期": "Overdue",
    "即将到期": "Due soon",
    "正常": "On time",
    "请选择任务并填写转派原因": "Select tasks and give a reason for the reassignment",
    "已转派 {n} 项": "Reassigned {n}",
    "提交未成功，请按提示修改": "Not submitted: please correct the fields marked",
    "转派须说明原因": "A reassignment needs a reason",
    "退役军人服务流程": "Veteran service workflows",
    "我的工作台": "My desk",
    "案件": "Cases",
    "管理看板": "Dashboard",
    "审计": "Audit",
    "退出": "Log out",
    "登录": "Log in",
    "用户名": "User name",
    "密码": "Password",
    "回放通过：{n} 个事件与当前代码一致": "Replay passed: {n} events match the current code",
    "回放失败": "Replay failed",
    "状态": "Status",
    "已办结": "Done",
    "办理中": "In progress",
    "历史来源": "History source",
    "按当前代码回放历史": "Replay the history against the current code",
    "下载证据包": "Download the evidence pack",
    "办理过程": "Timeline",
    "Temporal 原始事件": "Raw Temporal events",
    "操作审计记录": "Audit trail",
    "案件编号": "Case no.",
    "姓名或身份证号": "Name or ID number",
    "流程": "Process",
    "全部": "All",
    "受理自": "Started from",
    "受理至": "Started until",
    "查询": "Search",
    "退役军人": "Veteran",
    "受理时间": "Started",
    "没有案件": "No cases",
    "操作人": "Actor",
    "操作": "Action",
    "自": "From",
    "至": "To",
    "筛选": "Filter",
    "导出CSV": "Export CSV",
    "时间": "Time",
    "对象": "Object",
    "变更前": "Before",
    "变更后": "After",
    "暂无": "None yet",
    "暂无记录": "No entries yet",
    "案件概况": "Case summary",
    "所属机构": "Org unit",
    "受理": "Started",
    "办结": "Closed",
    "流程图": "Process diagram",
    "全部任务": "All tasks",
    "环节": "Step",
    "轮次": "Round",
    "办理人": "Handler",
    "结果": "Outcome",
    "意见": "Comment",
    "时限": "Due",
    "依据条款": "Clause",
    "已发送的通知": "Notices sent",
    "类型": "Kind",
    "接收人": "Recipient",
    "标题": "Subject",
    "渠道": "Channel",
    "案件编号、姓名或身份证号": "Case no., name or ID number",
    "办结时间": "Closed",
    "办理中案件": "Open cases",
    "待办任务": "Open tasks",
    "按时办结率": "On-time rate",
    "任务时限状态": "Deadline status",
    "各环节待办": "Open tasks by step",
    "各机构待办": "Open tasks by org unit",
    "积压时长": "Backlog age",
    "各环节办理用时(中位数，小时)": "Time per step (median, hours)",
    "中位数": "Median",
    "90%分位": "90th percentile",
    "案件与补正": "Cases and corrections",
    "件办理中": "in progress",
    "已办结案件": "Closed cases",
    "平均补正轮次": "Average correction rounds",
    "最多补正轮次": "Most correction rounds",
    "机构": "Org unit",
    "办理时限": "Due",
    "未认领": "Unclaimed",
    "没有任务": "No tasks",
    "转派给": "Reassign to",
    "转派原因(必填)": "Reason (required)",
    "批量转派": "Reassign selected",
    "第{n}轮": "round {n}",
    "剩余{n}个工作日": "{n} working days left",
    "上一页": "Previous",
    "第{p}/{n}页，共{t}条": "Page {p}/{n}, {t} in all",
    "下一页": "Next",
    "我的待办": "My tasks",
    "待认领": "To claim",
    "已办": "Done by me",
    "到期自": "Due from",
    "到期至": "Due until",
    "清除": "Clear",
    "已保存的筛选": "Saved filters",
    "本机构共享": "shared with my unit",
    "筛选名称": "Filter name",
    "与本机构共享": "Share with my unit",
    "保存当前筛选": "Save this filter",
    "返回工作台": "Back to my desk",
    "依据": "per",
    "办理机构": "Handling unit",
    "候选角色": "Role",
    "一次性告知的材料": "Materials requested (one-time notice)",
    "上次退回原因": "Returned because",
    "已补交材料": "Materials handed in",
    "已完成": "Done",
    "当前": "Current",
    "未开始": "Not started",
    "该任务已由 {holder} 认领。确认由您接手吗？": "{holder} holds this task. Take it over?",
    "确认接手": "Take over",
    "取消": "Cancel",
    "退回待认领": "Give back",
    "认领": "Claim",
    "转派": "Reassign",
    "办理": "Handle",
    "其他(每行一项)": "Other (one per line)",
    "每行一项": "one per line",
    "意见/备注": "Comment",
    "办理结果": "Outcome",
    "办理记录与意见": "History and comments",
    "已跳过": "Skipped",
    "党(团)员": "Party/League member",
    "群众": "Not a member",
    "全部案件": "All cases",
    "统一时间线": "One timeline",
    "失败": "failed",
    "通过": "Approve",
    "退回补正(一次性告知)": "Return for correction (one-time notice)",
    "退回下级重报": "Return to the level below to resubmit",
    "不予办理": "Refuse",
    "不属于本中心职权范围": "Not within this centre's remit",
    "已接收": "Received",
    "报名参加": "Enrolled",
    "本人不参加": "Declined by the veteran",
    "已上报": "Reported",
    "请选择": "Choose…",
    "重新发送": "Resend",
    "已以其他方式告知": "Informed another way",
    "提交": "Submit",
    "不适用": "Not applicable",
    "<1天": "<1 day",
    "1-3天": "1–3 days",
    "3-7天": "3–7 days",
    "7-30天": "7–30 days",
    ">30天": ">30 days",
    "仅管理人员可访问": "Managers only",
    "仅审计人员可访问": "Auditors only",
    "此项为必填项": "This field is required",
    "内容过短，请填写完整": "Too short: please complete it",
    "内容过长": "Too long",
    "至少填写一项": "Give at least one item",
    "日期格式不正确，应为 年-月-日": "Wrong date: use YYYY-MM-DD",
    "应为“是”或“否”": "Must be yes or no",
    "不允许填写此项": "This field is not allowed",
    "格式不正确": "Wrong format",
    "退回补正须一次性列明全部缺少或需补正的材料 (list every missing material)": "A return must list every missing or defective material at once",
    "退回时必须填写退回原因 (reasons are required to return)": "Give the reasons for the return",
    "选择“不适用”时必须填写原因 (a reason is required)": "Give a reason for “not applicable”",
    # Processes, steps and form fields (from the process definitions)
    "退役返乡报到(一站式报到)": "Return home and one-stop registration",
    "档案审核": "Archive review",
    "补充材料": "Supplement materials",
    "信息采集": "Information collection",
    "乡镇(街道)站审核": "Township station review",
    "区(县)中心审核": "County centre review",
    "党(团)组织关系转接": "Party/League relation transfer",
    "退役报到": "Registration",
    "落户": "Household registration",
    "社会保险关系转接": "Social insurance transfer",
    "医疗保险": "Medical insurance",
    "住房公积金转接": "Housing fund transfer",
    "预备役登记": "Reserve registration",
    "开设银行账户": "Bank account",
    "一次性经济补助预登记": "One-off subsidy pre-registration",
    "入户走访(发放联络服务卡)": "Home visit (contact card)",
    "缺少的材料": "Missing materials",
    "需补正的材料": "Defective materials",
    "审核意见": "Review opinion",
    "已收到的材料": "Materials received",
    "备注": "Note",
    "户籍地址": "Household address",
    "学历": "Education",
    "服役部队类别": "Service branch",
    "立功受奖": "Awards",
    "伤残等级": "Disability grade",
    "已采集近期免冠照片": "Recent photo taken",
    "接收党(团)组织": "Receiving organisation",
    "介绍信编号": "Letter no.",
    "转接日期": "Transfer date",
    "报到登记号": "Registration no.",
    "报到日期": "Registration date",
    "办理凭证号": "Reference no.",
    "不适用原因": "Reason not applicable",
    "走访日期": "Visit date",
    "联络服务卡编号": "Contact card no.",
    "走访情况": "Visit notes",
    "退回原因": "Reasons for return",
    "退出现役日期": "Discharge date",
    "找不到该页面或您无权查看": "Not found, or not yours to see",
    "您没有权限进行此操作": "You may not do this",
    "出错了": "Something went wrong",
    "受理业务": "Start a case",
    "姓名": "Name",
    "身份证号": "ID number",
    "类别": "Category",
    "政治面貌": "Political status",
    # Return home, version 2: steps, form fields and the forms' own checks
    "档案接收": "File receipt",
    "补充材料(首办负责)": "Supplement materials (first handler)",
    "向移交单位函调档案材料": "Request file materials from the sending unit",
    "返乡迎接": "Welcome home",
    "入户走访(五关爱、发放联络服务卡)": "Home visit (five cares, contact card)",
    "档案入档与数字档案": "File storage and digital file",
    "党组织关系转接": "Party relation transfer",
    "团组织关系转接": "League relation transfer",
    "医疗保险关系转接": "Medical insurance transfer",
    "适应性培训": "Adaptive training",
    "市中心审核": "City centre review",
    "上报省退役军人服务中心": "Report to the provincial veterans service centre",
    "移交单位": "Sending unit",
    "转递方式": "Means of transfer",
    "接收日期": "Date received",
    "密封完好": "Seal intact",
    "本人需补交的材料": "Materials the veteran must bring",
    "本人需补正的材料": "Materials the veteran must correct",
    "档案缺少的材料(向移交单位函调)": "Materials missing from the file (requested from the sending unit)",
    "不予办理的理由": "Reason for refusal",
    "有权办理的机关": "Competent authority",
    "函调日期": "Date requested",
    "已收到的档案材料": "File materials received",
    "收到日期": "Date received",
    "迎接日期": "Welcome date",
    "迎接活动": "Welcome activities",
    "谈心谈话(所思所想所盼)": "Heart-to-heart talk (thoughts, concerns, hopes)",
    "宣讲的政策和优待措施": "Policies and preferential measures explained",
    "推介的岗位": "Jobs recommended",
    "已发放联络服务卡": "Contact card issued",
    "入档日期": "Filing date",
    "存放位置": "Storage location",
    "已建立数字档案": "Digital file created",
    "告知日期": "Date informed",
    "培训班次": "Training session",
    "不参加原因": "Reason for not taking part",
    "基本信息·户籍地址": "Basic information · household address",
    "基本信息·现居住地址": "Basic information · current address",
    "组织生活和社会活动·政治面貌": "Organisational and social life · political status",
    "组织生活和社会活动·所在党(团)组织": "Organisational and social life · Party/League organisation",
    "组织生活和社会活动·参加社团及社会活动": "Organisational and social life · associations and social activities",
    "服役信息·入伍时间": "Service · enlisted",
    "服役信息·退役时间": "Service · discharged",
    "服役信息·军衔/职级": "Service · rank/grade",
    "服役信息·服役部队类别": "Service · branch",
    "安置信息·安置方式": "Placement · means of placement",
    "安置信息·安置单位": "Placement · placement unit",
    "就业创业信息·就业创业状况": "Employment and enterprise · status",
    "教育培训信息·学历": "Education and training · education",
    "教育培训信息·培训需求": "Education and training · training needs",
    "抚恤优待信息·伤残等级": "Pensions and preferential treatment · disability grade",
    "抚恤优待信息·优待证及优抚待遇": "Pensions and preferential treatment · preferential card and benefits",
    "褒扬激励和特困低保·立功受奖": "Honours and hardship relief · awards",
    "褒扬激励和特困低保·特困低保情况": "Honours and hardship relief · hardship and minimum living allowance",
    "据以采集的材料": "Materials the information was taken from",
    "上报日期": "Date reported",
    "上报方式": "Means of reporting",
    "不予办理须说明理由 (a reason is required, 003 §7.6 f)": "A refusal needs its reason (003 §7.6 f)",
    "不属于本中心职权范围的，须告知有权办理的机关 (name the competent authority)": "Name the competent authority when the case is not within this centre's remit",
    "入户走访须发放联络服务卡 (003 §6.2.1 c)": "A home visit must hand over the contact card (003 §6.2.1 c)",
    "须按规定建立数字档案 (001 第八条)": "A digital file must be created (001 art. 8)",
    "报名参加须填写培训班次 (the session)": "Give the training session to enrol",
    "本人不参加须记录原因 (a reason is required)": "Record why the veteran declines",
    "退役时间须晚于入伍时间 (discharge after enlistment)": "The discharge date must be after the enlistment date",
    # Failed notices: the engine's own work items
    "通知送达": "Notice delivery",
    "通知送达失败处理": "Failed notice",
    "工作人员通知送达失败处理": "Failed notice to staff",
    "更正后的联系方式": "Corrected contact",
    "告知情况": "How the person was informed",
    "重新发送须填写更正后的联系方式 (a corrected address)": "Give the corrected contact to resend",
    "须说明以何种方式告知本人 (how the person was informed)": "Say how the person was informed",
    # Incidents, failed notices and escalation on the dashboard
    "故障": "Incidents",
    "待重试的故障": "Incidents awaiting retry",
    "发送失败待处理的通知": "Failed notices awaiting a clerk",
    "已升级至第{n}级及以上": "Escalated to rung {n} or higher",
    "案件在出错的环节等待；排除原因后点击“重试”，系统重新执行失败的操作。": "Each case waits at the step that failed: fix the cause, then press Retry and the failed operation runs again.",
    "待重试": "Awaiting retry",
    "重试中": "Retrying",
    "已解决": "Resolved",
    "发生时间": "Occurred",
    "失败的操作": "Failed operation",
    "错误": "Error",
    "重试": "Retry",
    "没有故障": "No incidents",
    "已请求重试，案件将重新执行失败的操作": "Retry requested: the case runs the failed operation again",
    TIMEOUT_MESSAGE: "The workflow engine did not answer in time; the action may not have taken effect. Try again shortly.",
}


def _merge(area: dict[str, str]) -> None:
    """Add a per-area catalog to EN: one wording per key, whichever page shows it."""
    clash = {k: (EN[k], v) for k, v in area.items() if k in EN and EN[k] != v}
    if clash:
        raise SystemExit(f"two English wordings for one text: {clash}")
    EN.update(area)


for _area in (
    CAMPAIGN_EN,
    PAGES_EN,
    REVIEW_PAY_EN,
    LOAN_EN,
    AFTERCARE_EN,
    START_FORM_EN,
    COMPLAINT_EN,
    RATING_EN,
    REPORT_EN,
    KEYBOARD_EN,
    A11Y_EN,
):
    _merge(_area)


def _specs() -> list[ProcessSpec]:
    """Every version of every process (a case runs the version it started with to its
    end, so older versions keep their English), and the engine's own work items."""
    return [
        *(spec for versions in SPEC_VERSIONS.values() for spec in versions.values()),
        *SUPPORT_SPECS.values(),
    ]


def form_messages() -> set[str]:
    """The forms' own checks (``raise ValueError("…")`` in models/forms.py and in the
    processes' modules, models/processes/*.py): the page shows them translated next to
    the form."""
    modules = [models.forms] + [
        importlib.import_module(f"models.processes.{m.name}")
        for m in pkgutil.iter_modules(models.processes.__path__)
    ]
    return {
        node.exc.args[0].value
        for module in modules
        for node in ast.walk(ast.parse(inspect.getsource(module)))
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and isinstance(node.exc.func, ast.Name)
        and node.exc.func.id == "ValueError"
        and node.exc.args
        and isinstance(node.exc.args[0], ast.Constant)
        and isinstance(node.exc.args[0].value, str)
    }


def template_lookups() -> set[str]:
    """Words a template translates through a lookup, ``_({"open": "办理中", …}.get(s))``:
    pybabel extracts only literal ``_("…")`` calls, so the dict's values are read here."""
    env = Environment(autoescape=True)
    root = Path(__file__).resolve().parent.parent / "api" / "templates"
    ids: set[str] = set()
    for path in root.rglob("*.html"):
        for call in env.parse(path.read_text(encoding="utf-8")).find_all(nodes.Call):
            if isinstance(call.node, nodes.Name) and call.node.name == "_":
                for pair in (p for a in call.args for p in a.find_all(nodes.Pair)):
                    if isinstance(pair.value, nodes.Const) and isinstance(
                        pair.value.value, str
                    ):
                        ids.add(pair.value.value)
    return ids


def dynamic_ids() -> set[str]:
    """Texts that pybabel cannot extract: template lookups, error messages, outcome
    labels, and the titles of processes, steps and form fields."""
    ids = set(ERROR_TYPES.values()) | set(OUTCOME_LABELS.values()) | form_messages()
    ids |= template_lookups()
    ids |= AFTERCARE_IDS  # causes, honours, relations: looked up from the models
    ids |= COMPLAINT_IDS  # channels, grades, matters, …: looked up from the models
    for spec in _specs():
        ids.add(spec.title)
        for step in spec.steps:
            ids.add(step.title)
            for f in step.form.model_fields.values():
                if f.title:
                    ids.add(f.title)
            # The fields of a row of a list of objects (a trip abroad), shown as
            # the row's column titles.
            for sub in step.form.model_json_schema().get("$defs", {}).values():
                for prop in sub.get("properties", {}).values():
                    if prop.get("title"):
                        ids.add(prop["title"])
        ids.update(spec.status_labels.values())  # a running case's own statuses
        if spec.startable:  # the start page's fields (api/pages/case_start.py)
            ids.update(
                f.title for f in spec.start_form.model_fields.values() if f.title
            )
    return ids


def main(pot: str) -> None:
    with open(pot, "rb") as f:
        template = read_po(f)
    ids = (
        {str(m.id) for m in template if m.id}
        | dynamic_ids()
        | {"失败"}
        | {TIMEOUT_MESSAGE}  # shown on pages when Temporal does not answer (503)
    )
    missing = sorted(i for i in ids if i not in EN)
    if missing:
        raise SystemExit(f"no English for: {missing}")
    catalog = Catalog(locale="en", project="vetflow")
    for msgid in sorted(ids):
        catalog.add(msgid, EN[msgid])
    out = (
        Path(__file__).resolve().parent.parent
        / "api"
        / "locale"
        / "en"
        / "LC_MESSAGES"
        / "messages.po"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        write_po(f, catalog, width=0)


if __name__ == "__main__":
    main(sys.argv[1])
