"""逐月领取退役金退役军人 年度登记审核: one veteran's review of one year.

Read against 001 第九条 (000 §6.3): the veteran reports 参加党组织生活, 参加社团, 出入境
and 奖惩情况 — online through a signed link, or a station clerk submits for them
(帮办); for a party member the party organisation's 评定意见 is a reference (001
第六条) the review does not wait for past its deadline; the county centre's review
passes (treatment continues, a 台账 line for the year: 001 第八条), sends the report
back for correction with every defect at once (一次性告知, 003 §7.6) as a new round, or
finds 苗头性问题 and holds an interview (约谈提醒) before reviewing again.

Reminders go to a veteran who has not reported before the window's end (31 March);
at its end the report is marked overdue and a person decides: extend with a date,
interview, or record non-submission. Nothing suspends pay: no source authorises it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from workflows.human_task import ProcessWorkflow, wait_until

with workflow.unsafe.imports_passed_through():
    from models.contracts import CaseState, LedgerInput, StartCaseInput, TaskResult
    from models.processes import annual_review

REPORT = "submit_report"


@workflow.defn
class AnnualReviewWorkflow(ProcessWorkflow):
    """One veteran's annual registration review, opened by the year's campaign."""

    specs = annual_review.SPECS

    @workflow.init
    def __init__(self, inp: StartCaseInput) -> None:
        self._setup(inp)
        self._year = int(inp.data["year"])
        self._window_end = datetime.fromisoformat(str(inp.data["window_end"]))
        self._closing = False
        self._give_up_report = False
        self._party: TaskResult | None = None

    @workflow.run
    async def run(self, inp: StartCaseInput) -> CaseState:
        case = await self.register_case()
        party = (
            asyncio.ensure_future(self._party_opinion()) if case.party_member else None
        )
        context: dict[str, Any] = {}
        result = "non_submission"
        while True:
            report = await self._collect_report(context)
            if report is None:
                break
            await self.set_status("submitted")
            if party is not None:
                await self._wait_for_party_opinion(party)
            review = await self._review(report)
            if review.outcome == "pass":
                result = "passed"
                break
            # 未通过: every defect told at once, and the report goes back as a new round.
            context = {"defects": list(review.data.get("defects", []))}
        self._closing = True
        if party is not None:
            await party
        await self.run_activity(
            "record_ledger",
            LedgerInput(
                veteran_id=inp.veteran_id,
                year=self._year,
                result=result,
                case_id=inp.case_id,
                rounds=self._rounds.get(REPORT, 1),
                recorded_by=self._decider(result),
                at=workflow.now(),
            ),
            step="ledger",
        )
        await self.set_status("passed" if result == "passed" else "not_submitted")
        return await self.close_case()

    # --- the report ---------------------------------------------------------------

    async def _collect_report(self, context: dict[str, Any]) -> TaskResult | None:
        """One round of the report: the link to the veteran, reminders before the
        window's end (round 1), and a person's decision once it is overdue. None when
        non-submission was recorded."""
        first = REPORT not in self._rounds
        await self.set_status("awaiting_submission" if first else "in_correction")
        self._give_up_report = False
        submission = asyncio.ensure_future(
            self.human_task_until(
                REPORT,
                lambda: self._give_up_report,
                context=context,
                due_at=self._window_end if first else None,
            )
        )
        await workflow.wait_condition(lambda: self.open_task_of(REPORT) is not None)
        round_no = self._rounds[REPORT]
        template = "annual_review_link" if first else "annual_review_correction"
        await self._send_link(template, f"link{round_no}", context)
        if first:
            await self._remind_until_window_end(submission, round_no)
        else:
            # Wait for the task's own due time (its row has it once opened).
            await workflow.wait_condition(
                lambda: submission.done() or self._report_due() is not None
            )
            due = self._report_due()
            if due is not None:
                await wait_until(submission.done, due - workflow.now())
        if submission.done():
            return await submission
        return await self._decide_non_submission(submission)

    async def _remind_until_window_end(
        self, submission: asyncio.Future[TaskResult | None], round_no: int
    ) -> None:
        offsets = sorted(self._input.policy.reminder_offsets, reverse=True)
        for i, offset in enumerate(offsets, start=1):
            at = self._window_end - offset
            if at <= workflow.now():
                continue
            if await wait_until(submission.done, at - workflow.now()):
                return
            await self._send_link("annual_review_reminder", f"remind{round_no}-{i}", {})
        await wait_until(submission.done, self._window_end - workflow.now())

    async def _decide_non_submission(
        self, submission: asyncio.Future[TaskResult | None]
    ) -> TaskResult | None:
        """Overdue: a person decides — extend with a date, interview, or record
        non-submission. A report that arrives meanwhile withdraws the decision."""
        await self.set_status("overdue")
        while True:
            decision = await self.human_task_until(
                "non_submission",
                submission.done,
                context={
                    "round": self._rounds[REPORT],
                    "due_at": _iso(self._report_due()),
                },
            )
            if decision is None:
                return await submission
            if decision.outcome == "extend":
                until = _end_of_day(str(decision.data["extend_until"]))
                self.move_deadline(REPORT, until)
                await self.set_status("awaiting_submission")
                await wait_until(submission.done, until - workflow.now())
            elif decision.outcome == "interview":
                await self.set_status("interview")
                await self.human_task(
                    "interview",
                    context={"concerns": decision.data.get("reason", "")},
                )
            else:  # record_non_submission
                self._give_up_report = True
                return await submission
            if submission.done():
                return await submission
            await self.set_status("overdue")

    async def _send_link(
        self, template: str, key: str, context: dict[str, Any]
    ) -> None:
        """A fresh signed link to the open round, in a notice to the veteran."""
        view = self.open_task_of(REPORT)
        if view is None:
            return
        ttl = self._input.policy.timers.get("link_ttl", timedelta(days=30))
        expires_at = workflow.now() + ttl
        link = await self.run_activity(
            "issue_self_link",
            {
                "case_id": self._input.case_id,
                "task_id": view.task_id,
                "round": self._rounds[REPORT],
                "veteran_id": self._input.veteran_id,
                "expires_at": expires_at.isoformat(),
            },
            step=REPORT,
        )
        await self.notify_veteran(
            template,
            template,
            key,
            {
                "year": self._year,
                "link": link,
                "expires_at": expires_at.isoformat(),
                "round": self._rounds[REPORT],
                "window_end": self._window_end.isoformat(),
                "defects": list(context.get("defects", [])),
            },
        )

    def _report_due(self) -> datetime | None:
        view = self.open_task_of(REPORT)
        return view.due_at if view is not None else None

    # --- the review ---------------------------------------------------------------

    async def _party_opinion(self) -> None:
        self._party = await self.human_task_until(
            "party_opinion", lambda: self._closing
        )

    async def _wait_for_party_opinion(self, party: asyncio.Future[None]) -> None:
        """A reference, not a gate: once the report is in, the review waits for the
        opinion at most the policy's ``party_opinion_wait``."""
        wait = self._input.policy.timers.get("party_opinion_wait", timedelta(0))
        await wait_until(party.done, wait)

    async def _review(self, report: TaskResult) -> TaskResult:
        """年度登记审核 until pass or correct; an interview (苗头性问题) comes first
        when the reviewer finds one, then the report is reviewed again."""
        while True:
            review = await self.human_task(
                "county_review",
                context={
                    **annual_review.report_summary(report.task_id, report.data),
                    "year": self._year,
                    "round": self._rounds[REPORT],
                    "submitted_by": report.completed_by,
                    "party_opinion": self._party.data if self._party else None,
                },
            )
            if review.outcome != "interview":
                return review
            await self.set_status("interview")
            await self.human_task(
                "interview", context={"concerns": review.data.get("concerns", "")}
            )
            await self.set_status("submitted")

    def _decider(self, result: str) -> str:
        step = "county_review" if result == "passed" else "non_submission"
        done = self.result_of(step)
        return done.completed_by if done else "system"


def _end_of_day(day: str) -> datetime:
    """The end of a date in Asia/Shanghai (an extension runs to that day's end)."""
    start = datetime.fromisoformat(day).replace(tzinfo=annual_review.TZ)
    return start + timedelta(days=1)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
