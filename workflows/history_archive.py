"""Archive a closed case's history into the app database (started by the case itself
as an abandoned child just before it closes)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.history_archive import HistoryArchiveActivities
    from models.contracts import ArchiveHistoryInput


@workflow.defn
class ArchiveHistoryWorkflow:
    """Waits until the case workflow has closed, then stores its full history."""

    @workflow.run
    async def run(self, inp: ArchiveHistoryInput) -> str:
        return await workflow.execute_activity_method(
            HistoryArchiveActivities.archive_history,
            inp,
            start_to_close_timeout=timedelta(seconds=60),
            # "StillRunning" is retried: the parent completes moments after starting us.
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=500),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(seconds=30),
            ),
        )
