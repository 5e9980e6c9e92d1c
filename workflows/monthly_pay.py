"""逐月领取退役金 月度发放: one county's payroll of one month, and the opener the
monthly Schedule starts.

Read against 000 §6.4.2 ("退役金发放时间一般为每月10日前。遇国家法定节假日，应当提前发放")
and 001 第十条 (the department pays the 退役金): finance staff prepare the month's list
of the county's veterans on monthly pay — each paid or held, a held one with its
reason — a leader who did not prepare it approves it two working days before the pay
date (双人复核: the engine refuses the preparer) or sends it back with reasons as a new
round, and finance staff confirm the payment on the pay date. Nothing is paid or held
by the system: the list, every hold and the approval are people's decisions.

``OpenMonthlyPayWorkflow`` opens the month's case of every county once: the case id
is the business key ``<prefix>monthly_pay-<county id>-<YYYY-MM>``, so a second trigger
of the Schedule, or a re-run, opens nothing twice.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from workflows.human_task import ProcessWorkflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.payroll import PayrollActivities
    from models.contracts import (
        CaseState,
        MonthlyPayOpened,
        OpenMonthlyPayInput,
        PayDates,
        PayDatesInput,
        PayrollCountiesInput,
        PayrollCounty,
        PayrollRoster,
        PayrollRosterInput,
        StartCaseInput,
        TaskResult,
    )
    from models.processes import monthly_pay
    from models.search_attributes import case_search_attributes

PREPARE, APPROVE, CONFIRM = "prepare_payroll", "approve_payroll", "confirm_payment"


@workflow.defn
class MonthlyPayWorkflow(ProcessWorkflow):
    """One county's monthly payroll: prepare, approve by another person, confirm."""

    specs = monthly_pay.SPECS

    @workflow.init
    def __init__(self, inp: StartCaseInput) -> None:
        self._setup(inp)

    @workflow.run
    async def run(self, inp: StartCaseInput) -> CaseState:
        start = _start_data(inp)
        due = monthly_pay.due_times(start, workflow.now(), inp.policy)
        case = await self.register_case()
        month = {
            "year": start.year,
            "month": start.month,
            "pay_date": start.pay_date.isoformat(),
        }
        reasons: list[str] = []
        while True:
            roster, prepared = await self._prepare(
                case.org_unit_id, month, due, reasons
            )
            approval = await self._approve(month, due, roster, prepared)
            if approval.outcome == "approved":
                break
            # Sent back: the list is prepared again, as a new round, with the reasons.
            reasons = [r for r in approval.data.get("reasons", []) if r]
            await self.set_status("returned")
        await self.set_status("approved")
        held = list(prepared.data.get("held", []))
        await self.human_task(
            CONFIRM,
            context={
                **month,
                "paid_count": len(roster.veterans) - len(held),
                "held_count": len(held),
                "approved_by": approval.completed_by,
            },
            due_at=due[CONFIRM],
        )
        await self.set_status("paid")
        return await self.close_case()

    async def _prepare(
        self,
        county_id: int,
        month: dict[str, Any],
        due: dict[str, datetime],
        reasons: list[str],
    ) -> tuple[PayrollRoster, TaskResult]:
        """编制发放名单: this round's list of the county's veterans on monthly pay, with
        their annual review as a hint; the preparer holds whom they must, with reasons."""
        roster: PayrollRoster = await self.run_activity(
            PayrollActivities.payroll_roster,
            PayrollRosterInput(
                org_unit_id=county_id,
                category=monthly_pay.CATEGORY,
                year=int(month["year"]),
            ),
            step=PREPARE,
        )
        self._bind_roster([e.veteran_id for e in roster.veterans])
        if not reasons:  # a returned list stays "returned" until prepared again
            await self.set_status("preparing")
        context: dict[str, Any] = {
            **month,
            "count": len(roster.veterans),
            "veterans": [e.model_dump(mode="json") for e in roster.veterans],
        }
        if reasons:
            context["returned_reasons"] = reasons
        prepared = await self.human_task(
            PREPARE,
            context=context,
            notice="review_returned" if reasons else "task_assigned",
            due_at=due[PREPARE],
        )
        return roster, prepared

    async def _approve(
        self,
        month: dict[str, Any],
        due: dict[str, datetime],
        roster: PayrollRoster,
        prepared: TaskResult,
    ) -> TaskResult:
        """审批发放名单 by a leader other than the preparer (four eyes), due two working
        days before the pay date; escalated when late."""
        entries = {e.veteran_id: e for e in roster.veterans}
        held = [
            {
                "veteran_id": h["veteran_id"],
                "name": entries[h["veteran_id"]].name
                if h["veteran_id"] in entries
                else "",
                "station": entries[h["veteran_id"]].station
                if h["veteran_id"] in entries
                else "",
                "reason": h["reason"],
            }
            for h in prepared.data.get("held", [])
        ]
        await self.set_status("awaiting_approval")
        return await self.human_task(
            APPROVE,
            context={
                **month,
                "count": len(roster.veterans),
                "paid_count": len(roster.veterans) - len(held),
                "held": held,
                "prepared_by": prepared.completed_by,
                "round": self._rounds.get(PREPARE, 1),
            },
            due_at=due[APPROVE],
        )

    def _bind_roster(self, roster: list[int]) -> None:
        """The preparer may hold only veterans on this round's list: the round's task
        carries the step form bound to it, so the validator refuses any other id."""
        form = monthly_pay.PreparePayrollForm.bound_to(roster)
        steps = tuple(
            s.model_copy(update={"form": form}) if s.key == PREPARE else s
            for s in self.spec.steps
        )
        self.spec = self.spec.model_copy(update={"steps": steps})


def _start_data(inp: StartCaseInput) -> monthly_pay.MonthlyPayStartForm:
    try:
        return monthly_pay.MonthlyPayStartForm.model_validate(inp.data)
    except ValidationError as err:
        raise ApplicationError(
            f"monthly_pay start data invalid: {err.error_count()} error(s)",
            type="InvalidStartData",
            non_retryable=True,
        ) from None


# --- the opener ----------------------------------------------------------------------

# Retries until the database answers (the opener starts nothing before it knows the
# counties); a day without an answer fails the run, visible in Temporal.
OPENER_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=60))


@workflow.defn
class OpenMonthlyPayWorkflow:
    """The monthly Schedule's action: open this month's payroll case of every county
    (Asia/Shanghai month unless the input names one), once."""

    @workflow.run
    async def run(self, inp: OpenMonthlyPayInput) -> MonthlyPayOpened:
        now = workflow.now().astimezone(monthly_pay.TZ)
        year, month = inp.year or now.year, inp.month or now.month
        if not (2000 <= year <= 2100 and 1 <= month <= 12):
            raise ApplicationError(
                f"no such month {year}-{month}", type="InvalidMonth", non_retryable=True
            )
        dates: PayDates = await workflow.execute_activity_method(
            PayrollActivities.pay_dates,
            PayDatesInput(year=year, month=month),
            start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=timedelta(hours=24),
            retry_policy=OPENER_RETRY,
        )
        counties: list[PayrollCounty] = await workflow.execute_activity_method(
            PayrollActivities.payroll_counties,
            PayrollCountiesInput(
                category=monthly_pay.CATEGORY,
                year=year,
                month=month,
                case_id_prefix=inp.case_id_prefix,
            ),
            start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=timedelta(hours=24),
            retry_policy=OPENER_RETRY,
        )
        if dates.warning:
            workflow.logger.warning(
                "pay date on weekends only", extra={"year": year, "month": month}
            )
        started = await asyncio.gather(
            *(self._open(inp, c, year, month, dates) for c in counties)
        )
        result = MonthlyPayOpened(year=year, month=month, pay_date=dates.pay_date)
        for county, new in zip(counties, started, strict=True):
            (result.opened if new else result.already_open).append(county.case_id)
        return result

    async def _open(
        self,
        inp: OpenMonthlyPayInput,
        county: PayrollCounty,
        year: int,
        month: int,
        dates: PayDates,
    ) -> bool:
        """Start one county's case; False when it exists already (open or closed)."""
        if county.case_exists:
            return False
        try:
            await workflow.start_child_workflow(
                MonthlyPayWorkflow.run,
                StartCaseInput(
                    case_id=county.case_id,
                    process=monthly_pay.PROCESS_KEY,
                    veteran_id=0,
                    org_unit_id=county.org_unit_id,
                    started_by=inp.opened_by,
                    data={
                        "year": year,
                        "month": month,
                        "pay_date": dates.pay_date,
                        "prepare_by": dates.prepare_by.isoformat(),
                        "approve_by": dates.approve_by.isoformat(),
                        "pay_by": dates.pay_by.isoformat(),
                    },
                    policy=inp.policy,
                    spec_version=monthly_pay.SPEC.version,
                ),
                id=county.case_id,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=case_search_attributes(
                    monthly_pay.PROCESS_KEY, county.org_path
                ),
            )
        except WorkflowAlreadyStartedError:
            return False  # opened by an earlier run: one case per county and month
        return True
