"""Where a case's history comes from: Temporal while it has it, else the app archive.

Both hold the history as stored: its payloads encrypted (models/payload_codec.py). A
:class:`LoadedHistory` keeps that text (and its SHA-256) and, beside it, the history with
its payloads decoded by the Temporal client's codec, which the timeline reads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from api.replay_pool import ReplayOutcome, ReplayPool
from api.update_errors import call_temporal, rpc_timeout
from models.payload_codec import decode_history, has_encrypted_payloads
from models.tables import HistoryArchive


@dataclass
class LoadedHistory:
    history: WorkflowHistory  # as stored (encrypted payloads)
    text: str  # as stored: `WorkflowHistory.to_json`
    source: str  # temporal | archive
    sha256: str  # of ``text``
    decoded: WorkflowHistory  # the same history, payloads decrypted
    encrypted: bool  # the stored history has encrypted payloads

    @cached_property
    def decoded_text(self) -> str:
        """``decoded`` as JSON (made when first asked: a replay does not need it)."""
        return self.text if self.decoded is self.history else self.decoded.to_json()

    @property
    def as_dict(self) -> dict[str, Any]:
        """The history with its payloads decrypted (what the timeline reads)."""
        parsed: dict[str, Any] = json.loads(self.decoded_text)
        return parsed

    @property
    def stored_dict(self) -> dict[str, Any]:
        """The history as stored, payloads encrypted."""
        parsed: dict[str, Any] = json.loads(self.text)
        return parsed

    @property
    def decoded_sha256(self) -> str:
        return hashlib.sha256(self.decoded_text.encode()).hexdigest()


async def _loaded(
    temporal: Client, history: WorkflowHistory, text: str, source: str, sha256: str
) -> LoadedHistory:
    decoded = await decode_history(history, temporal.data_converter.payload_codec)
    return LoadedHistory(
        history,
        text,
        source,
        sha256,
        decoded,
        has_encrypted_payloads(history),
    )


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
        return await _loaded(
            temporal,
            history,
            text,
            "temporal",
            hashlib.sha256(text.encode()).hexdigest(),
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    row = await run_in_threadpool(_archived, engine, workflow_id)
    if row is None:
        return None
    history = WorkflowHistory.from_json(workflow_id, row.history_json)
    return await _loaded(temporal, history, row.history_json, "archive", row.sha256)


def _sha256_of(history: WorkflowHistory) -> str:
    return hashlib.sha256(history.to_json().encode()).hexdigest()


def _serialized(history: WorkflowHistory) -> bytes:
    return History(events=history.events).SerializeToString()


async def replay(loaded: LoadedHistory, pool: ReplayPool) -> str | None:
    """Replay a loaded history against today's workflow code in the replay pool's
    processes (not in this event loop); the failure text, or None if clean."""
    outcome = await pool.replay(
        loaded.history.workflow_id, _serialized(loaded.history), loaded.sha256
    )
    return outcome.failure


async def replay_history(
    temporal: Client, engine: Engine, workflow_id: str, pool: ReplayPool
) -> tuple[str, ReplayOutcome] | None:
    """Replay a case's history from Temporal while it has it, else from the archive
    (its source and the outcome); None when neither has it. Only Temporal's fetch
    happens in this process: the pool reads the archive's row, and parses, decrypts
    and replays."""
    try:
        history = await call_temporal(
            temporal.get_workflow_handle(workflow_id).fetch_history(
                rpc_timeout=rpc_timeout()
            )
        )
        # The SHA-256 of the history written out in this process, as the export says
        # (protobuf writes map entries in a per-process order), in a thread meanwhile.
        digest, outcome = await asyncio.gather(
            run_in_threadpool(_sha256_of, history),
            pool.replay(workflow_id, _serialized(history), ""),
        )
        return "temporal", dataclasses.replace(outcome, sha256=digest)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    url = _shared_url(engine)
    if url is None:  # a database only this process sees: read the row here
        row = await run_in_threadpool(_archived, engine, workflow_id)
        if row is None:
            return None
        return "archive", await pool.replay(workflow_id, row.history_json, row.sha256)
    archived = await pool.replay_archived(workflow_id, url)
    return None if archived is None else ("archive", archived)


def _shared_url(engine: Engine) -> str | None:
    """The URL another process opens ``engine``'s database by; None for an in-memory
    SQLite database, which only this process sees."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    return url.render_as_string(hide_password=False)


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
