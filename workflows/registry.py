"""Every workflow the worker registers (and the auditor's Replayer knows)."""

from __future__ import annotations

from typing import Any

from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowRunner

from workflows.annual_review import AnnualReviewWorkflow
from workflows.campaign import (
    AnnualReviewCampaignWorkflow,
    OpenAnnualReviewCampaignWorkflow,
)
from workflows.complaint import ComplaintWorkflow
from workflows.history_archive import ArchiveHistoryWorkflow
from workflows.monthly_pay import MonthlyPayWorkflow, OpenMonthlyPayWorkflow
from workflows.notice_delivery import DeliverNoticeWorkflow
from workflows.retiree_aftercare import (
    RetireeAftercareWorkflow,
    RetireeLostContactWorkflow,
    SurvivorAllowanceWorkflow,
)
from workflows.return_home import ReturnHomeWorkflow
from workflows.startup_loan import LoanServicingWorkflow, StartupLoanWorkflow

ALL_WORKFLOWS: list[type] = [
    ReturnHomeWorkflow,
    ArchiveHistoryWorkflow,
    DeliverNoticeWorkflow,
    MonthlyPayWorkflow,
    OpenMonthlyPayWorkflow,
    AnnualReviewWorkflow,
    AnnualReviewCampaignWorkflow,
    OpenAnnualReviewCampaignWorkflow,
    StartupLoanWorkflow,
    LoanServicingWorkflow,
    RetireeAftercareWorkflow,
    SurvivorAllowanceWorkflow,
    RetireeLostContactWorkflow,
    ComplaintWorkflow,
]
PROCESS_WORKFLOWS: dict[str, Any] = {
    "monthly_pay": MonthlyPayWorkflow,
    "return_home": ReturnHomeWorkflow,
    "annual_review": AnnualReviewWorkflow,
    "startup_loan": StartupLoanWorkflow,
    "retiree_aftercare": RetireeAftercareWorkflow,
    "retiree_lost_contact": RetireeLostContactWorkflow,
    "complaint": ComplaintWorkflow,
}

# Workflows run without Temporal's sandbox (``UnsandboxedWorkflowRunner``). Release 0.8.0
# had already passed every module vetflow's workflows import through the sandbox
# (``workflows``, pydantic, the contracts and process definitions), so the sandbox's
# run-time checks no longer applied to any of vetflow's code; what it still cost was a
# trip into the sandbox for every activation and for every payload's serialization
# context (the SDK compiles and runs a snippet in the sandbox each time): a third of a
# full return-home case's CPU in bench/task_bench.py (1.54 -> 1.04 s per case, the
# floor's 0.69 -> 0.49 s with the same runner). Determinism rests, as it did, on
# tests/test_architecture.py (no wall clock, randomness, threads or I/O imports in
# workflows/, no function rebinding a module global) and on the replay gate, which
# replays every released history in CI with this runner.


def workflow_runner() -> WorkflowRunner:
    """The runner every worker and Replayer of vetflow runs workflows with (the replay
    gate and the auditor's replay use the same one as production)."""
    return UnsandboxedWorkflowRunner()
