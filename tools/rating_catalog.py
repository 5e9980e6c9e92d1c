"""English for the veteran's rating page (好差评, api/templates/self/rating*.html and
rated.html; merged into tools/english_catalog.py's EN). The five grades the page looks
up from complaint.GRADE_LABELS are tools/complaint_catalog.py's (COMPLAINT_IDS).

CITIZEN_EN: the texts every page a veteran opens from a notice shares (api/templates/
self/base.html, _draft_note.html, _draft_kept.html: the large-text toggle and the kept
draft, issue 14). The annual-review pages draw them in Chinese only; the rating pages
in either language. Merged with RATING_EN."""

from __future__ import annotations

RATING_EN = {
    "服务评价": "Rate the service",
    "服务评价(好差评)": "Service rating",
    "请对本次服务进行评价": "Please rate this service",
    "评价事项": "Service rated",
    "办理单位": "Handling unit",
    "办理日期": "Date",
    "您的评价帮助我们改进服务。您是谁，不会告诉被评价的工作人员。此链接只能评价一次，{expires}(北京时间)前有效。": "Your rating helps us improve our service. We never tell the staff you rate who you are. This link rates once only, until {expires} (Beijing time).",
    "提交未成功，请按提示修改后重新提交。": "Not submitted: please correct the fields marked and submit again.",
    "总体评价": "Overall rating",
    "(必选)": "(required)",
    "请选择一项评价": "Choose a rating",
    "意见或建议": "Comments or suggestions",
    "选填，不超过{n}字。不满意的，请写明原因，我们会联系您核实。": "Optional, at most {n} characters. If you are not satisfied, tell us why: we will contact you to look into it.",
    "意见不超过{n}字": "At most {n} characters",
    "提交评价": "Submit the rating",
    "感谢您的评价": "Thank you for your rating",
    "您对“{subject}”的评价(“{grade}”)已提交。此链接已使用，不能再次评价。": "Your rating of “{subject}” (“{grade}”) has been submitted. This link has been used and cannot rate again.",
    "我们会尽快与您联系，核实情况并整改；整改后还会回访，听取您的意见。": "We will contact you soon to look into it and put it right, and ask you again afterwards whether you are satisfied.",
    "链接无效": "Invalid link",
    "链接已失效": "Link no longer valid",
    "请稍后再试": "Try again later",
    "无法提交": "Cannot submit",
    "评价链接已过期": "The rating link has expired",
    "评价链接已过期。如需评价或反映问题，请联系办理单位{phone}。": "The rating link has expired. To rate the service or raise a problem, call the handling unit{phone}.",
    "已评价，链接已使用": "Already rated: the link has been used",
    "本次服务已经评价，链接已使用，不能再次评价。": "This service has been rated already; the link has been used and cannot rate again.",
    "请求过于频繁": "Too many requests",
    "请在 {n} 秒后再试。": "Try again in {n} seconds.",
    "请直接打开短信或邮件中的链接后提交评价。": "Open the link in your text message or e-mail directly and submit the rating there.",
    "系统繁忙": "System busy",
    "您的评价已保存，但系统暂时无法办理后续事项。请稍后在本页再次提交一次，以便我们跟进。": "Your rating has been saved, but the system cannot take up the follow-up right now. Please submit once more on this page later so that we can follow it up.",
    "无法识别此链接。请核对短信或邮件中的完整链接，或联系您所在的退役军人服务站。": "This link is not recognised. Check the full link in your text message or e-mail, or contact your veterans' service station.",
}

CITIZEN_EN = {
    "退役军人服务": "Veterans' services",
    "大字模式": "Large text",
    "您填写的内容会自动保存在这台手机或电脑上，提交成功后自动清除。": "What you type is saved on this phone or computer as you go, and cleared once it is submitted.",
    "已恢复您上次填写的内容。": "What you typed last time has been put back.",
    "您填写的内容没有丢失": "What you typed is not lost",
    "内容还保存在这台手机或电脑上，如下。您可以照着它打电话或到服务站办理。": "It is still saved on this phone or computer, shown below. You can read it out when you call, or take it to the service station.",
}
RATING_EN.update(CITIZEN_EN)
