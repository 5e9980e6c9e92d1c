"""A release under a running loan, on the real dev server: a loan started by today's
worker reaches its repayment phase and waits on a 贷后回访; the workers are swapped for
the next release's (``release_loan_next.py``: a ``fund_use_check`` step after each
follow-up, behind ``workflow.patched``); the open follow-up is completed on the new
code, which adds the check, the phase continues as new and matures, and the case
finishes. The history recorded before the swap replays on today's code and on the
next release's; the histories recorded after it replay on the next release's."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from models.contracts import StartCaseInput
from models.processes import PROCESSES, SPEC_VERSIONS, startup_loan
from models.search_attributes import case_search_attributes
from tests.support import SQLITE_ONLY, open_task, tasks
from tests.workflows.release_loan_next import (
    RELEASE_NEXT,
    SPEC_V2,
    SPECS_NEXT,
    StartupLoanWorkflowNext,
)
from tests.workflows.startup_loan_support import (
    a_veteran,
    apply_and_verify,
    bank_event,
    close_without_subsidy,
    decision,
    finish,
    followup,
    loan_policy,
    pushed_ref,
    runs_of,
    start_loan,
)
from worker import build_worker
from workflows.registry import ALL_WORKFLOWS

pytestmark = SQLITE_ONLY


async def replay(
    client: Client, workflows: list[type], histories: list[WorkflowHistory]
) -> None:
    replayer = Replayer(workflows=workflows, data_converter=client.data_converter)
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, (
            history.workflow_id,
            result.replay_failure,
        )


async def histories(client: Client, case_id: str) -> list[WorkflowHistory]:
    """The case's history and every run of its repayment phase."""
    servicing = startup_loan.servicing_id(case_id)
    found = [await client.get_workflow_handle(case_id).fetch_history()]
    for run_id in await runs_of(client, servicing):
        handle = client.get_workflow_handle(servicing, run_id=run_id)
        found.append(await handle.fetch_history())
    return found


@pytest.mark.timeout(90)
async def test_a_loan_in_repayment_finishes_on_the_next_release(
    client, settings, demo_engine, adapter, monkeypatch
):
    e = demo_engine
    # 9 loan months of 1.5 s: follow-ups at 3 and 6 months, maturity at 9; the phase
    # continues as new after its two follow-ups.
    policy = loan_policy(month=1.5)
    async with build_worker(client, settings, e, adapter=adapter):
        handle: Any = await start_loan(client, settings, e, policy)
        case_id = handle.id
        await apply_and_verify(client, e, case_id)
        ref = await pushed_ref(e, case_id, 1)
        ok = decision(term_months=9)
        await bank_event(handle, "qdbank", "approved", ref, "CB-1", decision=ok)
        first = await open_task(e, case_id, "post_loan_followup", timeout=30)
        before = await histories(client, case_id)

    # The release: today's worker is gone, the next release's takes over, with its
    # process registry (version 2 of the definition).
    monkeypatch.setitem(SPEC_VERSIONS, startup_loan.PROCESS_KEY, SPECS_NEXT)
    monkeypatch.setitem(PROCESSES, startup_loan.PROCESS_KEY, SPEC_V2)
    async with build_worker(
        client, settings, e, adapter=adapter, workflows=RELEASE_NEXT
    ):
        await finish(
            client, e, case_id, "post_loan_followup", "county", "done", followup()
        )
        check = await open_task(e, case_id, "fund_use_check", timeout=30)
        assert check.context["followup_task"] == first.id
        assert check.workflow_id == startup_loan.servicing_id(case_id)
        assert check.title == "贷款资金用途核查"
        seen = {
            "checked_on": "2024-01-20",
            "funds_for_business": True,
            "evidence": "进货票据",
        }
        await finish(client, e, case_id, "fund_use_check", "county", "done", seen)
        await finish(
            client, e, case_id, "post_loan_followup", "county", "done", followup()
        )
        misuse = {**seen, "funds_for_business": False, "evidence": "银行流水"}
        await finish(client, e, case_id, "fund_use_check", "county", "done", misuse)
        proof = await open_task(e, case_id, "repayment_proof", timeout=30)
        assert proof.context["ended"] == "matured"
        assert proof.context["followup_findings"] == [
            "第2次资金用途核查: 贷款未用于创业经营"
        ]
        await close_without_subsidy(client, e, case_id)
        state = await handle.result()
        assert state.status == "closed" and state.spec_version == 1
        checks = tasks(e, case_id, step="fund_use_check", status="completed")
        assert [t.round for t in checks] == [1, 2]

        # A case opened after the release starts on version 2.
        vid, path = a_veteran(e)
        new_id = f"{settings.case_id_prefix}startup_loan-v{vid}-2"
        new = await client.start_workflow(
            StartupLoanWorkflowNext.run,
            StartCaseInput(
                case_id=new_id,
                process="startup_loan",
                veteran_id=vid,
                started_by="county",
                policy=policy,
                spec_version=2,
            ),
            id=new_id,
            task_queue=settings.task_queue,
            search_attributes=case_search_attributes("startup_loan", path, vid),
        )
        await open_task(e, new_id, "demand_registration")
        assert (await new.query(StartupLoanWorkflowNext.get_state)).spec_version == 2
        await new.terminate("test over")

    after = await histories(client, case_id)
    assert len(after) >= 3  # the case and at least two runs of its repayment phase
    # Recorded before the release: replays on both codes.
    await replay(client, ALL_WORKFLOWS, before)
    await replay(client, RELEASE_NEXT, before)
    # Recorded after it (the first run now holds the patch marker): the next code.
    await replay(client, RELEASE_NEXT, after)
    # The case itself did not change: its whole history also replays on today's code.
    await replay(client, ALL_WORKFLOWS, after[:1])
