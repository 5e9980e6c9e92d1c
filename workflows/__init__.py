"""Every workflow the worker registers (and the auditor's Replayer knows)."""

from __future__ import annotations

from typing import Any

from workflows.annual_review import AnnualReviewWorkflow
from workflows.campaign import (
    AnnualReviewCampaignWorkflow,
    OpenAnnualReviewCampaignWorkflow,
)
from workflows.history_archive import ArchiveHistoryWorkflow
from workflows.notice_delivery import DeliverNoticeWorkflow
from workflows.return_home import ReturnHomeWorkflow

ALL_WORKFLOWS: list[type] = [
    ReturnHomeWorkflow,
    ArchiveHistoryWorkflow,
    DeliverNoticeWorkflow,
    AnnualReviewWorkflow,
    AnnualReviewCampaignWorkflow,
    OpenAnnualReviewCampaignWorkflow,
]
PROCESS_WORKFLOWS: dict[str, Any] = {
    "return_home": ReturnHomeWorkflow,
    "annual_review": AnnualReviewWorkflow,
}
