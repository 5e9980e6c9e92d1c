"""Small helpers shared by the tests: polling the projection, building actors."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import os
import secrets
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError

from models.contracts import Actor
from models.demo import DESK_CLERK_OF
from models.payload_codec import AesGcmCodec, Keyring, decode_history
from models.rating_link import sign_rating_link
from models.settings import Settings
from models.tables import (
    Account,
    HumanTask,
    Incident,
    Notice,
    OrgUnit,
    RatingLink,
    Veteran,
)

T = TypeVar("T")

# A test (or module: ``pytestmark``) that runs on SQLite only, although PostgreSQL is
# configured: the long, timing-driven journeys whose SQL the activity, API and page
# tests already run on both databases, and the tests whose subject is not the database
# (generated requests against the OpenAPI schema, Temporal timeouts). It keeps the suite
# under ten minutes on two cores (README, Testing).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# The whole suite runs with payload encryption on (tests/conftest.py): a fixed test-only
# keyring, so that every test's clients, workers and Replayers share it.
TEST_PAYLOAD_KEYS = (
    "test-key-1:" + base64.b64encode(hashlib.sha256(b"test-key-1").digest()).decode()
)


def suite_codec() -> AesGcmCodec:
    return AesGcmCodec(Keyring.parse(TEST_PAYLOAD_KEYS))


def suite_settings(database_url: str, task_queue: str) -> Settings:
    """Settings of one test: its own database and task queue, a random token key, and
    the `fast` deadline profile."""
    return Settings(
        database_url=database_url,
        task_queue=task_queue,
        secret_key=secrets.token_urlsafe(40),
        policy_profile="fast",
        payload_keys=TEST_PAYLOAD_KEYS,
        # Tests share one Temporal server but not their databases: keep case ids apart.
        case_id_prefix=f"t{uuid.uuid4().hex[:8]}-",
    )


async def wait_for(
    fn: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.1
) -> T:
    """Poll ``fn`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {fn}")
        await asyncio.sleep(interval)


@contextlib.contextmanager
def refusing(
    owner: type, method: str, refused: Callable[[Any], bool], error_type: str
) -> Iterator[None]:
    """While inside, the activity ``owner.method`` refuses for good (a non-retryable
    ``error_type``) every input ``refused`` picks, and runs the others as usual. The
    wrapper keeps the activity's definition, so a worker built inside registers it."""
    original = getattr(owner, method)

    @functools.wraps(original)
    def write(self: Any, inp: Any) -> Any:
        if refused(inp):
            raise ApplicationError("refused", type=error_type, non_retryable=True)
        return original(self, inp)

    setattr(owner, method, write)
    try:
        yield
    finally:
        setattr(owner, method, original)


def tasks(engine: Engine, case_id: str, **where: Any) -> list[HumanTask]:
    with Session(engine) as s:
        q = select(HumanTask).where(HumanTask.case_id == case_id)
        for k, v in where.items():
            q = q.where(getattr(HumanTask, k) == v)
        return list(s.exec(q.order_by(HumanTask.created_at)).all())


def incidents(engine: Engine, case_id: str, status: str = "open") -> list[Incident]:
    """A case's incidents of ``status`` (open until a person retries them)."""
    with Session(engine) as s:
        return list(
            s.exec(
                select(Incident).where(
                    Incident.case_id == case_id, Incident.status == status
                )
            ).all()
        )


async def open_task(
    engine: Engine, case_id: str, step: str, timeout: float = 20.0
) -> HumanTask:
    """The open task of ``step`` in a case, once the workflow has opened it."""
    rows = await wait_for(
        lambda: tasks(engine, case_id, step=step, status="open"), timeout
    )
    return rows[-1]


def notices(engine: Engine, case_id: str, kind: str | None = None) -> list[Notice]:
    with Session(engine) as s:
        q = select(Notice).where(Notice.case_id == case_id)
        if kind:
            q = q.where(Notice.kind == kind)
        return list(s.exec(q).all())


def actor(engine: Engine, username: str) -> Actor:
    with Session(engine) as s:
        acc = s.exec(select(Account).where(Account.username == username)).one()
        unit = s.get(OrgUnit, acc.org_unit_id)
        assert unit is not None
        return Actor(
            username=acc.username,
            roles=list(acc.roles),
            org_unit_id=unit.id or 0,
            org_path=unit.path,
            absent=acc.absent,
        )


def desk_clerk(role: str) -> str:
    """The demo's A角 at the one-stop desk of ``role`` (e.g. ``desk_party`` → 组织部)."""
    return DESK_CLERK_OF[role]


async def complete(
    handle: Any,
    engine: Engine,
    step: str,
    username: str,
    outcome: str,
    data: dict[str, Any],
    comment: str = "",
) -> Any:
    """Complete the open task of ``step`` as ``username``, the way the API does: the
    ``complete_task`` Update with the demo account as the actor."""
    from models.contracts import CompleteTaskInput, TaskResult

    task = await open_task(engine, handle.id, step)
    return await handle.execute_update(
        "complete_task",
        CompleteTaskInput(
            task_id=task.id,
            actor=actor(engine, username),
            outcome=outcome,
            data=data,
            comment=comment,
        ),
        result_type=TaskResult,
    )


def set_absent(engine: Engine, username: str, absent: bool = True) -> None:
    with Session(engine) as s:
        acc = s.exec(select(Account).where(Account.username == username)).one()
        acc.absent = absent
        s.add(acc)
        s.commit()


HISTORY_DIR = Path(__file__).parent / "replay" / "histories"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def current_release() -> str:
    """The release being built: ``version`` in pyproject.toml. Recorded histories go
    to ``HISTORY_DIR / <release> / <Workflow> / <scenario>__<workflow_id>.json``."""
    with PYPROJECT.open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


async def record_history(handle: Any, workflow: str, scenario: str) -> None:
    """Keep a scenario's history for the replay test in the current release's folder,
    only when asked (VETFLOW_RECORD_HISTORIES=1) and never over an existing file."""
    if os.environ.get("VETFLOW_RECORD_HISTORIES") != "1":
        return
    folder = HISTORY_DIR / current_release() / workflow
    if list(folder.glob(f"{scenario}__*.json")):
        return
    # The workflow id is part of the name: replay needs it (child ids derive from it).
    path = folder / f"{scenario}__{handle.id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Decrypted: the recorded set replays without the (per-installation) key.
    history = await decode_history(await handle.fetch_history(), suite_codec())
    path.write_text(history.to_json(), encoding="utf-8")


def rating_link(
    engine: Engine,
    settings: Settings,
    *,
    veteran: str = "张伟",
    step: str = "home_visit",
    step_title: str = "入户走访",
    expires_in: timedelta = timedelta(days=7),
    used: bool = False,
) -> tuple[RatingLink, str, Veteran]:
    """A rating link as a completed step issues it (activities/complaints.py): the
    village clerk ``village`` served the demo ``veteran`` at ``step`` of a return-home
    case; the row, its signed token and the veteran."""
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as s:
        vet = s.exec(select(Veteran).where(Veteran.name == veteran)).one()
        unit = s.get(OrgUnit, vet.org_unit_id)
        assert unit is not None
        case_id = f"{settings.case_id_prefix}return_home-v{vet.id}"
        task_id = f"{case_id}.{step}.{uuid.uuid4().hex[:6]}"
        link = RatingLink(
            id=task_id,
            case_id=case_id,
            task_id=task_id,
            step=step,
            step_title=step_title,
            process="return_home",
            org_unit_id=unit.id or 0,
            org_path=unit.path,
            clerk="village",
            veteran_id=vet.id or 0,
            issued_at=now,
            expires_at=now + expires_in,
            used_at=now if used else None,
        )
        s.add(link)
        s.commit()
    return link, sign_rating_link(settings.secret_key, link.id, link.expires_at), vet
