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
# (deterministic, no I/O, no module state that changes after import).
SANDBOX_PASSTHROUGH = (
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
