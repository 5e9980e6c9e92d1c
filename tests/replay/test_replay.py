"""Every recorded history under tests/replay/histories/ replays against today's code.

A change to a workflow that would break cases in flight fails here: guard it with
``workflow.patched(...)`` and record a new history next to the old ones — never
re-record an old history to make this pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows import ALL_WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").rglob("*.json"))


def test_histories_exist_for_every_workflow():
    recorded = {p.parent.name for p in HISTORIES}
    assert {wf.__name__ for wf in ALL_WORKFLOWS} <= recorded


@pytest.mark.parametrize(
    "path",
    HISTORIES,
    ids=[f"{p.parent.name}/{p.stem.split('__')[0]}" for p in HISTORIES],
)
async def test_history_replays_without_nondeterminism(path: Path):
    workflow_id = path.stem.split("__", 1)[1]
    history = WorkflowHistory.from_json(workflow_id, path.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
