"""Replays run in separate processes, never in the API's event loop.

``Replayer.replay_workflow`` runs the workflow code in Python and holds the GIL for most
of its time, and so do parsing a history's JSON, writing it out for its SHA-256 and
decrypting its payloads (≈ 80, 50 and 30 ms of a 500-event history): in the API process,
two concurrent replays took other requests' p95 from 12 to 208 ms. A small process
pool, started on the first replay and shut down with the app, does all of that instead,
at a lower CPU priority than the API; each pool process keeps one ``Replayer`` with
every workflow and a copy of the API client's payload codec (its keyring, read again
from the settings when a payload names a key it lacks, as the API's own does).

The API hands over a history from Temporal as stored (a serialized ``History``
protobuf: a fraction of the JSON's size, parsed in C); an archived one it does not
read at all: it names the workflow and the database, and the pool process reads the
archive's row itself (one engine per database and process), so the ≈ 400 KB text
never passes through the API process. Authorising the reader, checking the case's
organisation and recording the replay stay with the API.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Engine
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory
from temporalio.converter import PayloadCodec
from temporalio.worker import Replayer

from models.db import make_engine
from models.payload_codec import (
    AesGcmCodec,
    Keyring,
    PayloadKeyError,
    decode_history,
    keyring_from_settings,
    make_data_converter,
)
from models.settings import Settings
from models.tables import HistoryArchive

# Pool processes run at a lower CPU priority than the API: when cores are short,
# requests go first and replays take what is left (Unix ``nice``; 0 = unchanged).
REPLAY_NICENESS = 10

_T = TypeVar("_T")


@dataclass(frozen=True)
class ReplayOutcome:
    failure: str | None  # None: the history replays clean against today's code
    event_count: int
    sha256: str  # of the history as stored (its JSON, ``WorkflowHistory.to_json``)


_replayer: Replayer | None = None  # one per pool process
_codec: PayloadCodec | None = None
_engines: dict[str, Engine] = {}  # per pool process: database URL -> engine


def portable(codec: PayloadCodec | None) -> PayloadCodec | Keyring | None:
    """What a pool process is given of the API client's codec: the keyring of ours
    (its reload function stays behind), any other codec as it is (it must pickle)."""
    return codec.keyring if isinstance(codec, AesGcmCodec) else codec


def _init_pool_process(
    codec: PayloadCodec | Keyring | None, settings: Settings | None, niceness: int
) -> None:
    global _codec
    if niceness and hasattr(os, "nice"):
        os.nice(niceness)
    if isinstance(codec, Keyring):
        given = codec

        def reload() -> Keyring:
            try:
                return keyring_from_settings(settings) if settings else given
            except PayloadKeyError:
                return given

        codec = AesGcmCodec(given, reload)
    _codec = codec
    _start_replayer()


def _start_replayer() -> Replayer:
    """The process's Replayer (imports every workflow once); it replays histories
    whose payloads are already decrypted."""
    global _replayer
    if _replayer is None:
        from workflows.registry import ALL_WORKFLOWS, workflow_runner

        _replayer = Replayer(
            workflows=ALL_WORKFLOWS,
            data_converter=make_data_converter(None),
            workflow_runner=workflow_runner(),
        )
    return _replayer


def replay_stored(
    workflow_id: str, stored: bytes | str, sha256: str | None
) -> ReplayOutcome:
    """In a pool process: replay a history as stored (a serialized ``History``, or its
    JSON) against today's code, its payloads decrypted with this process's codec.
    ``sha256`` of the stored JSON is computed when None, left out when "" (the JSON
    protobuf writes here orders map entries its own way: a SHA-256 to compare with an
    export is computed in the process that exports)."""
    if isinstance(stored, bytes):
        history = WorkflowHistory(workflow_id, list(History.FromString(stored).events))
    else:
        history = WorkflowHistory.from_json(workflow_id, stored)
    if sha256 is None:
        text = stored if isinstance(stored, str) else history.to_json()
        sha256 = hashlib.sha256(text.encode()).hexdigest()

    async def run() -> str | None:
        decoded = await decode_history(history, _codec)
        result = await _start_replayer().replay_workflow(
            decoded, raise_on_replay_failure=False
        )
        return str(result.replay_failure) if result.replay_failure else None

    return ReplayOutcome(asyncio.run(run()), len(history.events), sha256)


def _archive_engine(database_url: str) -> Engine:
    engine = _engines.get(database_url)
    if engine is None:
        engine = _engines[database_url] = make_engine(database_url)
    return engine


def replay_archived(workflow_id: str, database_url: str) -> ReplayOutcome | None:
    """In a pool process: read the archived history of ``workflow_id`` (its JSON as
    stored and the SHA-256 archived with it) from ``database_url`` and replay it as
    :func:`replay_stored` does; None when the archive has no such row."""
    archive = HistoryArchive.__table__.c  # type: ignore[attr-defined]
    query = select(archive.history_json, archive.sha256).where(
        archive.workflow_id == workflow_id
    )
    with _archive_engine(database_url).connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    text, sha256 = row
    return replay_stored(workflow_id, text, sha256)


class ReplayPool:
    """At most ``processes`` replays at once, each in its own process."""

    def __init__(
        self,
        processes: int,
        codec: PayloadCodec | None,
        settings: Settings | None = None,
        niceness: int = REPLAY_NICENESS,
    ) -> None:
        """``codec``: the API client's (None: payloads as stored); ``settings``: where
        a rotated keyring is read from."""
        self.processes = processes
        self.initargs = (portable(codec), settings, niceness)
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # spawn, not fork: the API process runs threads (Temporal's core
                # runtime, the thread pool) that a forked child would inherit broken.
                self._executor = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_pool_process,
                    initargs=self.initargs,
                )
            return self._executor

    def _drop(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    async def _run(self, fn: Callable[..., _T], *args: object) -> _T:
        """``fn(*args)`` in a pool process. A pool whose process died (killed, out of
        memory) is replaced and the call made once more."""
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._pool()
            try:
                return await loop.run_in_executor(pool, fn, *args)
            except BrokenProcessPool:
                self._drop(pool)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def replay(
        self, workflow_id: str, stored: bytes | str, sha256: str | None = None
    ) -> ReplayOutcome:
        """Replay a history as stored (see :func:`replay_stored`)."""
        return await self._run(replay_stored, workflow_id, stored, sha256)

    async def replay_archived(
        self, workflow_id: str, database_url: str
    ) -> ReplayOutcome | None:
        """Replay the archived history of ``workflow_id``, read by the pool process
        from ``database_url`` (see :func:`replay_archived`); None if not archived."""
        return await self._run(replay_archived, workflow_id, database_url)

    def shutdown(self) -> None:
        """Stop the processes (waits for replays under way)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
