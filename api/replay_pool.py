"""Replays run in separate processes, never in the API's event loop.

``Replayer.replay_workflow`` runs the workflow code in Python and holds the GIL for most
of its time: in the API process, two concurrent replays took other requests' p95 from
12 to 208 ms (bench/replay_bench.py measures it). A small process pool, started on the
first replay and shut down with the app, runs them instead, at a lower CPU priority
than the API; each pool process keeps one ``Replayer`` with every workflow.

The pool is given the history with its payloads already decrypted by the API
(``LoadedHistory.decoded_text``), so the payload keys never leave the API process and
the pool replays with the plain pydantic converter.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from models.payload_codec import make_data_converter

_replayer: Replayer | None = None  # one per pool process


def _start_process() -> Replayer:
    """Pool initializer: the process's Replayer (imports every workflow once)."""
    global _replayer
    if _replayer is None:
        from workflows.registry import ALL_WORKFLOWS

        _replayer = Replayer(
            workflows=ALL_WORKFLOWS, data_converter=make_data_converter(None)
        )
    return _replayer


def replay_decoded(workflow_id: str, history_json: str) -> str | None:
    """In a pool process: replay a history (payloads decrypted) against today's code;
    the failure text, or None when it replays clean."""
    history = WorkflowHistory.from_json(workflow_id, history_json)
    result = asyncio.run(
        _start_process().replay_workflow(history, raise_on_replay_failure=False)
    )
    return str(result.replay_failure) if result.replay_failure else None


# Pool processes run at a lower CPU priority than the API: when cores are short,
# requests go first and replays take what is left (Unix ``nice``; 0 = unchanged).
REPLAY_NICENESS = 10


def _init_pool_process() -> None:
    if REPLAY_NICENESS and hasattr(os, "nice"):
        os.nice(REPLAY_NICENESS)
    _start_process()


class ReplayPool:
    """At most ``processes`` replays at once, each in its own process."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
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
                )
            return self._executor

    def _drop(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    async def replay(self, workflow_id: str, history_json: str) -> str | None:
        """The failure text, or None when the history replays clean. A pool whose
        process died (killed, out of memory) is replaced and the replay run once more."""
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._pool()
            try:
                return await loop.run_in_executor(
                    pool, replay_decoded, workflow_id, history_json
                )
            except BrokenProcessPool:
                self._drop(pool)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def shutdown(self) -> None:
        """Stop the processes (waits for replays under way)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
