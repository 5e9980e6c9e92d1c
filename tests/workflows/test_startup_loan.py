"""The startup loan (创业贷款及贴息) on the real Temporal dev server, its years in
seconds: a personal loan from the business idea to the subsidy paid (computed to the
fen, approved by a leader who did not prepare it) and the employment reward; an
ineligible application told every failure at once; a bank's rejection referred to a
second bank, or to 创业指导; a bank without an integration served by a clerk's desk
task; stale bank decisions refused before they reach the history; early repayment
ending the repayment phase with its open follow-up withdrawn; the repayment phase
continuing as new with small histories; a worker restart during the loan. Every
history replays."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer

from models.processes import startup_loan
from models.processes.startup_loan import BankDecision
from models.settings import Settings
from models.tables import BankApplication, Case, Loan, LoanSubsidyLine
from tests.support import (
    notices,
    open_task,
    record_history,
    tasks,
    wait_for,
)
from tests.workflows.conftest import RecordingAdapter
from tests.workflows.journeys import Journeys, Registry
from tests.workflows.startup_loan_support import (
    REPAYMENTS,
    add_staff,
    application,
    apply_and_verify,
    bank_event,
    close_without_subsidy,
    decision,
    finish,
    followup,
    loan_policy,
    pushed_ref,
    refused,
    repayment_proof,
    runs_of,
    start_loan,
    statuses,
    take_over,
)
from worker import build_worker
from workflows.registry import ALL_WORKFLOWS
from workflows.startup_loan import StartupLoanWorkflow

# SQLite only (README, Testing): the loan's SQL runs on both databases in the activity,
# API and page tests; here the subject is the workflow and its timers.
pytestmark = pytest.mark.timeout(60)


async def replays(client: Client, *histories_of: tuple[str, str | None]) -> None:
    """Each (workflow id, run id) replays on today's code."""
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter)
    for workflow_id, run_id in histories_of:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        await replayer.replay_workflow(await handle.fetch_history())


async def replay_case(client: Client, case_id: str) -> None:
    """The case and every run of its repayment phase replay."""
    servicing = startup_loan.servicing_id(case_id)
    runs = await runs_of(client, servicing)
    await replays(client, (case_id, None), *((servicing, r) for r in runs))


def loan(engine: Any, case_id: str) -> Loan:
    with Session(engine) as s:
        row = s.get(Loan, case_id)
        assert row is not None
        return row


# The journeys of this file wait on their timers (loan months of seconds): they run
# side by side, each with its own database, settings and worker (tests/workflows/journeys.py).
journey = Registry()


journeys = journey.fixture()


@journey()
async def a_personal_loan_from_registration_to_the_subsidy_paid(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    add_staff(e, "countylead", ["county_staff", "leader"])
    # 36 loan months of 0.5 s; a follow-up every 12 months: two, then maturity (each
    # follow-up has six seconds before the next point: slack for a loaded machine).
    policy = loan_policy(month=0.5, every=12)
    handle = await start_loan(client, settings, e, policy)
    case_id = handle.id
    await apply_and_verify(client, e, case_id)
    ref = await pushed_ref(e, case_id, 1)
    assert await bank_event(
        handle, "qdbank", "approved", ref, "CB-1", decision=decision()
    )
    # The repayment phase: two 贷后回访, the second finds the money used otherwise.
    await finish(client, e, case_id, "post_loan_followup", "county", "done", followup())
    second = followup(funds_for_business=False)
    await finish(client, e, case_id, "post_loan_followup", "county", "done", second)
    proof = await open_task(e, case_id, "repayment_proof", timeout=60)
    assert proof.context["ended"] == "matured"
    assert proof.context["followup_findings"] == ["第2次回访: 贷款未用于创业经营"]
    assert proof.context["missed_followups"] == 0
    # Repayments out of order are refused by the form; a record that does not fit
    # the loan (more principal repaid than lent) comes back with its defect.
    wrong = repayment_proof()
    wrong["repayments"][0]["paid_on"] = "2025-06-10"
    step = ("repayment_proof", "county", "submitted")
    assert await refused(finish(client, e, case_id, *step, wrong)) == "InvalidForm"
    wrong = repayment_proof()
    wrong["repayments"][0]["principal"] = "150000.00"
    await finish(client, e, case_id, *step, wrong)
    again = await open_task(e, case_id, "repayment_proof")
    assert again.round == 2 and "超过贷款本金" in again.context["defects"][0]
    await finish(
        client, e, case_id, "repayment_proof", "county", "submitted", repayment_proof()
    )
    # A clerk who is also a leader prepares the plan.
    await take_over(client, e, case_id, "subsidy_review", "countylead")
    await finish(client, e, case_id, "subsidy_review", "countylead", "approve", {})
    approval = await open_task(e, case_id, "subsidy_approval")
    # By hand (全额贴息, 3 years from 2023-01-10: the window ends 2026-01-10):
    #   2023-01-10 → 2024-01-10: 365 days, all inside: 6,900.00
    #   2024-01-10 → 2025-01-10: 366 days, all inside: 5,175.00
    #   2025-01-10 → 2026-02-10: 396 days, 365 inside: 3,737.50 × 365 / 396
    #                                                 = 3,444.917… → 3,444.92
    #   total 15,519.92
    third = Decimal("3737.50") * 365 / 396
    assert third.quantize(Decimal("0.01")) == Decimal("3444.92")
    assert approval.context["total"] == "15519.92"
    assert approval.context["prepared_by"] == "countylead"
    assert [line["subsidy"] for line in approval.context["lines"]] == [
        "6900.00",
        "5175.00",
        "3444.92",
    ]
    # 双人复核: the one who prepared the plan may not approve it.
    assert (
        await refused(
            finish(client, e, case_id, "subsidy_approval", "countylead", "approved", {})
        )
        == "FourEyes"
    )
    await finish(client, e, case_id, "subsidy_approval", "leader", "approved", {})
    paid = {"paid_on": "2026-03-02", "payment_reference": "TX-2026-0301"}
    await finish(client, e, case_id, "subsidy_payment", "finance", "paid", paid)
    hires = {
        "veteran_founded": True,
        "hires": [
            {"name": "李强", "contract_months": 24, "social_insurance_months": 12},
            {"name": "王刚", "contract_months": 24, "social_insurance_months": 6},
        ],
    }
    await finish(client, e, case_id, "employment_reward", "county", "apply", hires)
    reward = await open_task(e, case_id, "reward_payment")
    assert reward.context["amount"] == "5000.00"
    assert reward.context["not_counted"] == ["王刚: 社保缴纳不满1年"]
    paid_reward = {"paid_on": "2026-03-09", "payment_reference": "TX-2026-0309"}
    await finish(client, e, case_id, "reward_payment", "finance", "paid", paid_reward)

    state = await handle.result()
    assert state.status == "closed"
    assert state.rounds["application"] == 1
    assert statuses(e, case_id) == [
        "registered",
        "applying",
        "under_review",
        "at_bank",
        "repaying",
        "repaid",
        "subsidy_review",
        "subsidy_approval",
        "subsidy_paying",
        "subsidy_paid",
        "employment_reward",
        "closed",
    ]
    row = loan(e, case_id)
    assert (row.bank, row.loan_type, row.policy_version) == (
        "qdbank",
        "personal",
        "qingdao-2024",
    )
    assert row.terms["amount"] == "200000.00" and row.terms["term_months"] == 36
    assert len(row.followups_at) == 2 and row.maturity_at is not None
    assert (row.ended_kind, row.subsidy_total, row.reward_total) == (
        "matured",
        "15519.92",
        "5000.00",
    )
    with Session(e) as s:
        lines = s.exec(
            select(LoanSubsidyLine)
            .where(LoanSubsidyLine.case_id == case_id)
            .order_by(col(LoanSubsidyLine.period))
        ).all()
    assert [
        (ln.days_in_period, ln.days_in_window, ln.interest_paid, ln.subsidy)
        for ln in lines
    ] == [
        (365, 365, "6900.00", "6900.00"),
        (366, 366, "5175.00", "5175.00"),
        (396, 365, "3737.50", "3444.92"),
    ]
    assert {ln.outstanding_principal for ln in lines} == {
        "200000.00",
        "150000.00",
        "100000.00",
    }
    assert {(ln.rule, ln.policy_version) for ln in lines} == {("full", "qingdao-2024")}
    # The veteran is told (the notice travels in its own child workflow).
    (sent,) = await wait_for(
        lambda: [
            n for n in notices(e, case_id, "loan_subsidy_paid") if n.status == "sent"
        ]
    )
    assert sent.recipient_type == "veteran" and "15519.92" in sent.body
    # The repayment phase ran twice (a follow-up every 12 months, two per run).
    servicing = startup_loan.servicing_id(case_id)
    runs = await runs_of(client, servicing)
    assert len(runs) == 2
    await replay_case(client, case_id)
    await record_history(handle, "StartupLoanWorkflow", "full_path_subsidy_paid")


@journey()
async def an_ineligible_application_is_told_every_failure_at_once(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    handle = await start_loan(client, settings, e, loan_policy())
    case_id = handle.id
    demand = {"intent_field": "餐饮", "needs_guidance": False, "contact_phone": "139"}
    assert (
        await refused(
            finish(
                client,
                e,
                case_id,
                "demand_registration",
                "village",
                "submitted",
                demand,
            )
        )
        == "InvalidForm"
    )
    demand["contact_phone"] = "13900000000"
    await finish(
        client, e, case_id, "demand_registration", "village", "submitted", demand
    )
    # Over the personal loan's 200,000 元 and no consent to share data with the bank.
    over = application(
        amount="250000.00", bank_data_consent=False, consent_signed_on=None
    )
    await finish(client, e, case_id, "application", "county", "submitted", over)
    again = await open_task(e, case_id, "application")
    assert again.round == 2
    assert {f["rule"] for f in again.context["failures"]} == {"consent", "max_amount"}
    assert len(again.context["returned_reasons"]) == 2
    told = await wait_for(
        lambda: [
            n for n in notices(e, case_id, "loan_correction") if n.status == "sent"
        ]
    )
    assert "个人信息保护法" in told[0].body and "200000.00" in told[0].body
    state = await handle.query(StartupLoanWorkflow.get_state)
    assert state.status == "in_correction"
    assert state.rounds == {"demand_registration": 1, "application": 2}
    await finish(
        client, e, case_id, "application", "county", "submitted", application()
    )
    review = await open_task(e, case_id, "county_review")
    assert review.context["policy_version"] == "qingdao-2024"
    assert review.context["bank_data_consent"] is True
    refusal = {"reason": "经营主体与申请人不符"}
    await finish(client, e, case_id, "county_review", "county", "refuse", refusal)
    state = await handle.result()
    assert state.status == "closed"
    assert state.rounds == {
        "demand_registration": 1,
        "application": 2,
        "county_review": 1,
    }
    assert statuses(e, case_id) == [
        "registered",
        "applying",
        "in_correction",
        "under_review",
        "refused",
        "closed",
    ]
    assert loan(e, case_id).policy_version == "qingdao-2024"
    with Session(e) as s:  # nothing went to a bank
        assert not s.exec(
            select(BankApplication).where(BankApplication.case_id == case_id)
        ).all()
    await replays(client, (case_id, None))
    await record_history(handle, "StartupLoanWorkflow", "ineligible_round_refused")


@journey()
async def a_rejection_goes_to_a_second_bank_and_early_repayment_ends_the_loan(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    # 12 loan months of 1 s: a follow-up at 3, 6 and 9 months.
    handle = await start_loan(client, settings, e, loan_policy(month=1.0))
    case_id = handle.id
    await apply_and_verify(client, e, case_id)
    first = await pushed_ref(e, case_id, 1)
    no = BankDecision(bank_reference="QD-R-1", reason="经营计划不清晰")
    await bank_event(handle, "qdbank", "rejected", first, "CB-1", decision=no)
    # Decided already: a second answer on the same push is stale.
    late = bank_event(handle, "qdbank", "approved", first, "CB-2", decision=decision())
    assert await refused(late) == "StaleBankEvent"
    rejected = await open_task(e, case_id, "bank_rejected")
    assert rejected.context["reason"] == "经营计划不清晰"
    refer = {"bank": "icbc", "note": "转工商银行"}
    await finish(client, e, case_id, "bank_rejected", "county", "refer_bank", refer)
    second = await pushed_ref(e, case_id, 2)
    # The old push, another bank, an approval without its terms: all refused.
    for bank, ref, d in (
        ("icbc", first, decision()),
        ("qdbank", second, decision()),
        ("icbc", second, BankDecision(bank_reference="ICBC-1")),
    ):
        outcome = await refused(
            bank_event(handle, bank, "approved", ref, "CB-3", decision=d)
        )
        assert outcome == (
            "InvalidForm" if ref == second and bank == "icbc" else "StaleBankEvent"
        )
    ok = decision(ref="ICBC-1", term_months=12)
    assert (
        await bank_event(handle, "icbc", "approved", second, "CB-4", decision=ok)
        == "accepted"
    )
    # The first follow-up opens; the bank tells of early repayment before it is done.
    visit = await open_task(e, case_id, "post_loan_followup", timeout=60)
    paid = [r.model_dump() for r in REPAYMENTS[:1]]
    early = {"repaid_on": date(2024, 1, 10), "repayments": paid}
    assert await bank_event(handle, "icbc", "early_repayment", second, "CB-5", **early)
    again = bank_event(
        handle, "icbc", "repaid", second, "CB-6", repaid_on=date(2024, 1, 11)
    )
    assert await refused(again) == "StaleBankEvent"
    proof = await open_task(e, case_id, "repayment_proof", timeout=60)
    assert proof.context["ended"] == "early_repayment"
    assert proof.context["bank"] == "icbc"
    assert proof.context["missed_followups"] >= 1
    assert proof.context["bank_repayments"][0]["interest"] == "6900.00"
    withdrawn = tasks(e, case_id, step="post_loan_followup", status="withdrawn")
    assert visit.id in {t.id for t in withdrawn}
    assert not tasks(e, case_id, step="post_loan_followup", status="open")
    await close_without_subsidy(client, e, case_id)
    state = await handle.result()
    assert state.status == "closed"
    assert state.rounds["bank_rejected"] == 1
    assert "no_subsidy" in statuses(e, case_id)
    row = loan(e, case_id)
    assert (row.bank, row.ended_kind, row.ended_on) == (
        "icbc",
        "early_repayment",
        date(2024, 1, 10),
    )
    assert row.subsidy_total is None
    with Session(e) as s:
        pushes = s.exec(
            select(BankApplication).where(BankApplication.case_id == case_id)
        ).all()
    assert sorted((p.ref, p.bank) for p in pushes) == [
        (first, "qdbank"),
        (second, "icbc"),
    ]
    await replay_case(client, case_id)
    await record_history(handle, "StartupLoanWorkflow", "bank_rejected_second_bank")
    servicing = client.get_workflow_handle(startup_loan.servicing_id(case_id))
    await record_history(servicing, "LoanServicingWorkflow", "early_repayment")


@journey()
async def a_rejection_referred_to_guidance_closes_the_case(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    handle = await start_loan(client, settings, e, loan_policy())
    case_id = handle.id
    await apply_and_verify(client, e, case_id)
    ref = await pushed_ref(e, case_id, 1)
    no = BankDecision(bank_reference="QD-R-2", reason="缺少担保")
    await bank_event(handle, "qdbank", "rejected", ref, "CB-1", decision=no)
    # Referring to a bank needs the bank.
    assert (
        await refused(
            finish(client, e, case_id, "bank_rejected", "county", "refer_bank", {})
        )
        == "InvalidForm"
    )
    note = {"note": "转创业指导，完善创业计划后再申请"}
    await finish(client, e, case_id, "bank_rejected", "county", "refer_guidance", note)
    state = await handle.result()
    assert state.status == "closed"
    assert statuses(e, case_id)[-2:] == ["referred_guidance", "closed"]
    with Session(e) as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == "closed"
    assert not tasks(e, case_id, step="post_loan_followup")
    await replays(client, (case_id, None))
    await record_history(handle, "StartupLoanWorkflow", "referred_guidance")


def accepted_updates(history: Any) -> int:
    return sum(
        1
        for ev in history.events
        if ev.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and ev.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        == "bank_event"
    )


@journey()
async def a_clerk_records_the_decision_of_a_silent_or_unintegrated_bank(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    # The integrated bank has 1 s to answer before a clerk is asked to chase it.
    handle = await start_loan(client, settings, e, loan_policy(bank_answer=1.0))
    case_id = handle.id
    await apply_and_verify(client, e, case_id)
    first = await pushed_ref(e, case_id, 1)
    desk = await open_task(e, case_id, "bank_decision", timeout=60)
    assert desk.context["integrated"] is True
    assert desk.context["application_ref"] == first
    # Approval needs the terms (the same check as the callback's).
    approved_without_terms = {"bank_reference": "QD-9"}
    assert (
        await refused(
            finish(
                client,
                e,
                case_id,
                "bank_decision",
                "county",
                "loan_granted",
                approved_without_terms,
            )
        )
        == "InvalidForm"
    )
    no = {"bank_reference": "QD-9", "reason": "额度已满"}
    await finish(client, e, case_id, "bank_decision", "county", "loan_declined", no)
    # The bank's own answer, after the clerk recorded it: stale.
    late = bank_event(handle, "qdbank", "approved", first, "CB-1", decision=decision())
    assert await refused(late) == "StaleBankEvent"
    refer = {"bank": "rcc"}
    await finish(client, e, case_id, "bank_rejected", "county", "refer_bank", refer)
    second = await pushed_ref(e, case_id, 2)
    # No integration: the clerk's task opens at once.
    desk2 = await open_task(e, case_id, "bank_decision")
    assert desk2.round == 2 and desk2.context["integrated"] is False
    assert desk2.context["bank_name"] == "农村信用合作社"
    yes = decision(ref="RCC-1", term_months=12).model_dump(mode="json")
    await finish(client, e, case_id, "bank_decision", "county", "loan_granted", yes)
    stale = bank_event(handle, "rcc", "approved", second, "CB-2", decision=decision())
    assert await refused(stale) == "StaleBankEvent"
    await wait_for(lambda: loan(e, case_id).status == "repaying")
    row = loan(e, case_id)
    assert (row.bank, row.terms["bank_reference"]) == ("rcc", "RCC-1")
    # Refused callbacks left nothing in the history.
    assert accepted_updates(await handle.fetch_history()) == 0
    await handle.terminate("test over")
    await replays(client, (case_id, None))
    await record_history(handle, "StartupLoanWorkflow", "bank_desk_decisions")


@journey()
async def the_repayment_phase_continues_as_new_with_small_histories(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    # 18 loan months of 0.8 s, a follow-up every 3 months (5), two per run: 3 runs.
    handle = await start_loan(client, settings, e, loan_policy(month=0.8, rollover=2))
    case_id = handle.id
    await apply_and_verify(client, e, case_id)
    ref = await pushed_ref(e, case_id, 1)
    ok = decision(term_months=18)
    await bank_event(handle, "qdbank", "approved", ref, "CB-1", decision=ok)
    for n in range(1, 6):
        data = followup(funds_for_business=n != 4)
        result = await finish(
            client, e, case_id, "post_loan_followup", "county", "done", data
        )
        assert result.task_id.endswith(f".post_loan_followup.{n}")
    proof = await open_task(e, case_id, "repayment_proof", timeout=60)
    assert proof.context["ended"] == "matured"
    # A finding of an earlier run is still known at the end (carried across runs).
    assert proof.context["followup_findings"] == ["第4次回访: 贷款未用于创业经营"]
    servicing = startup_loan.servicing_id(case_id)
    runs = await runs_of(client, servicing)
    assert len(runs) == 3
    sizes = []
    for run_id in runs:
        history = await client.get_workflow_handle(
            servicing, run_id=run_id
        ).fetch_history()
        sizes.append(len(history.events))
    # Each run holds at most two follow-ups: its history stays small whatever the
    # loan's length (a follow-up costs about 35 events, its notice included).
    assert max(sizes) < 120, sizes
    await close_without_subsidy(client, e, case_id)
    assert (await handle.result()).status == "closed"
    await replay_case(client, case_id)
    first = client.get_workflow_handle(servicing, run_id=runs[0])
    await record_history(first, "LoanServicingWorkflow", "continued_as_new_run")
    # The last run: a follow-up, then maturity.
    last = client.get_workflow_handle(servicing, run_id=runs[-1])
    await record_history(last, "LoanServicingWorkflow", "matured")
    await record_history(handle, "StartupLoanWorkflow", "servicing_continued_as_new")


@journey(own_worker=True)
async def a_worker_restart_during_the_loan_loses_nothing(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    # 9 loan months of 2 s: follow-ups at 6 s and 12 s, maturity at 18 s — room for a
    # loaded CI machine to finish both follow-ups after the restart before maturity
    # withdraws them (0.6 s months once lost that race).
    policy = loan_policy(month=2.0)
    async with build_worker(client, settings, e, adapter=adapter):
        handle: WorkflowHandle[Any, Any] = await start_loan(client, settings, e, policy)
        case_id = handle.id
        await apply_and_verify(client, e, case_id)
        ref = await pushed_ref(e, case_id, 1)
        ok = decision(term_months=9)
        await bank_event(handle, "qdbank", "approved", ref, "CB-1", decision=ok)
        await open_task(e, case_id, "post_loan_followup", timeout=60)
    # No worker while the second follow-up falls due.
    await asyncio.sleep(7)
    async with build_worker(client, settings, e, adapter=adapter):
        for _ in range(2):
            await finish(
                client, e, case_id, "post_loan_followup", "county", "done", followup()
            )
        await close_without_subsidy(client, e, case_id)
        state = await handle.result()
    assert state.status == "closed"
    done = tasks(e, case_id, step="post_loan_followup", status="completed")
    assert len(done) == 2
    assert loan(e, case_id).ended_kind == "matured"
    await replay_case(client, case_id)


async def test_a_personal_loan_from_registration_to_the_subsidy_paid(
    journeys: Journeys,
) -> None:
    await journeys(a_personal_loan_from_registration_to_the_subsidy_paid)


async def test_an_ineligible_application_is_told_every_failure_at_once(
    journeys: Journeys,
) -> None:
    await journeys(an_ineligible_application_is_told_every_failure_at_once)


async def test_a_rejection_goes_to_a_second_bank_and_early_repayment_ends_the_loan(
    journeys: Journeys,
) -> None:
    await journeys(a_rejection_goes_to_a_second_bank_and_early_repayment_ends_the_loan)


async def test_a_rejection_referred_to_guidance_closes_the_case(
    journeys: Journeys,
) -> None:
    await journeys(a_rejection_referred_to_guidance_closes_the_case)


async def test_a_clerk_records_the_decision_of_a_silent_or_unintegrated_bank(
    journeys: Journeys,
) -> None:
    await journeys(a_clerk_records_the_decision_of_a_silent_or_unintegrated_bank)


async def test_the_repayment_phase_continues_as_new_with_small_histories(
    journeys: Journeys,
) -> None:
    await journeys(the_repayment_phase_continues_as_new_with_small_histories)


@pytest.mark.timeout(90)
async def test_a_worker_restart_during_the_loan_loses_nothing(
    journeys: Journeys,
) -> None:
    await journeys(a_worker_restart_during_the_loan_loses_nothing)
