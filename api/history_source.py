"""Where a case's history comes from: Temporal while it has it, else the app archive."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from api.update_errors import call_temporal, rpc_timeout
from models.tables import HistoryArchive


@dataclass
class LoadedHistory:
    history: WorkflowHistory
    text: str
    source: str  # temporal | archive
    sha256: str

    @property
    def as_dict(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.text)
        return parsed


def _archived(engine: Engine, workflow_id: str) -> HistoryArchive | None:
    with Session(engine) as s:
        return s.get(HistoryArchive, workflow_id)


async def load_history(
    temporal: Client, engine: Engine, workflow_id: str
) -> LoadedHistory | None:
    """The full history of a case; None when neither Temporal nor the archive has it."""
    try:
        # Bounded: a Temporal that does not answer gives 503 with Retry-After.
        history = await call_temporal(
            temporal.get_workflow_handle(workflow_id).fetch_history(
                rpc_timeout=rpc_timeout()
            )
        )
        text = history.to_json()
        return LoadedHistory(
            history, text, "temporal", hashlib.sha256(text.encode()).hexdigest()
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    row = await run_in_threadpool(_archived, engine, workflow_id)
    if row is None:
        return None
    history = WorkflowHistory.from_json(workflow_id, row.history_json)
    return LoadedHistory(history, row.history_json, "archive", row.sha256)


async def replay(loaded: LoadedHistory) -> str | None:
    """Replay a history against today's workflow code; the failure text, or None if clean."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Replayer

    from workflows import ALL_WORKFLOWS

    result = await Replayer(
        workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter
    ).replay_workflow(loaded.history, raise_on_replay_failure=False)
    return str(result.replay_failure) if result.replay_failure else None


def build_ids(history: dict[str, Any]) -> list[str]:
    """The worker build ids that ran the case (the workflow code versions), in order."""
    seen: list[str] = []
    for ev in history.get("events", []):
        attrs = ev.get("workflowTaskCompletedEventAttributes") or {}
        build = (attrs.get("workerVersion") or {}).get("buildId") or (
            attrs.get("deploymentVersion") or {}
        ).get("buildId")
        if build and build not in seen:
            seen.append(build)
    return seen
