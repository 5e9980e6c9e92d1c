"""bench/task_bench.py runs end to end, tiny (its own dev server, one case), and prints
every row beside its floor; its report's arithmetic without running anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.task_bench import Result, Row, parse_args, step_action

ROOT = Path(__file__).resolve().parent.parent


def test_report_rows_and_ratios() -> None:
    assert vars(parse_args([])) == {
        "rounds": 180,
        "cases": 16,
        "clerks": 16,
        "starts": 64,
        "keep": False,
    }
    r = Result(10, 4, 4)
    r.latency = [Row("raw_update", 20.0, 50.0), Row("api_complete", 60.0, 90.0)]
    r.actions_per_case, r.vetflow_actions_s, r.floor_actions_s = 18.0, 30.0, 40.0
    r.vetflow_cpu_case_s, r.floor_cpu_case_s = 1.0, 0.8
    r.vetflow_starts_s, r.floor_starts_s = 60.0, 90.0
    summary = json.loads(json.dumps(r.summary()))
    assert summary["complete_vs_raw_p95"] == 1.8
    assert summary["throughput_vs_floor"] == 0.75
    assert summary["cpu_vs_floor"] == 1.25
    table = r.table()
    assert "1.80× | ≤ 2.0× met" in table
    assert "0.75× | ≥ 0.8× MISSED" in table
    assert "≥ 50/s met" in table


def test_every_step_has_an_outcome() -> None:
    assert step_action("archive_review") == ("approve", {})
    assert step_action("hukou")[0] == "done"


def test_a_tiny_run_prints_every_row() -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "task_bench.py"),
            "--rounds",
            "3",
            "--cases",
            "1",
            "--clerks",
            "1",
            "--starts",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    for row in (
        "| raw_update |",
        "| update_with_activity |",
        "| update_with_local_activity |",
        "| api_complete |",
        "| complete_task_update |",
        "| complete p95 vs raw Update p95 |",
        "| complete p95 vs an Update with one local write, p95 |",
        "| actions/s, 1 clerks",
        "| CPU per case",
        "| case starts/s",
    ):
        assert row in out, out
    # Each timed step's p50 and max, in the case's order, from its first step on.
    assert "api_complete by step, p50/max ms: file_receipt " in run.stderr
    assert "complete_task_update by step, p50/max ms: file_receipt " in run.stderr
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["actions_per_case"] > 10  # a whole case, closed
    assert summary["cpu_per_case_s"][0] > 0 and summary["cpu_per_case_s"][1] > 0
