"""Every workflow the worker registers (and the auditor's Replayer knows)."""

from __future__ import annotations

from typing import Any

from workflows.history_archive import ArchiveHistoryWorkflow
from workflows.notice_delivery import DeliverNoticeWorkflow
from workflows.return_home import ReturnHomeWorkflow

ALL_WORKFLOWS: list[type] = [
    ReturnHomeWorkflow,
    ArchiveHistoryWorkflow,
    DeliverNoticeWorkflow,
]
PROCESS_WORKFLOWS: dict[str, Any] = {"return_home": ReturnHomeWorkflow}
