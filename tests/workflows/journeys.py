"""Long workflow journeys run side by side. Such journeys wait on their timers (a loan
month or a confirmation year of seconds), not on a core: each test of a module awaits
its own journey, and every journey of the module's selected tests starts when the
module does, so the module takes about its longest journey instead of their sum.

Under pytest-xdist the module's tests must stay on one worker, as ``make test``'s
``--dist loadfile`` keeps them: each worker starts the journeys of every selected test
of a module it runs.

A journey keeps what its test had alone: its own database with the demo data (SQLite,
or a PostgreSQL database of its own for a test parametrized with ``backend``), its own
settings (case-id prefix, task queue) and its own worker, or, registered with
``own_worker``, the workers it starts and stops itself. A module registers its
journeys with a :class:`Registry` and gives its tests the fixture made by
:func:`running`::

    journey = Registry()

    @journey()
    async def a_loan(client, settings, engine, adapter) -> None: ...

    @pytest_asyncio.fixture(scope="module")
    async def journeys(request, temporal_env, tmp_path_factory):
        async with running(journey, request, temporal_env, tmp_path_factory) as j:
            yield j

    async def test_a_loan(journeys) -> None:
        await journeys(a_loan)

    @pytest.mark.parametrize("backend", DB_BACKENDS)
    async def test_a_loan_on_both(journeys, backend) -> None:
        await journeys(a_loan, backend)

A journey may take keyword parameters after those four; a test parametrized with
parameters of those names (strings) gets one journey per value, given them::

    @journey()
    async def a_refusal(client, settings, engine, adapter, *, outcome: str) -> None: ...

    @pytest.mark.parametrize("outcome", ["refuse", "not_ours"])
    async def test_a_refusal(journeys, outcome) -> None:
        await journeys(a_refusal, outcome=outcome)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from models.db import make_engine
from models.demo import seed_demo
from tests.conftest import POSTGRES_URL
from tests.support import suite_settings
from tests.workflows.conftest import RecordingAdapter
from worker import build_worker

Journey = Callable[..., Awaitable[None]]
Key = tuple[str, str, tuple[tuple[str, str], ...]]


class Registry:
    """A module's journeys by name; ``test_<name>`` is the test that awaits one."""

    def __init__(self) -> None:
        self.journeys: dict[str, tuple[Journey, bool]] = {}

    def __call__(self, *, own_worker: bool = False) -> Callable[[Journey], Journey]:
        def register(fn: Journey) -> Journey:
            self.journeys[fn.__name__] = (fn, own_worker)
            return fn

        return register

    def fixture(self) -> Any:
        """The module's ``journeys`` fixture, module-scoped: ``journeys =
        journey.fixture()`` (the journeys of the module's selected tests, started)."""
        registry = self

        @pytest_asyncio.fixture(scope="module", name="journeys")
        async def journeys(
            request: pytest.FixtureRequest,
            temporal_env: WorkflowEnvironment,
            tmp_path_factory: pytest.TempPathFactory,
        ) -> AsyncIterator[Journeys]:
            async with running(
                registry, request, temporal_env, tmp_path_factory
            ) as started:
                yield started

        return journeys

    def parameters(self, name: str) -> list[str]:
        """The keyword parameters of the journey ``name`` beyond the four it is given."""
        fn, _ = self.journeys[name]
        return list(inspect.signature(fn).parameters)[4:]


def seeded(url: str) -> Engine:
    """The new database at ``url`` with the tables and the demo data."""
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    seed_demo(engine)
    return engine


def _postgres_admin(statement: str) -> None:
    base = make_url(POSTGRES_URL).set(drivername="postgresql")
    with psycopg.connect(
        base.render_as_string(hide_password=False), autocommit=True
    ) as conn:
        conn.execute(statement)


@contextlib.asynccontextmanager
async def _database(
    backend: str, folder: Callable[[str], Any], name: str
) -> AsyncIterator[str]:
    """The URL of a new, empty database of the journey ``name`` (made and dropped in
    a thread: the other journeys' timers keep the event loop)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder(name[:40])}/app.db"
        return
    db = f"vetflow_journey_{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(_postgres_admin, f'CREATE DATABASE "{db}"')
    try:
        url = make_url(POSTGRES_URL).set(database=db)
        yield url.render_as_string(hide_password=False)
    finally:
        drop = f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'
        await asyncio.to_thread(_postgres_admin, drop)


class Journeys:
    """The journeys of one module, each started once, as a task."""

    def __init__(
        self, registry: Registry, client: Client, folder: Callable[[str], Any]
    ) -> None:
        self.registry, self.client, self.folder = registry, client, folder
        self.running: dict[Key, asyncio.Task[None]] = {}

    def start(
        self, name: str, backend: str = "sqlite", **params: str
    ) -> asyncio.Task[None]:
        key = (name, backend, tuple(sorted(params.items())))
        if key not in self.running:
            fn, own_worker = self.registry.journeys[name]
            run = functools.partial(fn, **params) if params else fn
            task = asyncio.create_task(self._run(run, own_worker, backend, name))
            self.running[key] = task
        return self.running[key]

    async def _run(
        self, fn: Journey, own_worker: bool, backend: str, name: str
    ) -> None:
        async with _database(backend, self.folder, name) as url:
            settings = suite_settings(url, f"tq-{uuid.uuid4().hex[:12]}")
            engine = await asyncio.to_thread(seeded, url)
            adapter = RecordingAdapter()
            try:
                if own_worker:
                    await fn(self.client, settings, engine, adapter)
                else:
                    async with build_worker(
                        self.client, settings, engine, adapter=adapter
                    ):
                        await fn(self.client, settings, engine, adapter)
            finally:
                engine.dispose()

    async def __call__(
        self, fn: Journey, backend: str = "sqlite", **params: str
    ) -> None:
        """Wait for ``fn``'s journey on ``backend`` with ``params`` (started now if it
        was not); its failure is raised here, in its own test."""
        await self.start(fn.__name__, backend, **params)


@contextlib.asynccontextmanager
async def running(
    registry: Registry,
    request: pytest.FixtureRequest,
    temporal_env: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Journeys]:
    """The journeys of the module's selected tests, all started; at the end, any
    still running (their test failed or timed out) are cancelled."""
    started = Journeys(registry, temporal_env.client, tmp_path_factory.mktemp)
    for item in request.session.items:
        if item.module is not request.module or not isinstance(item, pytest.Function):
            continue
        name = item.originalname.removeprefix("test_")
        if name in registry.journeys:
            params = item.callspec.params if hasattr(item, "callspec") else {}
            given = {p: params[p] for p in registry.parameters(name) if p in params}
            started.start(name, params.get("backend", "sqlite"), **given)
    try:
        yield started
    finally:
        for task in started.running.values():
            task.cancel()
        await asyncio.gather(*started.running.values(), return_exceptions=True)
