"""The campaign bench's own parts (bench/campaign_bench.py), without timing anything:
its percentile, the registry rows it inserts, the /proc parsing, the history tally and
the report it prints."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import (
    HistoryEvent,
    StartChildWorkflowExecutionInitiatedEventAttributes,
)

from bench.campaign_bench import (
    CATEGORY,
    Result,
    bench_id_number,
    parse_args,
    percentile,
    populate,
    proc_status_kb,
    tally_history,
    veteran_rows,
)
from models.db import make_engine
from models.idnumber import validate_id_number
from models.processes import annual_review
from models.tables import OrgUnit, Veteran


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 100) == 100
    assert percentile([7.0], 95) == 7
    assert percentile([], 95) == 0


def test_bench_id_numbers_are_valid_distinct_and_not_the_demos() -> None:
    numbers = [bench_id_number(i) for i in range(0, 30_000, 3)]
    assert len(set(numbers)) == len(numbers)
    assert all(validate_id_number(n) == n for n in numbers[:500])
    assert not any(n.startswith("370102") for n in numbers)


def test_veteran_rows_spread_over_units_with_the_party_share() -> None:
    rows = veteran_rows(400, [5, 6, 7, 8], 0.25)
    assert len(rows) == 400
    assert CATEGORY == annual_review.CATEGORY  # the bench's copy stays the process's
    assert {r["category"] for r in rows} == {CATEGORY}
    assert [r["org_unit_id"] for r in rows[:5]] == [5, 6, 7, 8, 5]
    assert sum(r["party_member"] for r in rows) == 100
    assert not any(r["party_member"] for r in veteran_rows(10, [1], 0))


def test_proc_status_fields() -> None:
    text = "Name:\tpython\nVmHWM:\t  412345 kB\nVmRSS:\t  300000 kB\n"
    assert proc_status_kb(text, "VmHWM") == 412345
    assert proc_status_kb(text, "VmRSS") == 300000
    assert proc_status_kb(text, "VmSwap") == 0


def test_history_tally_counts_activities_and_children() -> None:
    events = [
        HistoryEvent(event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
        HistoryEvent(event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        HistoryEvent(event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        HistoryEvent(
            event_type=EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
            start_child_workflow_execution_initiated_event_attributes=(
                StartChildWorkflowExecutionInitiatedEventAttributes(
                    workflow_id="notice-x:link1"
                )
            ),
        ),
    ]
    assert tally_history(events) == (4, 2, ["notice-x:link1"])


def test_populate_adds_the_veterans_to_the_demo(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bench.db"
    assert populate(url, 40, 0.25) == 41  # and 刘洋 of the demo
    engine = make_engine(url)
    with Session(engine) as s:
        units = {
            u.id: u.level
            for u in s.exec(select(OrgUnit)).all()
            if u.level in ("village", "township")
        }
        bench = s.exec(
            select(Veteran).where(col(Veteran.id_number).startswith("371000"))
        ).all()
    engine.dispose()
    assert len(bench) == 40
    assert {v.org_unit_id for v in bench} == set(units)


def test_report_table_and_json_line() -> None:
    assert vars(parse_args([])) | {"year": 0} == vars(parse_args([])) | {
        "veterans": 10_000,
        "batch_size": 200,
        "workers": 1,
        "database": "sqlite",
        "year": 0,
    }
    r = Result(300, 200, 1, "sqlite", members=301, phases=["floor", "campaign"])
    r.floor_s, r.open_s, r.started_s = 20.0, 50.0, 48.0
    r.worker_rss_peak_mb = [271.5]
    r.inbox_ms = [10.0, 12.0, 30.0, 90.0]
    r.per_case = {"workflows": 2.0, "activities": 6.2, "events": 61.0}
    summary = json.loads(json.dumps(r.summary()))
    assert summary["vs_floor"] == 2.5
    assert summary["goal_open_met"] and summary["goal_rss_met"]
    assert summary["inbox_p95_ms"] == 90.0
    table = r.table()
    assert "50.0 s" in table and "≤ 120 s" in table and "272 MB" in table
    assert "MISSED" not in table
    late = Result(300, 200, 1, "sqlite", members=301, phases=["campaign"])
    late.open_s = 130.0
    assert "MISSED" in late.table()
    assert not late.summary()["goal_open_met"]
