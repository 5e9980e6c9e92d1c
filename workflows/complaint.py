"""投诉 / 信访 / 差评 闭环: one complaint, from its registration to its close.

A bad rating or a window complaint runs the loop of 003 §9.2.1 — 问题核实 by the unit
that handled the service (谁办理、谁负责), 申诉复核 by the unit above when the unit finds
it 误评 or 恶意差评, 反馈整改 (a complex one with a new deadline the leader approves),
问题回访 (not satisfied: rectified again, counted as a reopen), 改进提升. A petition
runs the calendar-day clocks of 信访工作条例: 是否受理 within 15 days of receipt (第二十三条),
the 意见书 within 60 days of acceptance, one extension of at most 30 days with the
leader's approval (第三十四条), 复查 and 复核 on the petitioner's request within 30 days
(第三十五、三十六条), a 听证's time not counted. Any step overdue opens 督办 at the unit
above (第四十条). The complainant's identity never enters this workflow.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from workflows.human_task import (
    LEVELS_UP,
    OpenTask,
    ProcessWorkflow,
    reject,
    wait_until,
)

with workflow.unsafe.imports_passed_through():
    from models.complaint_contracts import (
        RECORD_COMPLAINT,
        ComplaintUpdate,
        PetitionRequestAccepted,
        PetitionRequestInput,
    )
    from models.contracts import (
        CaseState,
        CompleteTaskInput,
        StartCaseInput,
        TaskResult,
    )
    from models.process_spec import OUTCOME_LABELS
    from models.processes import complaint
    from models.processes.complaint import (
        CHANNEL_LABELS,
        GRADE_LABELS,
        MATTER_LABELS,
        PETITION_KIND_LABELS,
        ComplaintCaseData,
        PetitionRequest,
        calendar_due,
    )

# The relative levels of the complaint's steps: the handling unit, the unit above it,
# and the one above that (the top of the chain when there is none higher).
RELATIVE_LEVELS = {"handling": 0, "above": 1, "above2": 2}
REQUEST_WORDS = {"review": "复查", "recheck": "复核"}


@workflow.defn
class ComplaintWorkflow(ProcessWorkflow):
    """One complaint: a bad rating, a window complaint or a petition."""

    specs = complaint.SPECS

    @workflow.init
    def __init__(self, inp: StartCaseInput) -> None:
        self._setup(inp)
        self._data = ComplaintCaseData.model_validate(inp.data)
        self._awaiting: str | None = None
        self._request: PetitionRequest | None = None
        self._reopens = 0
        self._extended = False
        self._paused = timedelta(0)
        self._lines = 0

    @workflow.run
    async def run(self, inp: StartCaseInput) -> CaseState:
        await self.register_case()
        await self._record(
            "registered",
            channel=self._data.channel,
            kind=self._data.kind,
            category=self._data.category,
            org_unit_id=self._case.org_unit_id if self._case else None,
            received_on=self._data.received_on,
            grade=self._data.grade,
            rating_id=self._data.rating_id,
            matter_key=self._data.matter_key,
            related_case_id=self._data.related_case_id,
            line=f"登记: {CHANNEL_LABELS[self._data.channel]}",
        )
        if self._data.channel == "petition":
            outcome = await self._petition()
        else:
            outcome = await self._bad_review()
        await self.set_status(outcome)
        await self._record(
            outcome,
            closed_at=workflow.now(),
            final=outcome == "concluded" and self._reached_recheck(),
            line=f"办结: {complaint.STATUS_LABELS.get(outcome, outcome)}",
        )
        return await self.close_case()

    # --- 差评 / 窗口投诉: 003 §9.2.1 -------------------------------------------------

    async def _bad_review(self) -> str:
        ctx = self._context()
        await self.set_status("verifying")
        verify = await self._step("verify", ctx)
        if verify.outcome != "valid":
            # 误评 / 恶意差评: the unit above reviews the unit's appeal.
            await self.set_status("appeal")
            appeal = await self._step(
                "appeal_review",
                {
                    **ctx,
                    "finding": verify.outcome,
                    "facts": verify.data.get("facts", ""),
                },
            )
            if appeal.outcome == "appeal_upheld":
                await self._record(
                    "appeal_upheld",
                    rating_counted=False,
                    line=f"申诉成立，差评不计入: {appeal.data.get('opinion', '')}",
                )
                return "appeal_upheld"
            await self._record(
                "rectifying", line=f"申诉不成立: {appeal.data.get('opinion', '')}"
            )
        while True:
            await self._rectify(ctx)
            await self.set_status("follow_up")
            visit = await self._step("follow_up", {**ctx, "reopens": self._reopens})
            if visit.outcome == "satisfied":
                break
            # Not satisfied: rectified again (003 §7.4.2 再推动), counted as a reopen.
            self._reopens += 1
            await self._record(
                "reopened",
                reopens=self._reopens,
                line=f"回访不满意，重新整改: {visit.data.get('feedback', '')}",
            )
        await self.set_status("improving")
        improve = await self._step("improve", ctx)
        category = complaint.IMPROVEMENT_LABELS.get(
            str(improve.data.get("category", "")), ""
        )
        await self._record(
            "improving", line=f"改进提升({category}): {improve.data.get('measure', '')}"
        )
        return "concluded"

    async def _rectify(self, ctx: dict[str, Any]) -> TaskResult:
        """反馈整改: fixed or explained; a complex problem goes into the 台账 with a new
        deadline and the reason, and rectification runs to that deadline once the
        leader approves (refused: the policy's limit stands)."""
        await self.set_status("rectifying")
        due: datetime | None = None
        while True:
            fix = await self._step(
                "rectify", {**ctx, "reopens": self._reopens}, due_at=due
            )
            if fix.outcome != "complex":
                await self._record(
                    "rectified", line=f"整改: {fix.data.get('measures', '')}"
                )
                return fix
            new_deadline = str(fix.data.get("new_deadline", ""))
            await self.set_status("extension")
            await self._record(
                "extension",
                line=f"复杂问题列入台账，限期至 {new_deadline}: {fix.data.get('reason', '')}",
            )
            approval = await self._step(
                "rectify_extension",
                {**ctx, "new_deadline": new_deadline, "reason": fix.data.get("reason")},
            )
            await self.set_status("rectifying")
            if approval.outcome == "approved":
                due = calendar_due(datetime.fromisoformat(new_deadline).date(), 0)

    # --- 信访: 信访工作条例 --------------------------------------------------------

    async def _petition(self) -> str:
        ctx = self._context()
        await self.set_status("acceptance")
        decision = await self._step(
            "acceptance_decision",
            ctx,
            due_at=self._statutory_due("acceptance_decision", self._data.received_on),
        )
        notice = f"书面告知 {decision.data.get('notice_no', '')}"
        if decision.outcome == "transfer":
            await self._record(
                "transferred",
                line=f"{notice}: 转送{decision.data.get('transfer_to', '')}",
            )
            return "transferred"
        if decision.outcome == "not_acceptable":
            await self._record("not_accepted", line=f"{notice}: 不予受理")
            return "not_accepted"
        await self._record("handling", line=f"{notice}: 受理")
        await self.set_status("handling")
        opinion = await self._handling(ctx)
        await self._record(
            "replied",
            line=f"信访处理意见书 {opinion.data.get('document_no', '')}: "
            f"{complaint_word(opinion.outcome)}",
        )
        review_request = await self._await_request("review", "replied")
        if review_request is None:
            return "concluded"
        await self.set_status("review")
        review = await self._step(
            "review",
            {**ctx, **self._request_context(review_request), "opinion": opinion.data},
            due_at=self._statutory_due("review", review_request.received_on),
        )
        await self._record(
            "reviewed",
            line=f"复查意见书 {review.data.get('document_no', '')}: "
            f"{complaint_word(review.outcome)}",
        )
        recheck_request = await self._await_request("recheck", "reviewed")
        if recheck_request is None:
            return "concluded"
        await self._recheck(ctx, recheck_request, review)
        return "concluded"

    async def _handling(self, ctx: dict[str, Any]) -> TaskResult:
        """The 意见书 within 60 days of acceptance; one extension of at most 30 days
        with the leader's approval, the petitioner told why (第三十四条)."""
        today = workflow.now().astimezone(complaint.TZ).date()
        due = self._statutory_due("handling", today)
        while True:
            result = await self._step(
                "handling", {**ctx, "extended": self._extended}, due_at=due
            )
            if result.outcome != "request_extension":
                return result
            days = int(result.data.get("extension_days") or 0)
            reason = str(result.data.get("reason", ""))
            first_due = self._due_of(result)
            await self.set_status("extension")
            approval = await self._step(
                "handling_extension", {**ctx, "days": days, "reason": reason}
            )
            await self.set_status("handling")
            if approval.outcome == "approved":
                self._extended = True
                due = first_due + timedelta(days=days) if first_due else None
                await self._record(
                    "handling",
                    extended_days=days,
                    line=f"延期{days}日(负责人批准)，已书面告知信访人延期理由: {reason}",
                )
            else:
                due = first_due

    async def _recheck(
        self, ctx: dict[str, Any], request: PetitionRequest, review: TaskResult
    ) -> TaskResult:
        """复核 within 30 days; a 听证's time is not counted: the clock pauses while the
        hearing runs and the deadline moves by the paused span."""
        await self.set_status("recheck")
        due = self._statutory_due("recheck", request.received_on)
        while True:
            result = await self._step(
                "recheck",
                {
                    **ctx,
                    **self._request_context(request),
                    "review": review.data,
                    "paused_days": round(self._paused.total_seconds() / 86400, 2),
                },
                due_at=due,
            )
            if result.outcome != "hearing":
                await self._record(
                    "recheck",
                    final=True,
                    line=f"复核意见书 {result.data.get('document_no', '')}: "
                    f"{complaint_word(result.outcome)}; 同一事实和理由不再受理",
                )
                return result
            first_due = self._due_of(result)
            paused_from = workflow.now()
            await self.set_status("hearing")
            await self._record(
                "hearing",
                line=f"组织听证，复核期限暂停计算: {result.data.get('reason', '')}",
            )
            hearing = await self._step(
                "hearing", {**ctx, "reason": result.data.get("reason", "")}
            )
            span = workflow.now() - paused_from
            self._paused += span
            due = first_due + span if first_due else None
            await self.set_status("recheck")
            await self._record(
                "recheck",
                paused_seconds=int(self._paused.total_seconds()),
                line=f"听证结束({hearing.data.get('held_on', '')})，复核期限顺延至 "
                f"{_day(due)}",
            )

    async def _await_request(self, kind: str, status: str) -> PetitionRequest | None:
        """The petitioner may ask for 复查 / 复核 within 30 days of the opinion; staff
        record the request (``record_request``). None when the window passed.
        Awaiting from before the status is written: once a page shows the case as
        replied (or reviewed), a request recorded there is accepted."""
        self._request = None
        self._awaiting = kind
        await self.set_status(status)
        window = self._input.policy.timers.get("request_window", timedelta(days=30))
        got = await wait_until(lambda: self._request is not None, window)
        self._awaiting = None
        if not got or self._request is None:
            return None
        request = self._request
        await self._record(
            status,
            line=f"收到{REQUEST_WORDS[kind]}请求({request.received_on}): {request.reason}",
        )
        return request

    @workflow.update
    def record_request(self, inp: PetitionRequestInput) -> PetitionRequestAccepted:
        """Staff record the petitioner's request for 复查 or 复核."""
        self._request = inp.request
        return PetitionRequestAccepted(
            case_id=self._input.case_id, kind=inp.request.kind
        )

    @record_request.validator
    def validate_record_request(self, inp: PetitionRequestInput) -> None:
        kind = inp.request.kind
        if self._awaiting != kind or self._request is not None:
            raise reject(
                "NotAwaitingRequest",
                f"本案当前不在{REQUEST_WORDS[kind]}请求期内 (not awaiting a {kind} request)",
                awaiting=self._awaiting,
            )
        path = self._case.org_path if self._case else "/"
        actor = inp.actor
        staff = any(r.endswith("_staff") for r in actor.roles) or {
            "manager",
            "admin",
        }.intersection(actor.roles)
        if not staff or not actor.within(path) or self._recused(actor.username):
            raise reject("NotAuthorized", "只有办理单位或其上级的工作人员可以登记请求")

    # --- the engine's hooks -------------------------------------------------------

    def unit_for(self, level: str) -> tuple[int, str, str]:
        """``handling``, ``above`` and ``above2`` count up from the case's own unit (the
        handling unit); the other levels are the engine's."""
        steps_up = RELATIVE_LEVELS.get(level)
        if steps_up is None or self._case is None:
            return super().unit_for(level)
        chain = self._case.chain
        home = next(
            (lvl for lvl, uid in chain.units.items() if uid == self._case.org_unit_id),
            "village",
        )
        present = [
            lvl for lvl in LEVELS_UP[LEVELS_UP.index(home) :] if lvl in chain.units
        ]
        lvl = present[min(steps_up, len(present) - 1)]
        return chain.units[lvl], chain.paths[lvl], lvl

    def _recused_users(self) -> list[str]:
        return list(self._data.recused)

    def _check_outcome(self, task: OpenTask, inp: CompleteTaskInput) -> None:
        if (
            task.spec.key == "handling"
            and inp.outcome == "request_extension"
            and self._extended
        ):
            raise reject(
                "InvalidOutcome",
                "已延期一次，不得再次延期 (信访工作条例 第三十四条: one extension)",
                errors=[{"loc": ["outcome"], "msg": "already extended once"}],
            )

    # --- helpers ------------------------------------------------------------------

    async def _step(
        self,
        key: str,
        context: dict[str, Any],
        due_at: datetime | None = None,
    ) -> TaskResult:
        """A step; once it is overdue, 督办 opens at the unit above (第四十条) until the
        step is done."""
        main = asyncio.ensure_future(
            self.human_task(key, context=context, due_at=due_at)
        )
        await workflow.wait_condition(lambda: main.done() or self._overdue(key))
        if not main.done():
            await self.human_task_until(
                "supervise",
                main.done,
                context={
                    **self._context(),
                    "overdue_step": self.spec.step(key).title,
                    "due_at": _iso(self._open_due(key)),
                },
            )
        return await main

    def _overdue(self, key: str) -> bool:
        view = self.open_task_of(key)
        return view is not None and view.overdue

    def _open_due(self, key: str) -> datetime | None:
        view = self.open_task_of(key)
        return view.due_at if view is not None else None

    def _due_of(self, result: TaskResult) -> datetime | None:
        task = self._tasks.get(result.task_id)
        return task.view.due_at if task is not None else None

    def _statutory_due(self, step: str, start: Any) -> datetime | None:
        """A calendar-day limit counted from ``start`` (receipt, acceptance, request);
        None under a profile that gives the step a plain span (demo, tests)."""
        days = self._input.policy.for_step(step).calendar_days
        return calendar_due(start, days) if days is not None else None

    def _reached_recheck(self) -> bool:
        return self.result_of("recheck") is not None

    def _context(self) -> dict[str, Any]:
        """What every step shows: the complaint, never who made it."""
        d = self._data
        ctx: dict[str, Any] = {
            "channel": CHANNEL_LABELS[d.channel],
            "category": MATTER_LABELS.get(d.category, d.category),
            "matter": d.matter,
            "received_on": d.received_on.isoformat(),
        }
        if d.kind:
            ctx["kind"] = PETITION_KIND_LABELS[d.kind]
        if d.grade:
            ctx["grade"] = GRADE_LABELS[d.grade]
            ctx["rated_step"] = d.rated_step_title
            ctx["rated_clerk"] = d.rated_clerk
        if d.related_case_id:
            ctx["related_case_id"] = d.related_case_id
        if d.visitors > 1:
            ctx["visitors"] = d.visitors
        return ctx

    @staticmethod
    def _request_context(request: PetitionRequest) -> dict[str, Any]:
        return {
            "request_received_on": request.received_on.isoformat(),
            "request_reason": request.reason,
        }

    async def _record(self, stage: str, *, line: str = "", **fields: Any) -> None:
        """Write the complaint projection (stage, counters, a 台账 line)."""
        ledger = None
        if line:
            self._lines += 1
            ledger = {
                "key": f"{self._lines}",
                "at": workflow.now().isoformat(),
                "stage": stage,
                "text": line,
            }
        counted = fields.pop("rating_counted", None)
        await self.run_activity(
            RECORD_COMPLAINT,
            ComplaintUpdate(
                case_id=self._input.case_id,
                stage=stage,
                ledger_line=ledger,
                rating_counted=counted,
                at=workflow.now(),
                **fields,
            ),
            step="complaint_record",
        )


def complaint_word(outcome: str) -> str:
    return OUTCOME_LABELS.get(outcome, outcome)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _day(value: datetime | None) -> str:
    return value.astimezone(complaint.TZ).strftime("%Y-%m-%d %H:%M") if value else "—"
