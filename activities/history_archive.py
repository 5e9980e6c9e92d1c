"""Keep a closed case's full Temporal history in the app database.

Temporal deletes a closed workflow's history after the namespace retention (24 h on the
dev server); auditors need it for years. The archive stores the JSON exactly as
exported, with its SHA-256: payloads stay encrypted as Temporal holds them
(models/payload_codec.py), and readers decode them with the keyring
(api/history_source.py, activities/projection.py).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowHistoryEventFilterType,
)
from temporalio.exceptions import ApplicationError

from models.contracts import ArchiveHistoryInput
from models.db import session_scope
from models.tables import HistoryArchive

log = structlog.get_logger(__name__)

# How long one attempt waits for the case to close: under the activity's 60 s
# start-to-close timeout (workflows/history_archive.py); then "StillRunning" and a retry.
CLOSE_WAIT_S = 45.0


async def _closed(handle: WorkflowHandle[Any, Any]) -> None:
    """Return once the workflow run has closed (a long poll for its close event)."""
    async for _ in handle.fetch_history_events(
        wait_new_event=True,
        event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT,
    ):
        return


class HistoryArchiveActivities:
    def __init__(self, engine: Engine, client: Client) -> None:
        self.engine = engine
        self.client = client

    @activity.defn
    async def archive_history(self, inp: ArchiveHistoryInput) -> str:
        """Store the case's history once its workflow has closed: an attempt waits up
        to CLOSE_WAIT_S for the close, and is retried until it has come."""
        handle = self.client.get_workflow_handle(
            inp.workflow_id, run_id=inp.run_id or None
        )
        desc = await handle.describe()
        if (
            desc.raw_description.workflow_execution_info.status
            == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
        ):
            # The case starts its archive moments before it closes: wait for the
            # close (a long poll on the server) rather than fail and retry later.
            try:
                await asyncio.wait_for(_closed(handle), CLOSE_WAIT_S)
            except TimeoutError:
                raise ApplicationError(
                    "the case workflow is still running", type="StillRunning"
                ) from None
        history = await handle.fetch_history()
        # The export, its digest and the write in a thread: a whole case's history
        # takes the CPU for tens of milliseconds, which on the event loop would hold
        # up every other case's workflow tasks and local writes on this worker.
        count, digest = await asyncio.to_thread(
            self._store, inp, desc.run_id or "", history
        )
        log.info("history_archived", case_id=inp.case_id, events=count, sha256=digest)
        return digest

    def _store(
        self, inp: ArchiveHistoryInput, run_id: str, history: WorkflowHistory
    ) -> tuple[int, str]:
        """Export ``history`` as JSON and store it once; (its events, its SHA-256).
        A retry after the row was stored answers the stored row's figures: two
        exports of one history need not be the same text (the server sends a payload's
        metadata map in no fixed order), and the digest the case records
        must be the one of the JSON an auditor reads back."""
        text = history.to_json()
        count = len(history.events)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        with session_scope(self.engine) as session:
            stored = session.get(HistoryArchive, inp.workflow_id)
            if stored is not None:
                return stored.event_count, stored.sha256
            session.add(
                HistoryArchive(
                    workflow_id=inp.workflow_id,
                    run_id=run_id,
                    case_id=inp.case_id,
                    event_count=count,
                    sha256=digest,
                    history_json=text,
                )
            )
        return count, digest
