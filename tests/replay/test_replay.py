"""The release gate: every recorded history of every release replays against today's code.

Histories live in ``histories/<release>/<Workflow>/<scenario>__<workflow_id>.json``.
Cases started under an old release are still in flight when the next one deploys, so a
change to a workflow that would break them fails here: guard it with
``workflow.patched(...)`` and record new histories into the current release's folder —
never re-record or delete an old release's history to make this pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from models.payload_codec import make_data_converter
from tests.support import HISTORY_DIR, suite_codec
from workflows.registry import ALL_WORKFLOWS, workflow_runner

HISTORIES = sorted(HISTORY_DIR.glob("*/*/*.json"))


def release_of(path: Path) -> str:
    return path.parent.parent.name


def scenario_of(path: Path) -> str:
    return path.stem.split("__", 1)[0]


def history_id(path: Path) -> str:
    """``<release>/<Workflow>/<scenario>``: the test id of one history."""
    return f"{release_of(path)}/{path.parent.name}/{scenario_of(path)}"


def load(path: Path) -> WorkflowHistory:
    # The workflow id is part of the name: replay needs it (child ids derive from it).
    workflow_id = path.stem.split("__", 1)[1]
    return WorkflowHistory.from_json(workflow_id, path.read_text(encoding="utf-8"))


def test_histories_follow_the_release_layout():
    stray = [
        str(p.relative_to(HISTORY_DIR))
        for p in HISTORY_DIR.rglob("*.json")
        if p not in HISTORIES or "__" not in p.stem
    ]
    assert HISTORIES
    assert not stray, f"not <release>/<Workflow>/<scenario>__<id>.json: {stray}"


def test_histories_exist_for_every_workflow():
    """Over all releases together: a workflow added after a release has none there."""
    recorded = {p.parent.name for p in HISTORIES}
    missing = {wf.__name__ for wf in ALL_WORKFLOWS} - recorded
    assert not missing, f"no recorded history in any release: {sorted(missing)}"


@pytest_asyncio.fixture(scope="module")
async def replay_failures() -> dict[Path, Exception | None]:
    """Replay every history once, in one shared Replayer (one replay worker for all),
    with the encrypting converter: histories recorded unencrypted pass through its codec."""
    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        data_converter=make_data_converter(suite_codec()),
        workflow_runner=workflow_runner(),
    )
    histories = [load(p) for p in HISTORIES]

    async def feed():
        for history in histories:
            yield history

    failures: list[Exception | None] = []
    async with replayer.workflow_replay_iterator(feed()) as results:
        async for result in results:
            failures.append(result.replay_failure)
    assert len(failures) == len(HISTORIES)
    return dict(zip(HISTORIES, failures, strict=True))


@pytest.mark.parametrize("path", HISTORIES, ids=[history_id(p) for p in HISTORIES])
async def test_history_replays_without_nondeterminism(
    path: Path, replay_failures: dict[Path, Exception | None]
):
    failure = replay_failures[path]
    assert failure is None, f"{path.relative_to(HISTORY_DIR)}: {failure}"
