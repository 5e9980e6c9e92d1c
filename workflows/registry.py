"""Every workflow the worker registers (and the auditor's Replayer knows)."""

from __future__ import annotations

from typing import Any

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
