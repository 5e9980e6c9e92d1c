"""A closed case's history is archived as Temporal exports it, on SQLite and
PostgreSQL, with the export, its digest and the write off the worker's event loop: a
whole case's history takes the CPU for tens of milliseconds, and on the loop that
would hold up every other case's workflow tasks on the worker (bench/RESULTS.md)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import uuid

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowHistory
from temporalio.exceptions import ApplicationError

from activities import history_archive
from activities.history_archive import HistoryArchiveActivities
from models.contracts import ArchiveHistoryInput
from models.tables import HistoryArchive


async def test_the_export_runs_off_the_event_loop_and_is_stored_once(
    client: Client, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A closed workflow with a history: started, then terminated (no worker needed).
    workflow_id = f"archive-test-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        "NoSuchWorkflow", id=workflow_id, task_queue=f"none-{workflow_id}"
    )
    await handle.terminate("closed for the test")

    exported_on: list[threading.Thread] = []
    to_json = WorkflowHistory.to_json

    def recording_to_json(self: WorkflowHistory) -> str:
        exported_on.append(threading.current_thread())
        return to_json(self)

    monkeypatch.setattr(WorkflowHistory, "to_json", recording_to_json)
    archive = HistoryArchiveActivities(engine, client)
    inp = ArchiveHistoryInput(case_id="case-x", workflow_id=workflow_id, run_id="")
    digest = await archive.archive_history(inp)
    assert exported_on and threading.main_thread() not in exported_on

    with Session(engine) as s:
        row = s.get(HistoryArchive, workflow_id)
    assert row is not None and row.run_id == handle.result_run_id
    assert row.sha256 == digest
    assert digest == hashlib.sha256(row.history_json.encode("utf-8")).hexdigest()
    events = json.loads(row.history_json)["events"]
    assert row.event_count == len(events) >= 3  # started, task scheduled, terminated

    # A retry stores nothing twice and answers the stored digest, though its own
    # export need not be the same text: the server sends a payload's metadata map in
    # no fixed order (here: the same JSON with other whitespace).
    monkeypatch.setattr(WorkflowHistory, "to_json", lambda self: to_json(self) + "\n")
    assert await archive.archive_history(inp) == digest
    with Session(engine) as s:
        again = s.get(HistoryArchive, workflow_id)
    assert again is not None and again.history_json == row.history_json


async def test_an_archive_started_before_the_close_waits_for_it(
    client: Client, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case starts its archive moments before it closes, and the archive's attempt
    may come first: it waits for the close instead of failing ("StillRunning") and
    waiting out a retry; past CLOSE_WAIT_S it fails as before."""
    workflow_id = f"archive-test-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        "NoSuchWorkflow", id=workflow_id, task_queue=f"none-{workflow_id}"
    )
    archive = HistoryArchiveActivities(engine, client)
    inp = ArchiveHistoryInput(case_id="case-y", workflow_id=workflow_id, run_id="")
    attempt = asyncio.create_task(archive.archive_history(inp))
    await asyncio.sleep(0.3)
    assert not attempt.done()  # waiting for the close, not failed
    await handle.terminate("closed while the archive waits")
    digest = await asyncio.wait_for(attempt, 10)
    with Session(engine) as s:
        row = s.get(HistoryArchive, workflow_id)
    assert row is not None and row.sha256 == digest
    assert json.loads(row.history_json)["events"][-1]["eventType"] == (
        "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"
    )

    # A case that does not close within the wait: "StillRunning", retried later.
    still = await client.start_workflow(
        "NoSuchWorkflow", id=f"{workflow_id}-2", task_queue=f"none-{workflow_id}"
    )
    monkeypatch.setattr(history_archive, "CLOSE_WAIT_S", 0.2)
    with pytest.raises(ApplicationError, match="still running"):
        await archive.archive_history(
            ArchiveHistoryInput(case_id="case-z", workflow_id=still.id, run_id="")
        )
    await still.terminate("test over")
