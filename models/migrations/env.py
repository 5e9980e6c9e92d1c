"""Alembic environment: the URL comes from models.migrate, the metadata from models.tables.

All revisions run in one transaction behind a lock, so that an interrupted upgrade
leaves nothing half done and processes starting together migrate one after another.
"""

from __future__ import annotations

import structlog
from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers every table on SQLModel.metadata)
from models.db import make_engine

# Any constant shared by every vetflow process; "vetflow" in ASCII.
MIGRATION_LOCK_KEY = 0x766574666C6F77

log = structlog.get_logger(__name__)

config = context.config
target_metadata = SQLModel.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL: use models.migrate.alembic_config(url)")
    return str(url)


def _take_migration_lock(connection: Connection) -> None:
    """Hold the database's migration lock until the transaction ends.

    PostgreSQL: a transaction-level advisory lock. SQLite: ``BEGIN IMMEDIATE`` takes the
    write lock now (pysqlite would only begin at the first INSERT), which also makes
    SQLite's DDL part of the transaction. Foreign keys are switched off first (only
    possible outside a transaction): batch mode rebuilds a table by copy, drop and
    rename, and with enforcement on the drop would fail or cascade to child rows.
    :func:`_check_foreign_keys` verifies them at the end instead.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
        )
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _check_foreign_keys(connection: Connection) -> None:
    """SQLite: refuse to commit a migration that left dangling references."""
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")


def run_migrations_online() -> None:
    engine = make_engine(_database_url())
    try:
        with engine.begin() as connection:
            _take_migration_lock(connection)
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                # SQLite cannot ALTER most things: batch mode rebuilds the table.
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            migration = context.get_context()
            before = migration.get_current_revision()
            context.run_migrations()
            after = migration.get_current_revision()
            _check_foreign_keys(connection)
        log.info(
            "database_migrated" if after != before else "database_at_head",
            backend=engine.dialect.name,
            from_revision=before,
            to_revision=after,
        )
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run them online")
run_migrations_online()
