"""Every workflow the worker registers (and the auditor's Replayer knows)."""

from __future__ import annotations

from typing import Any

from temporalio.worker.workflow_sandbox import (
    SandboxedWorkflowRunner,
    SandboxRestrictions,
)

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

# Imported once for every workflow instance instead of again inside each sandbox:
# pydantic and the shared contracts and process definitions the workflows read
# (deterministic, no I/O, no module state that changes after import), and vetflow's own
# workflow modules, ``workflows`` (the engine and the processes). Re-imported per
# instance they were most of the worker's workflow CPU: replaying the 0.8.0 return-home
# histories cost 313-326 ms each with them sandboxed, 145-161 ms with only the engine
# passed through and 82 ms with the package; a short case's history 109 -> 32 ms, most of
# it the per-instance import every case start pays. Code in a passed-through module runs
# without the sandbox's run-time checks, so determinism rests on
# tests/test_architecture.py (no wall clock, randomness, threads or I/O imports in
# workflows/, no function rebinding a module global) and on the replay gate, which
# replays every released history in CI.
SANDBOX_PASSTHROUGH = (
    "workflows",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "models.contracts",
    "models.process_spec",
    "models.forms",
    "models.processes",
    "models.complaint_contracts",
    "models.loan_contracts",
    "models.aftercare_contracts",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox every worker and Replayer of vetflow runs workflows in (the replay
    gate and the auditor's replay use the same one as production)."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            *SANDBOX_PASSTHROUGH
        )
    )
