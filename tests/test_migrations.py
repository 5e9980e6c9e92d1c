"""Alembic migrations build exactly the schema the models declare, on SQLite and PostgreSQL.

The app database is never made with ``create_all`` outside tests: `vetflow migrate`,
`vetflow dev`, compose and every API/worker start run ``upgrade_database``. So:

- ``test_migrated_schema_matches_the_models`` compares the migrated database with
  ``SQLModel.metadata``. A change to models/tables.py without a new revision FAILS it:
  add one with autogenerate (README, Testing; ``alembic_config(url)`` builds the config).
- Upgrading twice, or from several processes at once, must change nothing the second
  time: the API and each worker replica call it when they start.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers every table)
from models.db import make_engine, session_scope
from models.migrate import (
    SCRIPTS,
    alembic_config,
    current_revision,
    head_revision,
    upgrade_database,
)
from models.tables import OrgLevel, OrgUnit

ROOT = Path(__file__).resolve().parent.parent


def _empty(url: str) -> None:
    """The conftest PostgreSQL database lives for the session: wipe it (tables, enum
    types, alembic_version); the SQLite file is new per test anyway."""
    engine = make_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


@pytest.fixture
def empty_url(database_url: str) -> Iterator[str]:
    _empty(database_url)
    yield database_url
    _empty(database_url)


@pytest.fixture
def migrated(empty_url: str) -> Iterator[Engine]:
    upgrade_database(empty_url)
    engine = make_engine(empty_url)
    yield engine
    engine.dispose()


def test_upgrade_creates_every_table_at_head(empty_url: str):
    assert current_revision(empty_url) is None
    upgrade_database(empty_url)
    engine = make_engine(empty_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(SQLModel.metadata.tables) <= tables
    assert tables - set(SQLModel.metadata.tables) == {"alembic_version"}
    assert current_revision(empty_url) == head_revision() is not None


def test_second_upgrade_is_a_no_op(migrated: Engine, empty_url: str):
    with session_scope(migrated) as session:
        session.add(
            OrgUnit(code="370000", name="县退役军人服务中心", level=OrgLevel.county)
        )
    schema_before = sorted(inspect(migrated).get_table_names())

    with structlog.testing.capture_logs() as logs:
        upgrade_database(empty_url)

    assert [e["event"] for e in logs if e["event"].startswith("database_")] == [
        "database_at_head"
    ]
    migrated.dispose()  # fresh inspector: no cached reflection
    assert sorted(inspect(migrated).get_table_names()) == schema_before
    with session_scope(migrated) as session:
        assert session.scalar(select(func.count()).select_from(OrgUnit)) == 1
    assert current_revision(empty_url) == head_revision()


def test_migrated_schema_matches_the_models(migrated: Engine):
    """No differences between the migrated database and SQLModel.metadata: a table
    change without a new Alembic revision fails here."""
    with migrated.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}),
            SQLModel.metadata,
        )
    assert diff == []


def test_processes_starting_together_migrate_once(empty_url: str):
    """The migrate job, the API and two workers start at the same moment: all succeed,
    exactly one applies the migrations (the others wait on the lock, then find head)."""
    code = (
        "import sys; from models.migrate import upgrade_database; "
        "upgrade_database(sys.argv[1])"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, empty_url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    events = [
        "migrated" if "database_migrated" in out else "at_head" for out in outputs
    ]
    assert sorted(events) == ["at_head", "at_head", "at_head", "migrated"], outputs
    assert current_revision(empty_url) == head_revision()


def test_generated_revision_is_lint_clean(migrated: Engine, empty_url: str, tmp_path):
    """A revision made with alembic_config() passes ruff as generated (the post-write
    hooks drop unused imports and format it), so `make lint` stays green."""
    scripts = shutil.copytree(SCRIPTS, tmp_path / "migrations")
    cfg = alembic_config(empty_url)
    cfg.set_main_option("script_location", str(scripts))

    script = command.revision(cfg, message="nothing changed", autogenerate=True)

    path = Path(script.path)
    assert script.down_revision == head_revision()
    settings = ["--config", str(ROOT / "pyproject.toml")]
    ruff = [sys.executable, "-m", "ruff"]
    check = subprocess.run(
        [*ruff, "check", "--no-cache", *settings, str(path)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout
    fmt = subprocess.run(
        [*ruff, "format", "--check", "--no-cache", *settings, str(path)],
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout


def test_config_keeps_percent_encoded_passwords():
    """A password like ``p@ss%`` reaches the URL percent-encoded; configparser would
    read ``%40`` as interpolation if it were not escaped."""
    url = "postgresql://vetflow:p%40ss%25@postgres:5432/vetflow"
    cfg = alembic_config(url)
    assert cfg.get_main_option("sqlalchemy.url") == url
    assert cfg.attributes["database_url"] == url
