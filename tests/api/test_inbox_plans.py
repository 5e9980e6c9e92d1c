"""The inbox and task-list queries use the indexes made for them (models/tables.py,
migration 0009), checked with EXPLAIN on the statements the code sends.

PostgreSQL: the migrated schema, a county seeded as bench/inbox_bench.py seeds it (300
villages under 20 townships, clerks at every level, a few thousand tasks) and
ANALYZE; the database collation is not C (the suite's server runs C.UTF-8, the bench
ICU), so ``org_path LIKE '/1/2/%'`` can use only the ``varchar_pattern_ops`` indexes.
No planner switch is turned off: a plan must pick the index on cost. SQLite: the
per-case poll reads the (case_id, status) index, not the status index it used to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.case_queries import case_tasks, list_tasks
from api.deps import AuthUser, load_user
from api.inbox_queries import TABS, InboxFilters, inbox_page
from bench.inbox_bench import seed_county
from models.db import make_engine
from models.migrate import upgrade_database
from models.tables import HumanTask, OrgUnit
from tests.support import SQLITE_ONLY

NOW = datetime.now(UTC)
STATUS_PATH = {"ix_human_task_status_path_due", "ix_human_task_status_due_path"}
# A small subtree's tasks of any status.
SUBTREE = {"ix_human_task_status_path_due", "ix_human_task_org_path"}
# The indexes each read may use: every access to human_task must be one of them. A
# village's few rows may come through the subtree's path; a county clerk's (the whole
# table) only through the index made for the read (COUNTY).
INTENDED = {
    "claimable": {"ix_human_task_claimable", *STATUS_PATH, *SUBTREE},
    "mine": {"ix_human_task_assignee_status_due", *SUBTREE},
    "done": {"ix_human_task_completed_by_status_due", *SUBTREE},
    "api_open": {*STATUS_PATH, *SUBTREE},
    "api_mine": {"ix_human_task_assignee_status_due", *SUBTREE},
    "case_poll": {"ix_human_task_case_status"},
    "case_tasks": {"ix_human_task_case_status"},
}
COUNTY = {
    "claimable": {"ix_human_task_claimable", "ix_human_task_status_due_path"},
    "mine": {"ix_human_task_assignee_status_due"},
    "done": {"ix_human_task_completed_by_status_due"},
    "api_open": STATUS_PATH,
    "api_mine": {"ix_human_task_assignee_status_due"},
}
CLERKS = ("bv0a", "bt0a", "bc0")  # a village, a township and a county clerk


def _wipe(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def county(postgres_database: str) -> Iterator[Engine]:
    """The session's PostgreSQL database (``database_url``'s postgres parameter),
    seeded once for the module."""
    if not postgres_database:
        pytest.skip("VETFLOW_TEST_POSTGRES_URL is not set")
    _wipe(postgres_database)
    seed_county(postgres_database, 3_000, 12_000)
    engine = make_engine(postgres_database)
    yield engine
    engine.dispose()
    _wipe(postgres_database)


class Statements:
    """The statements an engine sends while the block runs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sent: list[tuple[str, Any]] = []

    def _record(self, _c: Any, _cur: Any, stmt: str, params: Any, *_: Any) -> None:
        self.sent.append((stmt, params))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def on_tasks(self) -> list[tuple[str, Any]]:
        return [(s, p) for s, p in self.sent if "FROM human_task" in s]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def task_accesses(engine: Engine, stmt: str, params: Any) -> list[tuple[str, str]]:
    """(node type, index name) of every plan node reading human_task; a bitmap heap
    scan counts once per index its bitmap reads."""
    with engine.connect() as conn:
        raw = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {stmt}", params).scalar()
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    found = []
    for node in _nodes(plan):
        if node.get("Relation Name") != "human_task":
            continue
        if node["Node Type"] == "Bitmap Heap Scan":
            found += [
                (node["Node Type"], n["Index Name"])
                for n in _nodes(node)
                if n["Node Type"] == "Bitmap Index Scan"
            ]
        else:
            found.append((node["Node Type"], node.get("Index Name", "")))
    return found


def assert_uses(
    engine: Engine,
    read: str,
    statements: list[tuple[str, Any]],
    intended: dict[str, set[str]] = INTENDED,
) -> None:
    assert statements, read
    for stmt, params in statements:
        accesses = task_accesses(engine, stmt, params)
        assert accesses, (read, stmt)
        for node, index in accesses:
            assert node != "Seq Scan", (read, stmt, accesses)
            assert index in intended[read], (read, index, stmt)


def user(engine: Engine, username: str) -> AuthUser:
    found = load_user(engine, username)
    assert found is not None
    return found


def test_inbox_tabs_use_their_indexes(county: Engine):
    for username in CLERKS:
        clerk = user(county, username)
        for tab in TABS:
            with Statements(county) as sent:
                page = inbox_page(county, clerk, InboxFilters(tab=tab), NOW, 24)
            # counts of all three tabs, then the page of this one
            counts, rows = sent.on_tasks()[: len(TABS)], sent.on_tasks()[len(TABS) :]
            assert len(rows) == 1
            count = counts[TABS.index(tab)]
            county_clerk = username == "bc0"
            intended = COUNTY if county_clerk else INTENDED
            assert_uses(county, tab, [count, *rows], intended)
            if county_clerk:
                assert page.counts[tab] > 0, tab
                # the tab's own index holds every column the count tests
                assert {node for node, _ in task_accesses(county, *count)} == {
                    "Index Only Scan"
                }, tab


def test_filtered_tabs_use_their_indexes(county: Engine):
    """The overdue filter and a unit's view (a county clerk looking at one village)."""
    clerk = user(county, "bc0")
    with Session(county) as s:
        village = s.exec(select(OrgUnit).where(OrgUnit.code == "bench-t3-v4")).one()
    for tab in TABS:
        for filters in (
            InboxFilters(tab=tab, urgency="overdue"),
            InboxFilters(tab=tab, org_unit=village.id),
            InboxFilters(tab=tab, urgency="at_risk", org_unit=village.id),
        ):
            with Statements(county) as sent:
                inbox_page(county, clerk, filters, NOW, 24)
            on_tasks = sent.on_tasks()
            # One village: its path may serve. "overdue OR due_at < now": a bitmap
            # OR with the few flagged rows.
            base = INTENDED if filters.org_unit else COUNTY
            flagged = {
                read: {*names, "ix_human_task_overdue"} for read, names in base.items()
            }
            assert_uses(county, tab, [on_tasks[TABS.index(tab)], on_tasks[-1]], flagged)


def test_task_list_api_uses_its_indexes(county: Engine):
    for username in CLERKS:
        clerk = user(county, username)
        for read, mine, count_limit in (
            ("api_open", False, None),
            ("api_open", False, 1000),
            ("api_mine", True, None),
        ):
            with Statements(county) as sent:
                list_tasks(
                    county,
                    clerk.org_path,
                    username=clerk.username,
                    status="open",
                    mine=mine,
                    case_id=None,
                    limit=50,
                    offset=0,
                    count_limit=count_limit,
                )
            intended = COUNTY if username == "bc0" else INTENDED
            assert_uses(county, read, sent.on_tasks(), intended)


def test_per_case_reads_use_the_case_index(county: Engine):
    clerk = user(county, "bc0")
    with Session(county) as s:
        case_id = s.exec(select(HumanTask.case_id).limit(1)).one()
    with Statements(county) as sent:
        list_tasks(
            county,
            clerk.org_path,
            username=clerk.username,
            status="open",
            mine=False,
            case_id=case_id,
            limit=100,
            offset=0,
        )
    assert_uses(county, "case_poll", sent.on_tasks())
    with Statements(county) as sent:
        case_tasks(county, case_id)
    assert_uses(county, "case_tasks", sent.on_tasks())


def test_path_indexes_use_pattern_operators(county: Engine):
    """The migration, not only the models, gives the path columns pattern operators."""
    with county.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'human_task'"
            " AND indexdef LIKE '%%org_path%%'"
        ).all()
    assert {r.indexname for r in rows} == STATUS_PATH | {
        "ix_human_task_org_path",
        "ix_human_task_claimable",
        "ix_human_task_assignee_status_due",
        "ix_human_task_completed_by_status_due",
    }
    assert all("varchar_pattern_ops" in r.indexdef for r in rows), rows


@SQLITE_ONLY  # SQLite's planner; PostgreSQL's plans are the tests above
def test_sqlite_case_poll_uses_case_index(database_url: str):
    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        with Statements(engine) as sent:
            list_tasks(
                engine,
                "/1/",
                username="x",
                status="open",
                mine=False,
                case_id="c-1",
                limit=100,
                offset=0,
            )
        (stmt, params) = sent.on_tasks()[-1]
        with engine.connect() as conn:
            plan = " ".join(
                str(r[-1])
                for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {stmt}", params)
            )
        assert "ix_human_task_case_status" in plan, plan
    finally:
        engine.dispose()
