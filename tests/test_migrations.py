"""Alembic migrations build exactly the schema the models declare, on SQLite and PostgreSQL.

A table change without a new revision fails `test_migrated_schema_matches_the_models`:
add one with `alembic revision --autogenerate` (see README, Testing).
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import models.tables  # noqa: F401
from models.db import make_engine
from models.migrate import current_revision, upgrade_database


def _reset(url: str) -> None:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            SQLModel.metadata.drop_all(conn)
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
            conn.exec_driver_sql("DROP TYPE IF EXISTS orglevel")
    engine.dispose()


def test_upgrade_creates_every_table_and_is_idempotent(database_url):
    _reset(database_url)
    upgrade_database(database_url)
    upgrade_database(database_url)  # a second start changes nothing
    engine = make_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert set(SQLModel.metadata.tables) <= tables
        assert current_revision(database_url) is not None
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(database_url):
    _reset(database_url)
    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}),
                SQLModel.metadata,
            )
        assert diff == []
    finally:
        engine.dispose()
