"""Real processes for the scale-out and fault tests: ``worker.py`` and ``vetflow api``
processes, a Temporal dev server on its state file, a private PostgreSQL cluster, and
clerks who drive window complaints through the HTTP API as a browser's user would.

Every child process writes a log under the test's directory; assertion messages carry
its tail. Waits poll with generous deadlines (a busy two-core CI machine), never sleep
a fixed time for something to have happened."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, col, select
from temporalio.client import Client

from models.contracts import SEARCH_ATTRIBUTES, SHANGHAI, CaseState
from models.demo import DEMO_PASSWORD
from models.payload_codec import make_data_converter
from models.settings import Settings
from models.tables import AuditEvent, Case, HumanTask, Notice, OrgUnit
from tests.conftest import temporal_binary
from tests.support import suite_codec

ROOT = Path(__file__).resolve().parent.parent
# A complaint registered at 东关村: 问题核实 by its village clerks, 申诉复核 at 城关镇.
UNIT = "sfx-cgz-dgc"


def free_port() -> int:
    """A free port from the kernel's ephemeral range (for a process started once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def fixed_port() -> int:
    """A free port below the kernel's ephemeral range, for a server that must come
    back on the same address (its clients keep it): no outgoing connection of
    another process is given a port there while the server is down."""
    text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
    low = int(text.split()[0])
    for _ in range(500):
        port = random.randrange(20000, max(20001, low - 1))
        if _is_free(port):
            return port
    raise AssertionError("no free port below the ephemeral range")


def tail(path: Path, chars: int = 3000) -> str:
    if not path.exists():
        return f"({path.name}: no log)"
    return f"--- {path.name} ---\n" + path.read_text(errors="replace")[-chars:]


@dataclass
class Child:
    """A child process and its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, no clean-up of any kind runs."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def _die_with_parent() -> None:
    """In the child: SIGKILL when the test process dies (killed by a timeout, say),
    so that no worker, API or server outlives the run (Linux prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def spawn(name: str, args: list[str], log: Path, env: dict[str, str]) -> Child:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    return Child(name, proc, log)


def app_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a vetflow process with ``settings`` (same secret key, same
    payload keys, same database, queue and Temporal for every API and worker)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VETFLOW_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "VETFLOW_DATABASE_URL": settings.database_url,
            "VETFLOW_TEMPORAL_ADDRESS": settings.temporal_address,
            "VETFLOW_TASK_QUEUE": settings.task_queue,
            "VETFLOW_SECRET_KEY": settings.secret_key,
            "VETFLOW_PAYLOAD_KEYS": settings.payload_keys,
            "VETFLOW_POLICY_PROFILE": settings.policy_profile,
            "VETFLOW_CASE_ID_PREFIX": settings.case_id_prefix,
            "VETFLOW_TEMPORAL_CALL_TIMEOUT_SECONDS": str(
                settings.temporal_call_timeout_seconds
            ),
            "VETFLOW_LOG_FORMAT": "json",
            **extra,
        }
    )
    return env


class Stack:
    """Workers and APIs of one vetflow deployment, all on ``settings``."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings = settings
        self.logs = logs
        self.workers: list[Child] = []
        self.apis: list[tuple[Child, str]] = []  # (process, base URL)

    def start_worker(self) -> Child:
        n = len(self.workers) + 1
        child = spawn(
            f"worker{n}",
            [sys.executable, "worker.py"],
            self.logs / f"worker{n}.log",
            app_env(self.settings),
        )
        self.workers.append(child)
        return child

    def start_api(self) -> str:
        n, port = len(self.apis) + 1, free_port()
        child = spawn(
            f"api{n}",
            [sys.executable, "vetflow_cli.py", "api"],
            self.logs / f"api{n}.log",
            app_env(
                self.settings,
                VETFLOW_API_HOST="127.0.0.1",
                VETFLOW_API_PORT=str(port),
            ),
        )
        base = f"http://127.0.0.1:{port}"
        self.apis.append((child, base))
        return base

    @property
    def bases(self) -> list[str]:
        return [base for _, base in self.apis]

    def children(self) -> list[Child]:
        return [*self.workers, *(c for c, _ in self.apis)]

    def logs_tail(self, chars: int = 1500) -> str:
        return "\n".join(tail(c.log, chars) for c in self.children())

    async def wait_healthy(self, timeout: float = 120) -> None:
        """Every API answers /healthz 200 and every worker is running."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=5) as http:
            for _, base in self.apis:
                while True:
                    dead = [c.name for c in self.children() if not c.alive()]
                    assert not dead, f"{dead} exited\n{self.logs_tail()}"
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"{base}/healthz")).status_code == 200:
                            break
                    assert time.monotonic() < deadline, (
                        f"{base} not healthy\n{self.logs_tail()}"
                    )
                    await asyncio.sleep(0.3)
        # A worker polls once it logged its start (after connecting to Temporal).
        for w in self.workers:
            while "worker_starting" not in w.log.read_text(errors="replace"):
                assert w.alive() and time.monotonic() < deadline, tail(w.log)
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        """The test is over: every process ends at once (nothing of theirs is kept)."""
        for child in self.children():
            child.kill()


class DevServer:
    """A Temporal dev server on its state file, always on the same fixed port, so
    that the workers and APIs, which keep the address, find it again after a
    restart."""

    def __init__(self, state_dir: Path) -> None:
        self.state = state_dir / "temporal.db"
        self.logs = state_dir
        self.port = fixed_port()
        self.address = f"127.0.0.1:{self.port}"
        self.child: Child | None = None
        self.starts = 0

    def _args(self) -> list[str]:
        args = [
            temporal_binary(),
            "server",
            "start-dev",
            "--headless",
            "--db-filename",
            str(self.state),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "error",
        ]
        for name in SEARCH_ATTRIBUTES:
            args += ["--search-attribute", f"{name}=Keyword"]
        return args

    async def start(self, timeout: float = 90) -> Client:
        """Start (again) on the state file; a client once it answers."""
        self.starts += 1
        log = self.logs / f"temporal-{self.starts}.log"
        deadline = time.monotonic() + timeout
        while True:
            self.child = spawn("temporal", self._args(), log, dict(os.environ))
            while self.child.alive() and time.monotonic() < deadline:
                try:
                    return await Client.connect(
                        self.address, data_converter=make_data_converter(suite_codec())
                    )
                except RuntimeError:
                    await asyncio.sleep(0.2)
            # Exited (e.g. the port still held by the killed server's sockets): retry.
            self.child.kill()
            assert time.monotonic() < deadline, f"dev server did not start\n{tail(log)}"
            await asyncio.sleep(1)

    def kill(self) -> None:
        assert self.child is not None
        self.child.kill()

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


class PrivateCluster:
    """A PostgreSQL cluster of this test alone (``pg_createcluster``, trust auth on a
    free port), which the test may restart: the machine's ``15 main`` is never touched."""

    def __init__(self) -> None:
        self.version = self._version()
        # The creating process's id in the name: a later run drops the cluster of a
        # run that died before it could (:meth:`drop_orphans`).
        self.name = f"vf{os.getpid()}x{uuid.uuid4().hex[:8]}"
        # Below the ephemeral range: free again when the test starts it after a stop.
        self.port = fixed_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def _version() -> str:
        missing = [
            t for t in ("pg_createcluster", "pg_ctlcluster") if not shutil.which(t)
        ]
        assert not missing, (
            f"{missing} not found: the fault tests need Debian's postgresql-common "
            "(apt-get install postgresql) and root to create a private cluster"
        )
        versions = sorted(
            (p.name for p in Path("/usr/lib/postgresql").iterdir()), key=int
        )
        assert versions, "no PostgreSQL server under /usr/lib/postgresql"
        return versions[-1]

    def _run(self, *args: str) -> None:
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{' '.join(args)}: {r.stdout}{r.stderr}"

    def ctl(self, action: str) -> None:
        self._run(
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            self.version,
            self.name,
            action,
        )

    def drop_orphans(self) -> None:
        """Drop the clusters of earlier runs whose process is gone (killed by a
        timeout, say); those of runs still going are left alone."""
        for conf in Path(f"/etc/postgresql/{self.version}").glob("vf*x*"):
            pid = conf.name[2:].split("x", 1)[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                subprocess.run(
                    ["pg_dropcluster", "--stop", self.version, conf.name],
                    capture_output=True,
                    timeout=120,
                )

    def create(self) -> None:
        self.drop_orphans()
        self._run(
            "pg_createcluster",
            self.version,
            self.name,
            "-p",
            str(self.port),
            "--",
            "--auth=trust",
        )
        self.ctl("start")

    def drop(self) -> None:
        subprocess.run(
            ["pg_dropcluster", "--stop", self.version, self.name],
            capture_output=True,
            timeout=120,
        )

    def log(self) -> str:
        path = Path(f"/var/log/postgresql/postgresql-{self.version}-{self.name}.log")
        return tail(path)


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster()
    cluster.create()
    try:
        yield cluster
    finally:
        cluster.drop()


def unit_id(engine: Any, code: str) -> int:
    with Session(engine) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == code)).one()
        assert unit.id is not None
        return unit.id


# --- clerks over HTTP -----------------------------------------------------------------


@dataclass
class Traffic:
    """Every answer the clerks got, by status; the 5xx other than 503 with their body."""

    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)
    retry_after_missing: list[str] = field(default_factory=list)

    def record(self, method: str, url: str, r: httpx.Response) -> None:
        self.statuses[r.status_code] += 1
        if r.status_code >= 500 and r.status_code != 503:
            self.errors.append(f"{r.status_code} {method} {url}: {r.text[:300]}")
        if r.status_code == 503 and "retry-after" not in r.headers:
            self.retry_after_missing.append(f"{method} {url}")


class Clerks:
    """Bearer tokens of the demo clerks, and requests that wait out an outage: a 503
    or a refused connection is tried again until the deadline, never a 500."""

    def __init__(self, traffic: Traffic, deadline: float) -> None:
        self.traffic = traffic
        self.deadline = deadline
        self.tokens: dict[str, str] = {}
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(60),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    async def login(self, base: str, username: str) -> None:
        r = await self.request(
            "POST",
            base,
            "/api/auth/token",
            None,
            data={"username": username, "password": DEMO_PASSWORD},
        )
        assert r.status_code == 200, r.text
        self.tokens[username] = r.json()["access_token"]

    async def request(
        self, method: str, base: str, path: str, user: str | None, **kw: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        while True:
            try:
                r = await self.http.request(method, base + path, headers=headers, **kw)
            except httpx.TransportError as exc:
                # The API process itself is up in these tests; a dropped connection
                # under load is tried again like a 503.
                if time.monotonic() > self.deadline:
                    raise AssertionError(f"{method} {path}: {exc!r}") from exc
                await asyncio.sleep(0.5)
                continue
            self.traffic.record(method, path, r)
            assert r.status_code < 500 or r.status_code == 503, r.text[:500]
            if r.status_code != 503:
                return r
            assert time.monotonic() < self.deadline, f"{method} {path}: {r.text}"
            await asyncio.sleep(0.5)

    async def open_task(self, base: str, user: str, case_id: str, step: str) -> str:
        """The id of the case's open task of ``step``, once the workflow opened it."""
        while True:
            r = await self.request(
                "GET",
                base,
                "/api/tasks",
                user,
                params={"case_id": case_id, "status": "open"},
            )
            assert r.status_code == 200, r.text
            found = [t["id"] for t in r.json()["data"] if t["step"] == step]
            if found:
                return str(found[0])
            assert time.monotonic() < self.deadline, f"{case_id}: no open {step}"
            await asyncio.sleep(0.3)

    async def act(
        self,
        base: str,
        user: str,
        task_id: str,
        action: str,
        body: dict[str, Any],
        done: Callable[[dict[str, Any]], bool],
    ) -> None:
        """POST /api/tasks/{id}/{action}. A 409 is accepted only when an earlier try,
        whose answer was lost to an outage, already did it (``done`` of the task)."""
        r = await self.request(
            "POST", base, f"/api/tasks/{task_id}/{action}", user, json=body
        )
        if r.status_code == 200:
            return
        assert r.status_code == 409, r.text
        # The earlier try's Update may still be on its way to the projection.
        while True:
            now = await self.request("GET", base, f"/api/tasks/{task_id}", user)
            assert now.status_code == 200, now.text
            if done(now.json()):
                return
            assert time.monotonic() < self.deadline, (r.text, now.text)
            await asyncio.sleep(0.3)

    async def aclose(self) -> None:
        await self.http.aclose()


def today() -> str:
    return datetime.now(SHANGHAI).date().isoformat()


def complaint_form(n: int) -> dict[str, Any]:
    return {
        "channel": "window",
        "category": "efficiency",
        "matter": f"窗口办事排队过长 #{n}",
        "received_on": today(),
        "complainant_name": f"投诉人{n}",
        "complainant_phone": "13800000000",
    }


async def start_complaint(clerks: Clerks, base: str, unit: int, n: int) -> str:
    r = await clerks.request(
        "POST",
        base,
        "/api/cases",
        "village",
        json={"process": "complaint", "org_unit_id": unit, "data": complaint_form(n)},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def drive_complaint(
    clerks: Clerks,
    case_id: str,
    first: str,
    second: str,
    *,
    reassign: bool,
    progress: Callable[[str], None] = lambda _: None,
) -> None:
    """A window complaint to its close in two clerk actions (three with a
    reassignment): 问题核实 finds it 误评, 申诉复核 upholds the appeal. The verify task
    is opened on ``first`` and completed on ``second``; so is the appeal."""
    verify = await clerks.open_task(first, "village", case_id, "verify")
    holder = "village"
    if reassign:
        # 城关镇 gives the village's task to the B角: a task_assigned notice.
        await clerks.act(
            first,
            "township",
            verify,
            "reassign",
            {"username": "village2", "reason": "A角外出"},
            lambda t: t["assignee"] == "village2",
        )
        holder = "village2"
    await clerks.act(
        second,
        holder,
        verify,
        "complete",
        {
            "outcome": "misrated",
            "data": {"contacted_on": today(), "facts": "误评"},
        },
        lambda t: t["status"] == "completed",
    )
    progress("verified")
    await finish_complaint(clerks, case_id, first, second)
    progress("closed")


async def finish_complaint(
    clerks: Clerks, case_id: str, first: str, second: str
) -> None:
    """申诉复核 upholds the appeal (opened on ``first``, completed on ``second``);
    then the case closes."""
    appeal = await clerks.open_task(first, "township", case_id, "appeal_review")
    await clerks.act(
        second,
        "township",
        appeal,
        "complete",
        {"outcome": "appeal_upheld", "data": {"opinion": "申诉成立"}},
        lambda t: t["status"] == "completed",
    )
    while True:
        r = await clerks.request("GET", first, f"/api/cases/{case_id}", "township")
        assert r.status_code == 200, r.text
        if r.json()["status"] == "closed":
            break
        assert time.monotonic() < clerks.deadline, f"{case_id} never closed: {r.text}"
        await asyncio.sleep(0.3)


# --- what must hold afterwards --------------------------------------------------------


async def assert_nothing_lost(
    engine: Any,
    client: Client,
    case_ids: list[str],
    reassigned: set[str],
    timeout: float = 60,
) -> None:
    """Every case closed in Temporal and in the projection; its tasks there are
    exactly the workflow's completed steps, one row each (none lost, none twice);
    each expected notice is one row, sent."""
    for case_id in case_ids:
        handle = client.get_workflow_handle(case_id, result_type=CaseState)
        state = await handle.result()
        assert state.status == "closed", state
        assert state.open_tasks == [] and state.open_incidents == [], state
        with Session(engine) as s:
            case = s.get(Case, case_id)
            rows = list(s.exec(select(HumanTask).where(HumanTask.case_id == case_id)))
            trail = list(
                s.exec(
                    select(AuditEvent.dedupe_key, AuditEvent.at).where(
                        AuditEvent.case_id == case_id,
                        AuditEvent.action == "case_status",
                    )
                )
            )
        assert case is not None and case.status == "closed", (case, trail)
        assert sorted(t.step for t in rows) == sorted(state.completed_steps), (
            case_id,
            [(t.id, t.step, t.status) for t in rows],
            state,
        )
        assert sorted(state.completed_steps) == ["appeal_review", "verify"], state
        assert {t.status for t in rows} == {"completed"}, rows
    # Notices travel off the case's path (a child workflow each): wait until sent.
    deadline = time.monotonic() + timeout
    while True:
        with Session(engine) as s:
            got = list(s.exec(select(Notice).where(col(Notice.case_id).in_(case_ids))))
        if all(n.status == "sent" for n in got) and len(got) >= len(reassigned):
            break
        assert time.monotonic() < deadline, [(n.key, n.status) for n in got]
        await asyncio.sleep(0.3)
    keys = [n.key for n in got]
    assert len(keys) == len(set(keys)), keys
    assigned = [n for n in got if n.kind == "task_assigned"]
    assert sorted(n.case_id or "" for n in assigned) == sorted(reassigned), keys
    assert all(n.recipient == "village2" for n in assigned), keys


@contextlib.asynccontextmanager
async def clerks_for(
    stack: Stack, traffic: Traffic, timeout: float
) -> AsyncIterator[Clerks]:
    clerks = Clerks(traffic, time.monotonic() + timeout)
    try:
        yield clerks
    finally:
        await clerks.aclose()
