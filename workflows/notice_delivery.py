"""Delivering one notice, off the case's critical path.

A case on the current engine queues each notice in the outbox, and the worker's
dispatcher delivers it (activities/notice_outbox.py); only a notice that fails for good
is handed to a ``DeliverNoticeWorkflow`` here, with ``failed`` set. A case started before
that engine hands each notice to its own ``DeliverNoticeWorkflow`` (a child it abandons)
and goes on. Delivery retries a bounded number of times; a permanent refusal (a gateway 4xx,
no address, a rejected recipient, a broken template) stops at once. A notice that fails
for good becomes a ``notice_failed`` task for the case's unit: correct the contact and
resend, or record how the person was informed instead.

Delivery is at-least-once: the outbox row is keyed by the notice key and each channel
carries the key, so a gateway can drop the repeat a crash may cause (README, Notices).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.human_task import ProcessWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.cases import CaseActivities
    from activities.notifications import NotificationActivities
    from models.contracts import (
        DeliverNoticeInput,
        NoticeFailedInput,
        NoticeInput,
        NoticeResolution,
        NoticeResult,
        ProcessPolicy,
        StartCaseInput,
    )
    from models.processes import notice_delivery

# Permanent refusals: retrying cannot help, a person must act.
PERMANENT = ["NoticeRejected", "NoAddress", "NoticeTemplateError"]
# Longer than the webhook's own 10 s timeout, so a slow gateway is not sent twice.
DELIVERY_TIMEOUT = timedelta(seconds=20)
# Behind this patch a settled failed-notice item waits for the clerk's Update to finish
# before the workflow completes (before it, the Update could be cut off: release 0.5.0).
HANDLERS_FINISH_FIRST = "notice-handlers-finish-first"


@workflow.defn
class DeliverNoticeWorkflow(ProcessWorkflow):
    """One notice: deliver it, or hand its failure to a clerk until it is settled."""

    specs = notice_delivery.SPECS

    @workflow.init
    def __init__(self, inp: DeliverNoticeInput) -> None:
        self._setup(
            StartCaseInput(
                case_id=inp.notice.case_id or "",
                process=notice_delivery.PROCESS_KEY,
                veteran_id=0,
                started_by="system",
                policy=ProcessPolicy(name="notice", default=inp.policy),
            )
        )
        self._v2 = True

    @workflow.run
    async def run(self, inp: DeliverNoticeInput) -> NoticeResult:
        notice = inp.notice
        retry = RetryPolicy(
            initial_interval=timedelta(seconds=1),
            maximum_interval=inp.max_interval,
            maximum_attempts=max(1, inp.attempts),
            non_retryable_error_types=PERMANENT,
        )
        # Handed over by the outbox dispatcher, which used up the attempts already
        # (engine NOTICE_OUTBOX): straight to the work item.
        failed = inp.failed
        while True:
            if failed is not None:
                error_type, message = failed.error_type, failed.message
                failed = None
            else:
                try:
                    result: NoticeResult = await workflow.execute_activity_method(
                        NotificationActivities.send_notice,
                        notice,
                        start_to_close_timeout=DELIVERY_TIMEOUT,
                        retry_policy=retry,
                    )
                    return result
                except ActivityError as err:
                    cause = err.cause
                    error_type = (
                        (cause.type or "ApplicationError")
                        if isinstance(cause, ApplicationError)
                        else type(cause).__name__
                    )
                    message = str(
                        cause.message if isinstance(cause, ApplicationError) else cause
                    )
            await self._activity(
                NotificationActivities.mark_notice_failed,
                NoticeFailedInput(
                    key=notice.key, error_type=error_type, message=message
                ),
                step="deliver",
            )
            if not notice.case_id:
                return NoticeResult(key=notice.key, status="failed", channel="")
            if self._case is None:
                self._case = await self._activity(
                    CaseActivities.case_chain, notice.case_id, step="deliver"
                )
            step = (
                "notice_failed"
                if notice.recipient_type == "veteran"
                else "staff_notice_failed"
            )
            settled = await self.human_task(
                step,
                context={
                    "notice_key": notice.key,
                    "kind": notice.kind,
                    "recipient_type": notice.recipient_type,
                    "recipient": notice.recipient,
                    "error_type": error_type,
                    "error": message,
                },
            )
            await self._activity(
                NotificationActivities.resolve_failed_notice,
                NoticeResolution(
                    key=notice.key,
                    outcome=settled.outcome,
                    address=str(settled.data.get("address", "")),
                    note=str(settled.data.get("note", "")),
                    actor=settled.completed_by,
                ),
                step=step,
            )
            if settled.outcome != "resend":
                if workflow.patched(HANDLERS_FINISH_FIRST):
                    # The clerk's complete_task Update closes its task row after the
                    # result is set: let it finish, or its caller gets an error for
                    # an item that was settled.
                    await workflow.wait_condition(workflow.all_handlers_finished)
                return NoticeResult(key=notice.key, status="resolved", channel="")

    def _task_prefix(self) -> str:
        # Several notices of one case may fail: task ids follow this workflow's id.
        return workflow.info().workflow_id

    async def notify(self, notice: NoticeInput) -> None:
        """Notices about a failed-notice item are sent inline, a few tries at most, and
        never open another item (no cascade)."""
        try:
            await workflow.execute_activity_method(
                NotificationActivities.send_notice,
                notice,
                start_to_close_timeout=DELIVERY_TIMEOUT,
                retry_policy=RetryPolicy(
                    maximum_attempts=3, non_retryable_error_types=PERMANENT
                ),
            )
        except ActivityError:
            workflow.logger.warning("notice about a failed notice not delivered")
