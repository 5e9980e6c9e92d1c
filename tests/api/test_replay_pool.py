"""Replays run in the API's process pool (api/replay_pool.py), not in its event loop:
a recorded history replays clean there, a tampered one reports its failure, and the
event loop keeps turning while two replays run."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import WorkflowHistory

from api.replay_pool import ReplayPool
from models.payload_codec import decode_history
from tests.support import HISTORY_DIR, TEST_PAYLOAD_KEYS, suite_codec

RECORDED = next(
    iter(sorted(HISTORY_DIR.glob("0.3.0/ReturnHomeWorkflow/full_case_with_returns__*")))
)


async def decoded(path: Path) -> tuple[str, str]:
    """(workflow id, history JSON with its payloads decrypted), as the API sends."""
    workflow_id = path.stem.split("__", 1)[1]
    stored = WorkflowHistory.from_json(workflow_id, path.read_text(encoding="utf-8"))
    return workflow_id, (await decode_history(stored, suite_codec())).to_json()


def tampered(history_json: str) -> str:
    """The first scheduled activity renamed: today's code schedules another."""
    history = json.loads(history_json)
    for event in history["events"]:
        attrs = event.get("activityTaskScheduledEventAttributes")
        if attrs:
            attrs["activityType"]["name"] = "not_what_the_code_does"
            break
    else:
        pytest.fail("no scheduled activity in the recorded history")
    return json.dumps(history)


@pytest_asyncio.fixture
async def pool():
    pool = ReplayPool(2)
    yield pool
    await asyncio.to_thread(pool.shutdown)


async def test_pool_replays_clean_and_reports_a_failure(pool):
    workflow_id, text = await decoded(RECORDED)
    assert await pool.replay(workflow_id, text) is None
    failure = await pool.replay(workflow_id, tampered(text))
    assert failure and "not_what_the_code_does" in failure


async def test_event_loop_keeps_turning_while_two_replays_run(pool):
    workflow_id, text = await decoded(RECORDED)
    await pool.replay(workflow_id, text)  # the processes started and warm
    gaps: list[float] = []
    replays = asyncio.gather(*(pool.replay(workflow_id, text) for _ in range(2)))
    last = time.perf_counter()
    while not replays.done():
        await asyncio.sleep(0.005)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    assert await replays == [None, None]
    # In the loop, one replay of this history holds it for ≈ 150–300 ms.
    assert len(gaps) > 5 and max(gaps) < 0.1, max(gaps)


def test_the_replay_bench_decrypts_the_recorded_histories():
    from bench.replay_bench import recorded_keyring

    assert recorded_keyring() == TEST_PAYLOAD_KEYS
