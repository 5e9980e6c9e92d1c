"""Database migrations (Alembic), run by `vetflow dev`, `vetflow migrate` and compose.

The scripts live in models/migrations; no alembic.ini is needed.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from models.db import make_engine

SCRIPTS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade_database(url: str) -> None:
    """Bring the database to the newest schema; safe to call at every start."""
    command.upgrade(alembic_config(url), "head")


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
