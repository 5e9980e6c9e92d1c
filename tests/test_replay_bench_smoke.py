"""The replay bench's own parts (bench/replay_bench.py), without timing anything: its
percentile, arguments, the archived case it replays and the report it prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, select

import models.tables  # noqa: F401
from bench.replay_bench import (
    BENCH_CASE,
    ModeResult,
    archive_case,
    parse_args,
    percentile,
    recorded_history,
    report,
)
from models.db import make_engine
from models.demo import seed_demo
from models.tables import Case, HistoryArchive, HumanTask


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95
    assert percentile([], 95) == 0


def test_arguments() -> None:
    args = parse_args([])
    assert (args.replays, args.gets, args.rounds) == (8, 150, 3)
    assert args.modes == ["process", "inline", "thread"]
    assert parse_args(["--modes", "process"]).modes == ["process"]
    with pytest.raises(SystemExit):
        parse_args(["--modes", "fork"])


def test_the_archived_case_and_its_task(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/b.db")
    SQLModel.metadata.create_all(engine)
    seed_demo(engine)
    workflow_id, text = recorded_history()
    task_id = archive_case(engine, workflow_id, text)
    with Session(engine) as s:
        case = s.get(Case, BENCH_CASE)
        row = s.exec(select(HistoryArchive)).one()
        task = s.get(HumanTask, task_id)
    engine.dispose()
    assert case is not None and case.workflow_id == workflow_id
    assert row.event_count == len(json.loads(text)["events"]) > 200
    assert task is not None and task.case_id == BENCH_CASE


def test_report_says_whether_the_goal_is_met() -> None:
    ok = ModeResult("process", 2.0, [5.0] * 19 + [6.0], [6.0] * 19 + [8.0], 4)
    late = ModeResult("inline", 3.0, [5.0] * 20, [20.0] * 18 + [300.0] * 2, 9)
    assert ok.summary()["p95_ratio"] == 1.2 and ok.summary()["goal_met"]
    assert not late.summary()["goal_met"]
    text = report(4.0, [ok, late])
    assert "4.00 replays/s" in text
    assert "| process | 2.00 (0.50×) | 5 / 5 ms | 6 / 6 ms | 1.20× ok |" in text
    assert "60.00× MISSED" in text
    assert json.loads(text.splitlines()[-1])["mode"] == "inline"
