"""Database migrations (Alembic), run by `vetflow dev`, `vetflow migrate`, compose and at
every start of the API and the workers.

The scripts live in ``models/migrations`` inside the package (so the image carries them);
no alembic.ini is needed: :func:`alembic_config` builds the configuration in code.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from models.db import make_engine

SCRIPTS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """Alembic configuration for the database at ``url``.

    The URL travels in ``config.attributes`` (read by env.py as is) and, for tools that
    only read the ini options, as ``sqlalchemy.url`` (``%`` escaped for configparser).
    New revisions are passed through ruff where it is installed, so that they are
    lint-clean as generated (the template imports ``sqlmodel`` even when unused).
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["database_url"] = url
    if importlib.util.find_spec("ruff") is not None:
        hooks = {
            "ruff_fix": "check --fix --exit-zero --quiet REVISION_SCRIPT_FILENAME",
            "ruff_format": "format --quiet REVISION_SCRIPT_FILENAME",
        }
        cfg.set_section_option("post_write_hooks", "hooks", ", ".join(hooks))
        for name, options in hooks.items():
            cfg.set_section_option("post_write_hooks", f"{name}.type", "module")
            cfg.set_section_option("post_write_hooks", f"{name}.module", "ruff")
            cfg.set_section_option("post_write_hooks", f"{name}.options", options)
    return cfg


def upgrade_database(url: str) -> None:
    """Bring the database to the newest schema; safe to call at every start.

    Calling it on a database at head changes nothing. Concurrent callers (the migrate
    job, the API and each worker replica starting together) queue on a lock taken in
    env.py, so exactly one of them migrates and the others find the schema at head.
    """
    command.upgrade(alembic_config(url), "head")


def current_revision(url: str) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest revision among the scripts shipped with this code."""
    return ScriptDirectory(str(SCRIPTS)).get_current_head()
