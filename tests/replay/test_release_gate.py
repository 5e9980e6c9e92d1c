"""The release gate itself: it fails on an incompatible workflow change, and the
histories `vetflow histories record` writes are ones it can replay."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from typer.testing import CliRunner

from models.payload_codec import has_encrypted_payloads
from models.settings import load_settings
from tests.replay.test_replay import load
from tests.support import TEST_PAYLOAD_KEYS, current_release, open_task
from tests.workflows.conftest import start_case, veteran_id
from vetflow_cli import app
from worker import build_worker
from workflows.registry import ALL_WORKFLOWS

ROOT = Path(__file__).resolve().parents[2]
# A timer before the first activity: every recorded case starts with that activity, so
# replay must meet a different command at the same point in every ReturnHome history.
INCOMPATIBLE = "await workflow.sleep(1)  # the incompatible change"
GATE_WORKFLOWS = {"ReturnHomeWorkflow", "ComplaintWorkflow"}


def copy_for_replay(dest: Path) -> None:
    """What the replay test needs, and nothing else: the code, the tests' helpers and
    the histories, and pyproject.toml for the pytest settings."""
    patterns = shutil.ignore_patterns("__pycache__", "*.pyc", "test_release_gate.py")

    def skip(directory: str, names: list[str]) -> set[str]:
        # Of the histories, the change's own workflow and one other that runs the same
        # engine (for "nothing else changed"): replaying every release twice here cost
        # a minute of the suite, and the whole set replays in test_replay.py itself.
        ignored = set(patterns(directory, names))
        if Path(directory).parent.name == "histories":
            ignored |= {n for n in names if n not in GATE_WORKFLOWS}
        return ignored

    for pkg in ("workflows", "models", "activities", "tests/replay"):
        shutil.copytree(ROOT / pkg, dest / pkg, ignore=skip)
    for name in ("pyproject.toml", "tests/__init__.py", "tests/support.py"):
        shutil.copy2(ROOT / name, dest / name)


def run_python(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Python in ``cwd`` with only ``cwd`` on PYTHONPATH: the copy shadows the
    editable install of the project."""
    env = {**os.environ, "PYTHONPATH": str(cwd), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )


def replay_outcomes(cwd: Path) -> dict[str, str | None]:
    """Run the copy's replay test; for each history (``<release>/<Workflow>/<scenario>``)
    the failure text, or None when it replayed."""
    report = cwd / "replay-report.xml"
    run = run_python(
        cwd,
        *("-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"),
        "tests/replay/test_replay.py",
    )
    # 0: all passed, 1: some failed; anything else (collection error, crash) is not a verdict.
    assert run.returncode in (0, 1), run.stdout + run.stderr
    outcomes: dict[str, str | None] = {}
    for case in ElementTree.parse(report).iter("testcase"):  # noqa: S314 (our own file)
        name = re.fullmatch(
            r"test_history_replays_without_nondeterminism\[(.+)\]", case.get("name", "")
        )
        if name:
            bad = [*case.iter("failure"), *case.iter("error")]
            outcomes[name[1]] = (
                "\n".join(f"{b.get('message', '')}\n{b.text or ''}" for b in bad)
                if bad
                else None
            )
    assert outcomes, run.stdout + run.stderr
    return outcomes


def test_gate_fails_on_an_incompatible_workflow_change(tmp_path):
    """Other histories may fail for other reasons (work in progress elsewhere): what
    counts is what this change turns from replaying to failing."""
    copy_for_replay(tmp_path)
    imported = run_python(
        tmp_path, "-c", "import workflows, tests.support; print(workflows.__file__)"
    )
    assert imported.returncode == 0, imported.stderr
    assert Path(imported.stdout.strip()).is_relative_to(tmp_path)

    before = replay_outcomes(tmp_path)
    replaying = {t for t, failure in before.items() if failure is None}
    affected = {t for t in replaying if "/ReturnHomeWorkflow/" in t}
    assert affected, f"no ReturnHomeWorkflow history replays unchanged: {before}"
    assert replaying - affected, f"no other history to stay unchanged: {before}"

    source = tmp_path / "workflows" / "return_home.py"
    text = source.read_text(encoding="utf-8")
    assert "from temporalio import workflow" in text
    changed, count = re.subn(
        r"^(\s*)(.*await self\.register_case\(\).*)$",
        rf"\g<1>{INCOMPATIBLE}\n\g<1>\g<2>",
        text,
        flags=re.M,
    )
    assert count == 1, "return_home.py no longer calls self.register_case() once"
    source.write_text(changed, encoding="utf-8")

    after = replay_outcomes(tmp_path)
    assert after.keys() == before.keys()
    for test_id in affected:
        assert "[TMPRL1100] Nondeterminism error" in (after[test_id] or ""), (
            test_id,
            after[test_id],
        )
    # Nothing else changed its verdict: the failures are the change's.
    assert {t for t in replaying if after[t] is None} == replaying - affected


async def test_recorded_histories_replay_and_are_never_rewritten(
    client: Client,
    temporal_env: WorkflowEnvironment,
    settings,
    seeded_engine,
    tmp_path,
    monkeypatch,
):
    out = tmp_path / "histories"
    # The CLI reads its keyring from the environment, like every vetflow process.
    monkeypatch.setenv("VETFLOW_PAYLOAD_KEYS", TEST_PAYLOAD_KEYS)
    load_settings.cache_clear()
    release = current_release()
    async with build_worker(client, settings, seeded_engine):
        handle = await start_case(
            client, settings, veteran_id(seeded_engine, party_member=False)
        )
        try:
            await open_task(seeded_engine, handle.id, "archive_review")
            query = f'WorkflowId = "{handle.id}"'
            for _ in range(100):  # visibility is eventually consistent
                if [wf async for wf in client.list_workflows(query)]:
                    break
                await asyncio.sleep(0.1)
            args = [
                *("histories", "record", "--release", release, "--out", str(out)),
                *("--query", query, "--namespace", "default"),
                *("--address", temporal_env.client.service_client.config.target_host),
            ]
            first = await asyncio.to_thread(CliRunner().invoke, app, args)
            assert first.exit_code == 0, first.output
            assert "wrote 1 histories" in first.output

            files = sorted(out.rglob("*.json"))
            assert len(files) == 1
            path = files[0]
            assert path.parent == out / release / "ReturnHomeWorkflow"
            assert path.name.endswith(f"__{handle.id}.json")
            content = path.read_bytes()

            # Written decrypted: it replays with no key at all.
            replayer = Replayer(
                workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter
            )
            history = load(path)  # read back exactly as the gate reads it
            assert not has_encrypted_payloads(history)
            assert has_encrypted_payloads(await handle.fetch_history())
            assert history.workflow_id == handle.id
            assert len(history.events) > 5
            await replayer.replay_workflow(history)

            again = await asyncio.to_thread(CliRunner().invoke, app, args)
            assert again.exit_code == 0, again.output
            assert "wrote 0 histories" in again.output
            assert sorted(out.rglob("*.json")) == files
            assert path.read_bytes() == content
        finally:
            await handle.terminate("test over")
            load_settings.cache_clear()  # the next test reads its own environment
