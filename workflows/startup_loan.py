"""退役军人创业贷款及贴息: one loan, from the business idea to the subsidy paid.

Read against 003 §6.3.2.3–6.3.2.8 and domain.md §3: the station registers the demand
(创业需求登记); the county takes the application with the veteran's separate consent to
share data with the bank; eligibility is checked automatically against the policy
version effective on the application date, every failing rule told at once (一次性告知);
the county verifies identity and subject and pushes the application to the bank (名单
推送); the bank answers by a signed callback — or a clerk records its decision; a
rejection is referred to another bank or to 创业指导. While the loan runs, its
repayment phase (a child workflow that continues as new) opens 贷后回访 every few
months until maturity or early repayment. After repayment (003 §6.3.2.7) the repayment
record is entered, the subsidy eligibility reviewed, the subsidy computed to the fen,
approved by a leader who did not prepare it (four-eyes), paid, and the veteran told;
then the optional employment reward (003 §6.3.2.8).
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.human_task import ProcessWorkflow, reject, wait_until

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from models.contracts import (
        SHANGHAI,
        CaseState,
        ProcessPolicy,
        StartCaseInput,
        TaskResult,
    )
    from models.loan_contracts import (
        BankEvent,
        BankPushInput,
        BankPushResult,
        LoanPolicyInput,
        LoanRecordInput,
        LoanTerms,
        ServicingInput,
        ServicingResult,
        SubsidyPlanInput,
    )
    from models.loan_policy import (
        LOAN_TYPE_LABELS,
        Failure,
        LoanPolicy,
        check_eligibility,
    )
    from models.loan_subsidy import QuoteInput, Repayment, SubsidyQuote, add_months
    from models.processes import startup_loan
    from models.processes.startup_loan import (
        BankDecision,
        check_decision,
        employment_reward,
    )

DECISIONS = ("approved", "rejected")
LOAN_ENDS = ("early_repayment", "repaid")


def month_point(
    policy: ProcessPolicy, terms: LoanTerms, origin: datetime, months: int
) -> datetime:
    """When ``months`` loan months after the contract have passed: the calendar date
    (00:00 Asia/Shanghai), or in the demo and test profiles ``months`` × the policy's
    ``month`` span after the repayment phase began."""
    span = policy.timers.get("month")
    if span is not None:
        return origin + span * months
    day = add_months(terms.contract_date, months)
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


def followup_schedule(
    policy: ProcessPolicy, terms: LoanTerms, origin: datetime
) -> tuple[list[datetime], datetime]:
    """The 贷后回访 times (every ``followup_every_months`` before maturity) and the
    maturity."""
    every = max(1, policy.counts.get("followup_every_months", 3))
    points = [
        month_point(policy, terms, origin, m)
        for m in range(every, terms.term_months, every)
    ]
    return points, month_point(policy, terms, origin, terms.term_months)


@workflow.defn
class StartupLoanWorkflow(ProcessWorkflow):
    """One veteran's startup loan and its interest subsidy."""

    specs = startup_loan.SPECS

    @workflow.init
    def __init__(self, inp: StartCaseInput) -> None:
        self._setup(inp)
        self._push_ref: str | None = None
        self._pushed_bank: str | None = None
        self._decision: tuple[str, BankDecision] | None = None
        self._terms: LoanTerms | None = None
        self._servicing_open = False
        self._servicing_started = False
        self._loan_end: BankEvent | None = None
        self._repayment_recorded = False
        self._pushes = 0
        self._loan_fields: dict[str, Any] = {}  # the loan row as known so far
        self._grant_warnings: list[str] = []

    @workflow.run
    async def run(self, inp: StartCaseInput) -> CaseState:
        await self.register_case()
        await self.set_status("registered")
        await self.human_task("demand_registration")
        applied = await self._application()
        if applied is None:
            await self.set_status("refused")
            return await self.close_case()
        application, policy = applied
        terms = await self._loan(application, policy)
        if terms is None:
            await self.set_status("referred_guidance")
            return await self.close_case()
        ended = await self._servicing(terms)
        self._grant_warnings = beyond_policy(terms, policy)
        paid = await self._subsidy(terms, ended)
        await self.set_status("subsidy_paid" if paid else "no_subsidy")
        await self._employment_reward()
        return await self.close_case()

    # --- application and eligibility ----------------------------------------------

    async def _application(self) -> tuple[TaskResult, LoanPolicy] | None:
        """The application until it is eligible and the county has verified it; None
        when the county refuses it."""
        context: dict[str, Any] = {}
        policy: LoanPolicy | None = None
        applied_on: date | None = None
        while True:
            first = "application" not in self._rounds
            await self.set_status("applying" if first else "in_correction")
            application = await self.human_task(
                "application",
                context=context,
                notice="task_assigned" if first else "review_returned",
            )
            if policy is None or applied_on is None:
                # The version effective on the application date stays the case's.
                applied_on = application.completed_at.astimezone(SHANGHAI).date()
                policy = await self._load_policy(applied_on)
            failures = check_eligibility(application.data, policy, applied_on)
            await self._record(
                "applied",
                status="in_correction" if failures else "under_review",
                policy_version=policy.version,
                loan_type=str(application.data.get("loan_type", "")),
                bank=str(application.data.get("bank", "")),
            )
            if failures:
                context = await self._return_for_correction(
                    [f.message for f in failures], failures
                )
                continue
            await self.set_status("under_review")
            review = await self.human_task(
                "county_review",
                context={
                    **_application_summary(application),
                    "policy_version": policy.version,
                    "applied_on": applied_on.isoformat(),
                },
            )
            if review.outcome == "approve":
                return application, policy
            if review.outcome == "refuse":
                return None
            context = await self._return_for_correction(
                list(review.data.get("defects", [])), []
            )

    async def _load_policy(self, on: date) -> LoanPolicy:
        org_path = self._case.org_path if self._case else "/"
        # Named activities come back as plain JSON: validated into their models here.
        return LoanPolicy.model_validate(
            await self.run_activity(
                "load_loan_policy",
                LoanPolicyInput(case_id=self._input.case_id, org_path=org_path, on=on),
                step="eligibility",
            )
        )

    async def _return_for_correction(
        self, defects: list[str], failures: list[Failure]
    ) -> dict[str, Any]:
        """Every defect at once (003 §7.6), to the clerk's task and to the veteran."""
        round_no = self._rounds.get("application", 1)
        await self.notify_veteran(
            "loan_correction",
            "loan_correction",
            f"correction{round_no}",
            {"defects": defects, "round": round_no},
        )
        return {
            "defects": defects,
            "returned_reasons": defects,
            "failures": [f.model_dump() for f in failures],
        }

    # --- the bank -------------------------------------------------------------------

    async def _loan(
        self, application: TaskResult, policy: LoanPolicy
    ) -> LoanTerms | None:
        """Push to the chosen bank until one approves; None when referred to 创业指导."""
        bank = str(application.data["bank"])
        while True:
            kind, decision = await self._bank_decision(bank, application)
            if kind == "approved":
                return self._terms_of(application, policy, bank, decision)
            await self.set_status("bank_rejected")
            referral = await self.human_task(
                "bank_rejected",
                context={
                    "bank": bank,
                    "reason": decision.reason,
                    "application_ref": self._push_ref,
                },
            )
            if referral.outcome == "refer_guidance":
                return None
            bank = str(referral.data["bank"])

    async def _bank_decision(
        self, bank: str, application: TaskResult
    ) -> tuple[str, BankDecision]:
        """Push the application to ``bank`` and wait for its decision: its callback, or
        a clerk's desk task (a bank without an integration, or one that has not
        answered within the policy's ``bank_answer``)."""
        self._pushes += 1
        ref = startup_loan.application_ref(self._input.case_id, self._pushes)
        self._push_ref, self._pushed_bank, self._decision = ref, bank, None
        await self.set_status("at_bank")
        pushed = BankPushResult.model_validate(
            await self.run_activity(
                "push_to_bank",
                BankPushInput(
                    case_id=self._input.case_id,
                    application_ref=ref,
                    bank=bank,
                    veteran_id=self._input.veteran_id,
                    application=application.data,
                    consent_signed_on=application.data.get("consent_signed_on"),
                    at=workflow.now(),
                ),
                step="bank_push",
            )
        )
        await self._record("pushed", status="at_bank", bank=bank, application_ref=ref)
        wait = self._input.policy.timers.get("bank_answer", timedelta(days=30))
        if not pushed.integrated or not await wait_until(
            lambda: self._decision is not None, wait
        ):
            desk = await self.human_task_until(
                "bank_decision",
                lambda: self._decision is not None,
                context={
                    "bank": bank,
                    "bank_name": pushed.bank_name,
                    "application_ref": ref,
                    "integrated": pushed.integrated,
                    **_application_summary(application),
                },
            )
            if desk is not None and self._decision is None:
                fields = BankDecision.model_fields
                self._decision = (
                    startup_loan.DESK_OUTCOMES[desk.outcome],
                    BankDecision.model_validate(
                        {k: v for k, v in desk.data.items() if k in fields}
                    ),
                )
        await workflow.wait_condition(lambda: self._decision is not None)
        if self._decision is None:  # for the type checker
            raise RuntimeError("no bank decision")
        return self._decision

    def _terms_of(
        self,
        application: TaskResult,
        policy: LoanPolicy,
        bank: str,
        d: BankDecision,
    ) -> LoanTerms:
        loan_type = str(application.data["loan_type"])
        product = policy.products[loan_type]  # type: ignore[index]
        if (
            d.amount is None
            or d.annual_rate is None
            or d.lpr is None
            or d.term_months is None
            or d.contract_date is None
        ):
            raise ApplicationError("approved without terms", non_retryable=True)
        return LoanTerms(
            application_ref=self._push_ref or "",
            bank=bank,
            bank_reference=d.bank_reference,
            loan_type=loan_type,
            amount=d.amount,
            annual_rate=d.annual_rate,
            lpr=d.lpr,
            term_months=d.term_months,
            contract_date=d.contract_date,
            policy_version=policy.version,
            subsidy_rule=product.subsidy_rule,
            subsidy_years=product.subsidy_years,
        )

    @workflow.update
    async def bank_event(self, event: BankEvent) -> str:
        """A bank's callback (verified by the API): a decision on the pending push, or
        the end of the loan (early repayment, repaid)."""
        if event.kind in DECISIONS:
            self._decision = (
                event.kind,
                event.decision or BankDecision(bank_reference=event.reference),
            )
            return "accepted"
        self._loan_end = event
        if self._servicing_open:
            # A signal sent before the child exists would be lost: wait for its start
            # (an event before the start goes in its input instead).
            await workflow.wait_condition(
                lambda: self._servicing_started or not self._servicing_open
            )
        if self._servicing_open:
            handle = workflow.get_external_workflow_handle(
                startup_loan.servicing_id(self._input.case_id)
            )
            try:
                await handle.signal(LoanServicingWorkflow.loan_ended, event)
            except ApplicationError:
                # The phase ended meanwhile (maturity): the event stays with the case.
                workflow.logger.info("servicing already ended")
        return "accepted"

    @bank_event.validator
    def validate_bank_event(self, event: BankEvent) -> None:
        if event.kind in DECISIONS:
            if event.application_ref != self._push_ref or self._decision is not None:
                raise reject(
                    "StaleBankEvent",
                    "该申请不在等待银行审批结果 (no decision pending for this application)",
                    application_ref=event.application_ref,
                )
            if event.bank != self._pushed_bank:
                raise reject(
                    "StaleBankEvent", "申请未推送至该银行 (not pushed to this bank)"
                )
            try:
                check_decision(
                    event.kind,
                    event.decision or BankDecision(bank_reference=event.reference),
                )
            except ValueError as e:
                raise reject(
                    "InvalidForm",
                    "银行回调数据有误",
                    errors=[{"loc": ["decision"], "msg": str(e)}],
                ) from None
            return
        terms = self._terms
        if (
            terms is None
            or event.application_ref != terms.application_ref
            or event.bank != terms.bank
            or self._repayment_recorded
        ):
            raise reject(
                "StaleBankEvent",
                "该贷款不在还款期 (no running loan for this reference)",
                application_ref=event.application_ref,
            )
        if self._loan_end is not None:
            raise reject(
                "StaleBankEvent", "已收到该贷款的结清通知 (loan end already told)"
            )

    # --- the repayment phase ---------------------------------------------------------

    async def _servicing(self, terms: LoanTerms) -> ServicingResult:
        self._terms = terms
        await self.set_status("repaying")
        origin = workflow.now()
        points, maturity = followup_schedule(self._input.policy, terms, origin)
        await self._record(
            "servicing",
            status="repaying",
            terms=terms,
            followups_at=points,
            maturity_at=maturity,
        )
        if self._case is None:
            raise RuntimeError("register_case() must run first")
        self._servicing_open = True
        servicing = await workflow.start_child_workflow(
            LoanServicingWorkflow.run,
            ServicingInput(
                case=self._input,
                registered=self._case,
                terms=terms,
                origin=origin,
                rounds=dict(self._rounds),
                first_handler=dict(self._first_handler),
                ended=self._loan_end,
            ),
            id=startup_loan.servicing_id(self._input.case_id),
        )
        self._servicing_started = True
        result: ServicingResult = await servicing
        self._servicing_open = False
        event = self._loan_end or result.event
        ended_kind = event.kind if event is not None else "matured"
        await self.set_status("repaid")
        await self._record(
            "ended",
            status="repaid",
            terms=terms,
            ended_kind=ended_kind,
            ended_on=event.repaid_on if event else None,
        )
        return result.model_copy(update={"ended_kind": ended_kind, "event": event})

    # --- the subsidy (003 §6.3.2.7) --------------------------------------------------

    async def _subsidy(self, terms: LoanTerms, ended: ServicingResult) -> bool:
        """Repayment record → eligibility review → plan → four-eyes approval →
        payment; False when no subsidy is paid (not repaid, misuse, refused)."""
        loan = _loan_summary(terms)
        proof_context: dict[str, Any] = {
            **loan,
            "ended": ended.ended_kind,
            "bank_repayments": [
                r.model_dump(mode="json")
                for r in (ended.event.repayments if ended.event else [])
            ],
            "followup_findings": ended.findings,
            "missed_followups": ended.missed,
        }
        while True:
            proof = await self.human_task("repayment_proof", context=proof_context)
            self._repayment_recorded = True
            if proof.outcome == "not_repaid":
                return False
            try:
                quote_input = _quote_input(terms, proof)
            except ValidationError as e:
                # The record does not fit the loan (a repayment before the contract or
                # out of order, more principal than lent): back, every defect at once.
                defects = [str(err["msg"]) for err in e.errors(include_url=False)]
                proof_context = {
                    **proof_context,
                    "defects": defects,
                    "returned_reasons": defects,
                }
                continue
            review_context: dict[str, Any] = {
                **loan,
                "repayment_task": proof.task_id,
                "repayments": proof.data.get("repayments", []),
                "settled_on": proof.data.get("settled_on"),
                "proof_reference": proof.data.get("proof_reference"),
                "followup_findings": ended.findings,
                # The bank granted more than the policy allows: the reviewer decides.
                "grant_beyond_policy": self._grant_warnings,
            }
            while True:
                await self.set_status("subsidy_review")
                review = await self.human_task("subsidy_review", context=review_context)
                if review.outcome == "refuse":
                    return False
                if review.outcome == "return_for_correction":
                    defects = list(review.data.get("defects", []))
                    proof_context = {
                        **proof_context,
                        "defects": defects,
                        "returned_reasons": defects,
                    }
                    break
                quote = await self._plan(terms, quote_input)
                await self.set_status("subsidy_approval")
                approval = await self.human_task(
                    "subsidy_approval",
                    context={
                        **loan,
                        "prepared_by": review.completed_by,
                        "total": str(quote.total),
                        "rule": quote.rule,
                        "rule_text": quote.rule_text,
                        "window_end": quote.window_end.isoformat(),
                        "lines": _lines(quote),
                    },
                )
                if approval.outcome == "approved":
                    await self._pay_subsidy(terms, quote)
                    return True
                reason = str(approval.data.get("reason", ""))
                review_context = {**review_context, "returned_reasons": [reason]}

    async def _plan(self, terms: LoanTerms, quote_input: QuoteInput) -> SubsidyQuote:
        quote = SubsidyQuote.model_validate(
            await self.run_activity(
                "plan_subsidy",
                SubsidyPlanInput(
                    case_id=self._input.case_id,
                    round=self._rounds.get("subsidy_review", 1),
                    quote=quote_input,
                    policy_version=terms.policy_version,
                    subsidy_rule=terms.subsidy_rule,
                    subsidy_years=terms.subsidy_years,
                    at=workflow.now(),
                ),
                step="subsidy_plan",
            )
        )
        return quote

    async def _pay_subsidy(self, terms: LoanTerms, quote: SubsidyQuote) -> None:
        await self.set_status("subsidy_paying")
        payment = await self.human_task(
            "subsidy_payment",
            context={**_loan_summary(terms), "amount": str(quote.total)},
        )
        await self._record(
            "subsidy",
            status="subsidy_paid",
            terms=terms,
            subsidy_total=quote.total,
            paid_reference=str(payment.data.get("payment_reference", "")),
        )
        await self.notify_veteran(
            "loan_subsidy_paid",
            "loan_subsidy_paid",
            "subsidy_paid",
            {
                "amount": str(quote.total),
                "paid_on": payment.data.get("paid_on"),
                "loan_type": LOAN_TYPE_LABELS.get(terms.loan_type, terms.loan_type),
            },
        )

    # --- the employment reward (003 §6.3.2.8) ----------------------------------------

    async def _employment_reward(self) -> None:
        await self.set_status("employment_reward")
        claim = await self.human_task("employment_reward")
        if claim.outcome != "apply":
            return
        amount, refused = employment_reward(claim.data)
        if amount <= 0:
            return
        payment = await self.human_task(
            "reward_payment", context={"amount": str(amount), "not_counted": refused}
        )
        await self._record(
            "reward",
            reward_total=amount,
            paid_reference=str(payment.data.get("payment_reference", "")),
        )

    # --- the projection -------------------------------------------------------------

    async def _record(self, stage: str, **fields: Any) -> None:
        """Write the loan row: every stage sends all the case knows so far (a later
        stage's payload also carries the bank, the policy version, the terms), since
        the data converter sends every field of the input, given or default."""
        self._loan_fields.update(fields)
        await self.run_activity(
            "record_loan",
            LoanRecordInput(
                case_id=self._input.case_id,
                veteran_id=self._input.veteran_id,
                stage=stage,
                at=workflow.now(),
                **self._loan_fields,
            ),
            step="loan_record",
        )


@workflow.defn
class LoanServicingWorkflow(ProcessWorkflow):
    """The repayment phase of one loan (贷后): a 贷后回访 task every few months until
    maturity, or until the bank tells of early repayment. It continues as new after
    the policy's ``servicing_rollover`` follow-ups (or when Temporal suggests it), once
    no follow-up is open, so a loan of years keeps a small history."""

    specs = startup_loan.SPECS

    @workflow.init
    def __init__(self, inp: ServicingInput) -> None:
        self._setup_phase(inp.case, inp.registered, inp.rounds, inp.first_handler)
        self._ended: BankEvent | None = inp.ended
        self._finished = False
        self._findings = list(inp.findings)
        self._missed = inp.missed
        self._status = "repaying"

    @workflow.signal
    def loan_ended(self, event: BankEvent) -> None:
        """The bank told of early repayment (or full repayment): the phase ends."""
        if self._ended is None:
            self._ended = event

    @workflow.run
    async def run(self, inp: ServicingInput) -> ServicingResult:
        points, maturity = followup_schedule(self._input.policy, inp.terms, inp.origin)
        rollover = max(1, self._input.policy.counts.get("servicing_rollover", 4))
        opened = inp.followups_opened
        this_run = 0
        followups: list[asyncio.Future[TaskResult | None]] = []

        def may_continue() -> bool:
            return (
                this_run >= rollover or workflow.info().is_continue_as_new_suggested()
            ) and all(f.done() for f in followups)

        while self._ended is None:
            target = points[opened] if opened < len(points) else maturity
            reached = not await wait_until(
                lambda: self._ended is not None or may_continue(),
                target - workflow.now(),
            )
            if self._ended is not None:
                break
            if not reached:  # time to continue as new, before the next point
                await self._collect(followups)
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    inp.model_copy(
                        update={
                            "followups_opened": opened,
                            "rounds": dict(self._rounds),
                            "first_handler": dict(self._first_handler),
                            "findings": self._findings,
                            "missed": self._missed,
                            "ended": self._ended,
                            "runs": inp.runs + 1,
                        }
                    )
                )
            if opened >= len(points):
                break  # matured
            opened += 1
            this_run += 1
            followups.append(
                asyncio.ensure_future(
                    self._followup(
                        {
                            "followup": opened,
                            "of": len(points),
                            "maturity_at": maturity.isoformat(),
                            **_loan_summary(inp.terms),
                        }
                    )
                )
            )
        # The loan ended: follow-ups still open are withdrawn (counted as missed).
        self._finished = True
        await self._collect(followups)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ServicingResult(
            ended_kind=self._ended.kind if self._ended else "matured",
            event=self._ended,
            followups=opened,
            missed=self._missed,
            findings=self._findings,
        )

    async def _followup(self, context: dict[str, Any]) -> TaskResult | None:
        """One 贷后回访, withdrawn if the loan ends first (a later release adds to a
        follow-up here: tests/workflows/release_loan_next.py)."""
        return await self.human_task_until(
            "post_loan_followup", lambda: self._finished, context=context
        )

    async def _collect(
        self, followups: list[asyncio.Future[TaskResult | None]]
    ) -> None:
        for f in followups:
            result = await f
            if result is None:
                self._missed += 1
                continue
            n = result.task_id.rsplit(".", 1)[-1]
            if not result.data.get("funds_for_business", True):
                self._findings.append(f"第{n}次回访: 贷款未用于创业经营")
            if not result.data.get("operating", True):
                self._findings.append(f"第{n}次回访: 经营不正常")
        followups.clear()


def beyond_policy(terms: LoanTerms, policy: LoanPolicy) -> list[str]:
    """Where the bank's grant exceeds the policy's limits (the application was within
    them): shown to the subsidy review, which decides."""
    product = policy.products.get(terms.loan_type)  # type: ignore[call-overload]
    if product is None:
        return []
    warnings: list[str] = []
    if terms.amount > product.max_amount:
        warnings.append(
            f"银行核准金额 {terms.amount} 元超过政策额度 {product.max_amount} 元"
        )
    if terms.term_months > product.max_term_months:
        warnings.append(
            f"贷款期限 {terms.term_months} 个月超过政策期限 {product.max_term_months} 个月"
        )
    return warnings


def _application_summary(application: TaskResult) -> dict[str, Any]:
    data = application.data
    return {
        "application_task": application.task_id,
        "loan_type": data.get("loan_type"),
        "loan_type_label": LOAN_TYPE_LABELS.get(str(data.get("loan_type")), ""),
        "amount": data.get("amount"),
        "term_months": data.get("term_months"),
        "bank": data.get("bank"),
        "subject_type": data.get("subject_type"),
        "subject_name": data.get("subject_name"),
        "bank_data_consent": data.get("bank_data_consent"),
    }


def _quote_input(terms: LoanTerms, proof: TaskResult) -> QuoteInput:
    """The subsidy computation's input: the loan's terms and the repayments as
    recorded (raises ``ValidationError`` when they do not fit the loan)."""
    return QuoteInput(
        loan_type=terms.loan_type,
        principal=terms.amount,
        annual_rate=terms.annual_rate,
        lpr=terms.lpr,
        contract_date=terms.contract_date,
        repayments=[Repayment.model_validate(r) for r in proof.data["repayments"]],
    )


def _loan_summary(terms: LoanTerms) -> dict[str, Any]:
    return {
        "bank": terms.bank,
        "bank_reference": terms.bank_reference,
        "loan_type": terms.loan_type,
        "loan_type_label": LOAN_TYPE_LABELS.get(terms.loan_type, terms.loan_type),
        "amount": str(terms.amount),
        "annual_rate": str(terms.annual_rate),
        "lpr": str(terms.lpr),
        "term_months": terms.term_months,
        "contract_date": terms.contract_date.isoformat(),
        "policy_version": terms.policy_version,
    }


def _lines(quote: SubsidyQuote) -> list[dict[str, Any]]:
    return [
        {
            "period": line.period,
            "start": line.start.isoformat(),
            "end": line.end.isoformat(),
            "days_in_period": line.days_in_period,
            "days_in_window": line.days_in_window,
            "interest_paid": str(line.interest_paid),
            "outstanding_principal": str(line.outstanding_principal),
            "subsidy": str(line.subsidy),
        }
        for line in quote.lines
    ]
