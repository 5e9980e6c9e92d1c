"""送达失败的通知 (a notice that failed for good): the engine's own work item.

A notice the gateway refused (an invalid number, no address, a rejected recipient) or
that still failed after its bounded retries becomes a task for the case's unit: correct
the contact and resend, or record that the person was informed another way. The case
itself goes on meanwhile (003 §7.6 一次性告知 still has to reach the veteran).
"""

from __future__ import annotations

from datetime import timedelta

from models.contracts import ProcessPolicy, TaskPolicy
from models.forms import EmptyForm, NoticeFailedForm
from models.process_spec import ProcessSpec, StepSpec

PROCESS_KEY = "notice"
_OUTCOMES = ("resend", "informed_otherwise")

SPEC = ProcessSpec(
    key=PROCESS_KEY,
    title="通知送达",
    title_en="Notice delivery",
    workflow="DeliverNoticeWorkflow",
    clauses=("003 §7.6",),
    start_form=EmptyForm,
    first="notice_failed",
    per_veteran="many",
    steps=(
        StepSpec(
            key="notice_failed",
            title="通知送达失败处理",
            clause="003 §7.6",
            role="village_staff",
            level="village",
            outcomes=_OUTCOMES,
            form=NoticeFailedForm,
            description="更正联系方式后重新发送，或记录已通过其他方式告知本人",
        ),
        StepSpec(
            key="staff_notice_failed",
            title="工作人员通知送达失败处理",
            clause="003 §7.7",
            role="county_staff",
            level="county",
            outcomes=_OUTCOMES,
            form=NoticeFailedForm,
            description="更正工作人员联系方式后重新发送，或记录已当面告知",
        ),
    ),
)
SPECS = {SPEC.version: SPEC}

_DEFAULT = TaskPolicy(
    working_days=2, remind_before=timedelta(hours=4), source="003 §7.9 (local)"
)
POLICIES = {
    "standard": ProcessPolicy(name="standard", default=_DEFAULT),
    "fast": ProcessPolicy(
        name="fast", default=TaskPolicy(duration=timedelta(minutes=10), source="demo")
    ),
}
