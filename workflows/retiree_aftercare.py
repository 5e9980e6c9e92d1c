"""军休干部逝世善后: a retired cadre's death, from the report to the archive.

Read against 004 §6.10 and 军人抚恤优待条例 第十五–十八条 (domain.md §4): the 军休机构
reports to the bureau at once (及时); then, in parallel and at once, the pension and
护理费 stop from the month after the death with any overpayment recovered (or offset, or
waived with a leader's approval), the condolence visit, the obituary and life summary
approved, the flag covering when the deceased wished it or the family applied (approved
before the farewell, or the leader hears), and the survivors determined (第十八条);
then the benefits — claim, computed by formula from the reference tables, reviewed,
approved by a leader who did not review it, paid; each survivor on the living allowance
gets a workflow of their own with a yearly confirmation; finally the card recall and the
archive closure. ``RetireeLostContactWorkflow``: a cadre out of contact six months (004
§6.4.2.4) — pay suspended, investigated, reported upward; a confirmed death starts the
aftercare case.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from workflows.human_task import ProcessWorkflow

with workflow.unsafe.imports_passed_through():
    from models.aftercare_benefit import (
        CAUSE_LABELS,
        HONOUR_LABELS,
        BenefitQuote,
        BenefitQuoteInput,
        months_overpaid,
        overpayment,
    )
    from models.aftercare_contracts import (
        AftercareRecordInput,
        BenefitPlanInput,
        BenefitPlanResult,
        SurvivorAllowanceInput,
        SurvivorAllowanceRecord,
        SurvivorAllowanceResult,
    )
    from models.contracts import SHANGHAI, CaseState, StartCaseInput, TaskResult
    from models.processes import retiree_aftercare
    from models.processes.retiree_aftercare import (
        RELATION_LABELS,
        Survivor,
        survivor_defects,
    )
    from models.search_attributes import case_search_attributes


@workflow.defn
class RetireeAftercareWorkflow(ProcessWorkflow):
    """One retired cadre's death and aftercare."""

    specs = retiree_aftercare.SPECS

    @workflow.init
    def __init__(self, inp: StartCaseInput) -> None:
        self._setup(inp)
        self._died_on = date.fromisoformat(str(inp.data["died_on"]))
        self._cause = str(inp.data["cause"])
        self._overpayment = Decimal("0.00")
        self._recovery = ""
        self._survivors: list[Survivor] = []

    @workflow.run
    async def run(self, inp: StartCaseInput) -> CaseState:
        await self.register_case()
        await self.set_status("reported")
        await self.human_task("report_to_bureau", context=self._death_summary())
        await self.set_status("in_progress")
        # The urgent work, all at once (004 §6.10).
        offset, _, _, _, survivors = await asyncio.gather(
            self._stop_pension(),
            self.human_task("condolence_visit", context=self._death_summary()),
            self._obituary(),
            self._flag_covering(),
            self._determine_survivors(),
        )
        await self.set_status("benefits")
        quote = await self._benefits(offset, survivors)
        await self._start_allowances(survivors, quote)
        await self.set_status("closing")
        await self.human_task("card_recall")
        await self.human_task("archive_closure")
        return await self.close_case()

    def _death_summary(self) -> dict[str, Any]:
        return {
            "died_on": self._died_on.isoformat(),
            "cause": self._cause,
            "cause_label": CAUSE_LABELS.get(self._cause, self._cause),
            "place": self._input.data.get("place", ""),
            "reported_by": self._input.data.get("reported_by", ""),
            "reporter_relation": self._input.data.get("reporter_relation", ""),
        }

    # --- the pension stops (004 §6.3.2.6) --------------------------------------------

    async def _stop_pension(self) -> Decimal:
        """Stop from the month after the death; the overpayment recovered, offset
        against the benefits (the amount returned), or waived with approval."""
        stop = await self.human_task(
            "stop_pension",
            context={**self._death_summary(), "stops_from": _next_month(self._died_on)},
        )
        paid_through = date.fromisoformat(str(stop.data["paid_through"]))
        amount = overpayment(
            self._died_on,
            paid_through,
            Decimal(str(stop.data["monthly_pension"])),
            Decimal(str(stop.data.get("nursing_fee", "0"))),
        )
        self._overpayment = amount
        await self._record("pension_stopped")
        if amount <= 0:
            await self.skip_step("recover_overpayment", "无多发的离退休费")
            return Decimal("0.00")
        context: dict[str, Any] = {
            "amount": str(amount),
            "months": months_overpaid(self._died_on, paid_through),
            "paid_through": paid_through.isoformat(),
        }
        while True:
            recovery = await self.human_task("recover_overpayment", context=context)
            if recovery.outcome == "waived":
                approval = await self.human_task(
                    "waiver_approval",
                    context={
                        **context,
                        "reason": recovery.data.get("waiver_reason", ""),
                    },
                )
                if approval.outcome != "approved":
                    context = {
                        **context,
                        "returned_reasons": [str(approval.data.get("reason", ""))],
                    }
                    continue
            self._recovery = recovery.outcome
            await self._record("overpayment_settled")
            return amount if recovery.outcome == "offset" else Decimal("0.00")

    # --- the obituary and the flag (004 §6.10) ---------------------------------------

    async def _obituary(self) -> None:
        context: dict[str, Any] = self._death_summary()
        while True:
            draft = await self.human_task("obituary", context=context)
            review = await self.human_task(
                "obituary_approval", context={"obituary_task": draft.task_id}
            )
            if review.outcome == "approve":
                return
            defects = list(review.data.get("defects", []))
            context = {**context, "defects": defects, "returned_reasons": defects}

    async def _flag_covering(self) -> None:
        """Only on the deceased's wish or the family's application; decided before
        the farewell — due at noon the day before, then the leader hears."""
        data = self._input.data
        if not data.get("flag_covering_requested"):
            await self.skip_step("flag_covering", "本人无遗愿、家属未申请")
            return
        farewell = date.fromisoformat(str(data["farewell_on"]))
        policy = self._input.policy.for_step("flag_covering")
        due_at = (
            None
            if policy.duration is not None  # the demo and test profiles
            else datetime.combine(farewell - timedelta(days=1), time(12), SHANGHAI)
        )
        await self.human_task(
            "flag_covering",
            context={
                "basis": data.get("flag_basis", ""),
                "farewell_on": farewell.isoformat(),
            },
            due_at=due_at,
        )

    # --- the survivors (第十八条) ------------------------------------------------------

    async def _determine_survivors(self) -> list[Survivor]:
        context: dict[str, Any] = {"died_on": self._died_on.isoformat()}
        while True:
            result = await self.human_task("survivor_determination", context=context)
            survivors = [Survivor.model_validate(s) for s in result.data["survivors"]]
            defects = survivor_defects(survivors, self._died_on)
            if not defects:
                self._survivors = survivors
                await self._record("survivors_determined")
                return survivors
            context = {**context, "defects": defects, "returned_reasons": defects}

    # --- the benefits (第十五、十六条) ---------------------------------------------------

    async def _benefits(
        self, offset: Decimal, survivors: list[Survivor]
    ) -> BenefitQuote:
        eligible = sum(1 for s in survivors if s.allowance_eligible)
        claim_context: dict[str, Any] = {
            **self._death_summary(),
            "overpayment_offset": str(offset),
            "survivors": [_survivor_line(s) for s in survivors],
        }
        while True:
            claim = await self.human_task("benefit_claim", context=claim_context)
            plan = BenefitPlanResult.model_validate(
                await self.run_activity(
                    "plan_aftercare_benefits",
                    BenefitPlanInput(
                        case_id=self._input.case_id,
                        round=self._rounds.get("benefit_claim", 1),
                        quote=BenefitQuoteInput(
                            cause=self._cause,
                            death_date=self._died_on,
                            monthly_base_pay=Decimal(
                                str(claim.data["monthly_base_pay"])
                            ),
                            honours=list(claim.data.get("honours", [])),
                        ),
                        overpayment_offset=offset,
                        eligible_survivors=eligible,
                        at=workflow.now(),
                    ),
                    step="benefit_plan",
                )
            )
            if plan.quote is None:
                # A reference figure is missing: named, never guessed; the claim waits
                # for an admin to add it and is sent again.
                claim_context = {
                    **claim_context,
                    "defects": plan.missing,
                    "returned_reasons": plan.missing,
                }
                continue
            quote = plan.quote
            review_context = {
                **self._death_summary(),
                "claim_task": claim.task_id,
                **_quote_summary(quote),
            }
            while True:
                if self._status != "benefits":  # back from the approval
                    await self.set_status("benefits")
                review = await self.human_task("benefit_review", context=review_context)
                if review.outcome == "return_for_correction":
                    defects = list(review.data.get("defects", []))
                    claim_context = {
                        **claim_context,
                        "defects": defects,
                        "returned_reasons": defects,
                    }
                    break
                await self.set_status("benefits_approval")
                approval = await self.human_task(
                    "benefit_approval",
                    context={
                        **review_context,
                        "reviewed_by": review.completed_by,
                    },
                )
                if approval.outcome == "approved":
                    payment = await self.human_task(
                        "benefit_payment",
                        context={"total": str(quote.total), **_quote_summary(quote)},
                    )
                    await self._record(
                        "benefits_paid",
                        benefit_total=quote.total,
                        paid_reference=str(payment.data.get("payment_reference", "")),
                    )
                    await self.set_status("benefits_paid")
                    return quote
                review_context = {
                    **review_context,
                    "returned_reasons": [str(approval.data.get("reason", ""))],
                }

    async def _start_allowances(
        self, survivors: list[Survivor], quote: BenefitQuote
    ) -> None:
        """One allowance workflow per eligible survivor: it outlives the case."""
        monthly = quote.survivor_allowance_monthly
        if monthly is None or self._case is None:
            return
        for n, survivor in enumerate(survivors, start=1):
            if not survivor.allowance_eligible:
                continue
            try:
                await workflow.start_child_workflow(
                    SurvivorAllowanceWorkflow.run,
                    SurvivorAllowanceInput(
                        case=self._input,
                        registered=self._case,
                        n=n,
                        survivor=survivor,
                        monthly=monthly,
                        starts_on=date.fromisoformat(_next_month(self._died_on)),
                        origin=workflow.now(),
                        first_handler=dict(self._first_handler),
                    ),
                    id=retiree_aftercare.survivor_id(self._input.case_id, n),
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                )
            except WorkflowAlreadyStartedError:
                pass

    async def _record(self, stage: str, **fields: Any) -> None:
        await self.run_activity(
            "record_aftercare",
            AftercareRecordInput(
                case_id=self._input.case_id,
                veteran_id=self._input.veteran_id,
                stage=stage,
                died_on=self._died_on,
                cause=self._cause,
                overpayment=self._overpayment,
                recovery=self._recovery,
                survivors=self._survivors,
                at=workflow.now(),
                **fields,
            ),
            step="aftercare_record",
        )


@workflow.defn
class SurvivorAllowanceWorkflow(ProcessWorkflow):
    """遗属生活补助 of one survivor: a confirmation every year (still alive, still
    eligible); not confirmed by the task's due time, or no longer eligible, the
    allowance stops. Continues as new every ``allowance_rollover_years``."""

    specs = retiree_aftercare.SPECS

    @workflow.init
    def __init__(self, inp: SurvivorAllowanceInput) -> None:
        self._setup_phase(inp.case, inp.registered, inp.rounds, inp.first_handler)
        self._status = "active"
        self._lapsed = False

    def _task_prefix(self) -> str:
        # Several survivors of one case: task ids follow this workflow's id.
        return workflow.info().workflow_id

    @workflow.run
    async def run(self, inp: SurvivorAllowanceInput) -> SurvivorAllowanceResult:
        year = self._input.policy.timers.get("allowance_year", timedelta(days=365))
        rollover = max(1, self._input.policy.counts.get("allowance_rollover_years", 5))
        confirmed = inp.years_confirmed
        if inp.runs == 1 and confirmed == 0:
            await self._record(inp, "active", confirmed, workflow.now() + year)
        for _ in range(rollover):
            await workflow.sleep(year)
            result = await self._confirm_year(inp, confirmed + 1)
            if result is None or result.outcome != "confirmed":
                reason = (
                    "逾期未确认"
                    if result is None
                    else str(result.data.get("reason", ""))
                )
                await self._record(inp, "stopped", confirmed, None, reason)
                await workflow.wait_condition(workflow.all_handlers_finished)
                return SurvivorAllowanceResult(
                    status="stopped", years_confirmed=confirmed, stopped_reason=reason
                )
            confirmed += 1
            await self._record(inp, "active", confirmed, workflow.now() + year)
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            inp.model_copy(
                update={
                    "years_confirmed": confirmed,
                    "rounds": dict(self._rounds),
                    "first_handler": dict(self._first_handler),
                    "runs": inp.runs + 1,
                }
            )
        )

    async def _confirm_year(
        self, inp: SurvivorAllowanceInput, year: int
    ) -> TaskResult | None:
        """The year's confirmation; None when it was not given by the task's due
        time: the task is escalated as overdue there like any task (its first rung
        is at the due time: the supervisor hears that the confirmation was missed),
        then withdrawn. Waiting for the escalation rather than a timer of its own
        keeps the order fixed: a timer racing the ladder's would tell the supervisor
        in some cases and not in others."""
        self._lapsed = False
        confirmation = asyncio.ensure_future(
            self.human_task_until(
                "allowance_confirmation",
                lambda: self._lapsed,
                context={
                    "survivor": _survivor_line(inp.survivor),
                    "year": year,
                    "monthly": str(inp.monthly),
                },
            )
        )
        await workflow.wait_condition(lambda: confirmation.done() or self._overdue())
        self._lapsed = not confirmation.done()
        return await confirmation

    def _overdue(self) -> bool:
        view = self.open_task_of("allowance_confirmation")
        return view is not None and view.overdue

    async def _record(
        self,
        inp: SurvivorAllowanceInput,
        status: str,
        confirmed: int,
        next_at: datetime | None,
        reason: str = "",
    ) -> None:
        await self.run_activity(
            "record_survivor_allowance",
            SurvivorAllowanceRecord(
                case_id=self._input.case_id,
                n=inp.n,
                name=inp.survivor.name,
                id_number=inp.survivor.id_number,
                relation=inp.survivor.relation,
                monthly=inp.monthly,
                starts_on=inp.starts_on,
                status=status,
                next_confirmation_at=next_at,
                stopped_reason=reason,
                years_confirmed=confirmed,
                at=workflow.now(),
            ),
            step="allowance_record",
        )


@workflow.defn
class RetireeLostContactWorkflow(ProcessWorkflow):
    """失联 (004 §6.4.2.4): pay suspended, investigated until found or a death is
    confirmed (each round reported upward); found: pay resumed; died: the aftercare
    case starts from the investigation's death report."""

    specs = retiree_aftercare.LOST_CONTACT_SPECS

    @workflow.init
    def __init__(self, inp: StartCaseInput) -> None:
        self._setup(inp)

    @workflow.run
    async def run(self, inp: StartCaseInput) -> CaseState:
        case = await self.register_case()
        await self.human_task("suspend_pay", context=dict(inp.data))
        await self.set_status("suspended")
        # Investigated until found or the death confirmed; each round reported upward.
        await self.set_status("investigating")
        while True:
            finding = await self.human_task("investigate", context=dict(inp.data))
            await self.human_task(
                "report_upward",
                context={"finding": finding.outcome, **finding.data},
            )
            if finding.outcome == "found":
                await self.set_status("found")
                await self.human_task("resume_pay")
                break
            if finding.outcome == "died":
                await self.set_status("died")
                await self._start_aftercare(finding.data, case.org_path)
                break
        return await self.close_case()

    def _investigator(self) -> str:
        done = self.result_of("investigate")
        return done.completed_by if done else self._input.started_by

    async def _start_aftercare(self, report: dict[str, Any], org_path: str) -> None:
        prefix = self._input.case_id[: self._input.case_id.index(self.spec.key)]
        spec = retiree_aftercare.SPEC
        case_id = f"{prefix}{spec.key}-v{self._input.veteran_id}"
        try:
            await workflow.start_child_workflow(
                RetireeAftercareWorkflow.run,
                StartCaseInput(
                    case_id=case_id,
                    process=spec.key,
                    veteran_id=self._input.veteran_id,
                    started_by=self._investigator(),
                    data={
                        "died_on": report["died_on"],
                        "cause": report["cause"],
                        "place": report["place"],
                        "reported_by": "失联调查",
                        "reporter_relation": "军休机构",
                    },
                    # One policy serves both processes (their step keys differ).
                    policy=self._input.policy,
                    spec_version=spec.version,
                ),
                id=case_id,
                search_attributes=case_search_attributes(
                    spec.key, org_path, self._input.veteran_id
                ),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                # As the API starts it: once per veteran, unless a run failed.
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("aftercare already started")


def _next_month(day: date) -> str:
    """The first day of the month after ``day``."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, 1).isoformat()


def _survivor_line(s: Survivor) -> dict[str, Any]:
    """A survivor as a task shows them: the ID number stays in the determination
    task (masked unless the role unmasks), not repeated in later contexts."""
    return {
        "name": s.name,
        "relation": s.relation,
        "relation_label": RELATION_LABELS.get(s.relation, s.relation),
        "born_on": s.born_on.isoformat(),
        "allowance_eligible": s.allowance_eligible,
    }


def _quote_summary(quote: BenefitQuote) -> dict[str, Any]:
    lump = quote.lump_sum
    return {
        "total": str(quote.total),
        "funeral_grant": str(quote.funeral_grant),
        "lump_sum": str(lump.amount),
        "income_year": lump.income_year,
        "income": str(lump.income),
        "income_multiplier": lump.income_multiplier,
        "base_pay_used": str(lump.base_pay_used),
        "floor_applied": lump.floor_applied,
        "subtotal": str(lump.subtotal),
        "honour": lump.honour,
        "honour_label": HONOUR_LABELS.get(lump.honour or "", ""),
        "increment_rate": str(lump.increment_rate),
        "overpayment_offset": str(quote.overpayment_offset),
        "survivor_allowance_monthly": (
            str(quote.survivor_allowance_monthly)
            if quote.survivor_allowance_monthly is not None
            else None
        ),
        "rule_text": lump.rule_text,
    }
