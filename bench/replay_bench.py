"""Does an auditor's replay hold up the API? Replay throughput and other requests'
latency while replays run, in one run, for where the replay runs.

An archived return-home case (a recorded history of tests/replay/histories, ≈ 400 KB,
payloads encrypted) is replayed through ``POST /api/cases/{id}/replay`` (FastAPI's
whole stack in this process, a real dev server answering NOT_FOUND so the archive is
read). Modes (``--modes``):

- ``process`` — today's API: the replay pool's processes (api/replay_pool.py) read
  the archived row, parse, decrypt and replay, at nice 10 (``process-nice0``: at the
  API's priority);
- ``process-api-read`` — as 0.8.0 shipped: the API reads the archived row (in its
  thread pool) and hands the text to the same pool;
- ``inline``  — as before: the row read by the API, then all of that, with a Replayer
  per call, in the API's loop;
- ``thread``  — the pool's work in a thread of the API process (does it release the
  GIL?);
- ``pool-only`` — no request: the history handed from memory straight to a pool like
  ``process``'s, so the API process does nothing for a replay but hand it over and
  take its outcome. Others' p95 beside that is what replays running on this machine
  cost them whatever the API does (the latency floor).

For each it prints replays/s through the API (sequential) beside one shared Replayer
called directly (the floor), and ``GET /api/tasks/{id}`` p50/p95 alone and while two
replays run without pause, with the ratio against the goal (≤ 1.5×, issue 12).

    .venv/bin/python bench/replay_bench.py [--replays 8] [--gets 150] [--rounds 3]
        [--modes process,inline,thread,pool-only]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: the checkout on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.campaign_bench import percentile, repo_root

GOAL_RATIO = 1.5
GET_PAUSE_S = 0.005  # between two timed GETs, alone and busy alike
MODES = (
    "process",
    "process-nice0",
    "process-api-read",
    "inline",
    "thread",
    "pool-only",
)
RECORDED = "0.3.0/ReturnHomeWorkflow/full_case_with_returns__*.json"
BENCH_CASE = "bench-replay-1"


@dataclass
class ModeResult:
    mode: str
    api_replays_per_s: float = 0.0
    get_alone_ms: list[float] = field(default_factory=list)
    get_busy_ms: list[float] = field(default_factory=list)
    replays_during: int = 0

    @property
    def ratio(self) -> float:
        alone = percentile(self.get_alone_ms, 95)
        return percentile(self.get_busy_ms, 95) / alone if alone else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "api_replays_per_s": round(self.api_replays_per_s, 2),
            "get_alone_p50_ms": round(percentile(self.get_alone_ms, 50), 1),
            "get_alone_p95_ms": round(percentile(self.get_alone_ms, 95), 1),
            "get_busy_p50_ms": round(percentile(self.get_busy_ms, 50), 1),
            "get_busy_p95_ms": round(percentile(self.get_busy_ms, 95), 1),
            "p95_ratio": round(self.ratio, 2),
            "goal_met": self.ratio <= GOAL_RATIO,
            "replays_during": self.replays_during,
        }


def report(direct_per_s: float, results: Sequence[ModeResult]) -> str:
    """The table the bench prints, then one JSON line per mode."""
    lines = [
        f"Replayer directly (one shared, in-process): {direct_per_s:.2f} replays/s",
        "| mode | API replays/s (vs direct) | GET task p50/p95 alone | "
        "with 2 replays running | p95 ratio (goal ≤ 1.5×) |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        s = r.summary()
        vs = r.api_replays_per_s / direct_per_s if direct_per_s else 0.0
        lines.append(
            f"| {r.mode} | {s['api_replays_per_s']:.2f} ({vs:.2f}×) | "
            f"{s['get_alone_p50_ms']:.0f} / {s['get_alone_p95_ms']:.0f} ms | "
            f"{s['get_busy_p50_ms']:.0f} / {s['get_busy_p95_ms']:.0f} ms | "
            f"{s['p95_ratio']:.2f}× {'ok' if s['goal_met'] else 'MISSED'} |"
        )
    lines += [json.dumps(r.summary()) for r in results]
    return "\n".join(lines)


def recorded_keyring() -> str:
    """The test suite's keyring (tests/support.py TEST_PAYLOAD_KEYS), which encrypted
    the recorded histories' payloads."""
    key = base64.b64encode(hashlib.sha256(b"test-key-1").digest()).decode()
    return f"test-key-1:{key}"


def recorded_history() -> tuple[str, str]:
    """(workflow id, stored JSON) of the recorded full return-home case."""
    path = next(iter(sorted((repo_root() / "tests/replay/histories").glob(RECORDED))))
    return path.stem.split("__", 1)[1], path.read_text(encoding="utf-8")


def archive_case(engine: Any, workflow_id: str, text: str) -> str:
    """A closed case of 东关村 whose history only the app archive still has, and one
    open task of it (what the GETs read); returns the task id."""
    from sqlmodel import Session, select

    from models.tables import Case, HistoryArchive, HumanTask, OrgUnit, Veteran

    with Session(engine) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == "sfx-cgz-dgc")).one()
        vet = s.exec(select(Veteran).where(Veteran.org_unit_id == unit.id)).first()
        assert vet is not None and vet.id is not None and unit.id is not None
        s.add(
            Case(
                id=BENCH_CASE,
                workflow_id=workflow_id,
                process="return_home",
                title="退役返乡报到",
                veteran_id=vet.id,
                org_unit_id=unit.id,
                org_path=unit.path,
                status="closed",
            )
        )
        s.flush()
        s.add(
            HistoryArchive(
                workflow_id=workflow_id,
                run_id="bench",
                case_id=BENCH_CASE,
                event_count=len(json.loads(text)["events"]),
                sha256=hashlib.sha256(text.encode()).hexdigest(),
                history_json=text,
            )
        )
        task = HumanTask(
            id=f"{BENCH_CASE}.visit.1",
            case_id=BENCH_CASE,
            workflow_id=workflow_id,
            process="return_home",
            step="visit",
            title="走访",
            candidate_role="village_staff",
            org_unit_id=unit.id,
            org_path=unit.path,
            due_at=datetime.now(UTC) + timedelta(days=3),
            outcomes=["done"],
        )
        s.add(task)
        s.commit()
        return task.id


class InlineReplays:
    """The replay as it was: parsed, hashed, decrypted and replayed by a Replayer made
    per call, all in the API's event loop."""

    def __init__(self, codec: Any) -> None:
        self.codec = codec

    async def replay(
        self, workflow_id: str, stored: bytes | str, sha256: str | None = None
    ) -> Any:
        from temporalio.api.history.v1 import History
        from temporalio.client import WorkflowHistory
        from temporalio.worker import Replayer

        from api.replay_pool import ReplayOutcome
        from models.payload_codec import decode_history, make_data_converter
        from workflows.registry import ALL_WORKFLOWS, workflow_runner

        if isinstance(stored, bytes):
            events = list(History.FromString(stored).events)
            history = WorkflowHistory(workflow_id, events)
        else:
            history = WorkflowHistory.from_json(workflow_id, stored)
        text = stored if isinstance(stored, str) else history.to_json()
        digest = sha256 or hashlib.sha256(text.encode()).hexdigest()
        decoded = await decode_history(history, self.codec)
        result = await Replayer(
            workflows=ALL_WORKFLOWS,
            data_converter=make_data_converter(None),
            workflow_runner=workflow_runner(),
        ).replay_workflow(decoded, raise_on_replay_failure=False)
        failure = str(result.replay_failure) if result.replay_failure else None
        return ReplayOutcome(failure, len(history.events), digest)

    async def replay_archived(self, workflow_id: str, database_url: str) -> Any:
        """As the API did before the pool read the archive: the row read here."""
        from sqlmodel import Session

        from models.db import make_engine
        from models.tables import HistoryArchive

        engine = make_engine(database_url)
        try:
            with Session(engine) as s:
                row = s.get(HistoryArchive, workflow_id)
        finally:
            engine.dispose()
        if row is None:
            return None
        return await self.replay(workflow_id, row.history_json, row.sha256)

    def shutdown(self) -> None:
        pass


class ThreadReplays(InlineReplays):
    """What a pool process does (api/replay_pool.py ``replay_stored``), in a worker
    thread of the API process instead: does the work release the GIL?"""

    def __init__(self, codec: Any) -> None:
        import api.replay_pool

        super().__init__(codec)
        api.replay_pool._codec = codec  # what a pool process's initializer sets

    async def replay(
        self, workflow_id: str, stored: bytes | str, sha256: str | None = None
    ) -> Any:
        from api.replay_pool import replay_stored

        return await asyncio.to_thread(replay_stored, workflow_id, stored, sha256)

    async def replay_archived(self, workflow_id: str, database_url: str) -> Any:
        from api.replay_pool import replay_archived

        return await asyncio.to_thread(replay_archived, workflow_id, database_url)


def api_reads_pool(n: int, codec: Any, settings: Any) -> Any:
    """A replay pool to which the API hands the archived row's text, read in its own
    thread pool (release 0.8.0), instead of letting the pool process read it."""
    from sqlmodel import Session
    from starlette.concurrency import run_in_threadpool

    from api.replay_pool import ReplayPool
    from models.db import make_engine
    from models.tables import HistoryArchive

    class ApiReads(ReplayPool):
        engine: Any = None

        async def replay_archived(self, workflow_id: str, database_url: str) -> Any:
            if self.engine is None:
                self.engine = make_engine(database_url)

            def read() -> HistoryArchive | None:
                with Session(self.engine) as s:
                    return s.get(HistoryArchive, workflow_id)

            row = await run_in_threadpool(read)
            if row is None:
                return None
            return await self.replay(workflow_id, row.history_json, row.sha256)

        def shutdown(self) -> None:
            super().shutdown()
            if self.engine is not None:
                self.engine.dispose()

    return ApiReads(n, codec, settings)


async def direct_rate(workflow_id: str, decoded: str, n: int) -> float:
    """Replays/s of one shared Replayer called directly (no API, no pool)."""
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    from models.payload_codec import make_data_converter
    from workflows.registry import ALL_WORKFLOWS, workflow_runner

    # The same sandbox configuration as the API's pool and the workers.
    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        data_converter=make_data_converter(None),
        workflow_runner=workflow_runner(),
    )
    history = WorkflowHistory.from_json(workflow_id, decoded)
    await replayer.replay_workflow(history)  # imports and sandbox warm
    started = time.perf_counter()
    for _ in range(n):
        await replayer.replay_workflow(history)
    return n / (time.perf_counter() - started)


async def run_mode(
    mode: str, app: Any, http: Any, headers: dict[str, str], task_id: str, args: Any
) -> ModeResult:
    from api.replay_pool import ReplayPool

    codec = app.state.temporal.data_converter.payload_codec
    n, settings = args.processes, app.state.settings
    if mode in ("process", "pool-only"):
        app.state.replay_pool = ReplayPool(n, codec, settings)
    elif mode == "process-api-read":
        app.state.replay_pool = api_reads_pool(n, codec, settings)
    elif mode == "process-nice0":
        app.state.replay_pool = ReplayPool(n, codec, settings, niceness=0)
    elif mode == "inline":
        app.state.replay_pool = InlineReplays(codec)
    else:
        app.state.replay_pool = ThreadReplays(codec)
    result = ModeResult(mode)
    url = f"/api/cases/{BENCH_CASE}/replay"

    workflow_id, stored = recorded_history()
    digest = hashlib.sha256(stored.encode()).hexdigest()

    async def replay_once() -> None:
        if mode == "pool-only":
            outcome = await app.state.replay_pool.replay(workflow_id, stored, digest)
            if outcome.failure:
                raise RuntimeError(f"replay failed: {outcome.failure[:300]}")
            return
        r = await http.post(url, headers=headers)
        if r.status_code != 200 or not r.json()["ok"]:
            raise RuntimeError(f"replay failed: {r.status_code} {r.text[:300]}")

    async def get_ms() -> float:
        started = time.perf_counter()
        r = await http.get(f"/api/tasks/{task_id}", headers=headers)
        if r.status_code != 200:
            raise RuntimeError(f"GET task: {r.status_code} {r.text[:300]}")
        return (time.perf_counter() - started) * 1000

    async def paced_gets(into: list[float]) -> None:
        """A clerk's requests, not a tight loop: 5 ms between two. Alone and busy
        alike: a request sent after a pause takes longer than one sent back to back
        (p50 2.3 -> 4.1 ms with no replay at all), which the ratio must not count."""
        for _ in range(per_round):
            into.append(await get_ms())
            await asyncio.sleep(GET_PAUSE_S)

    try:
        await replay_once()  # warm: the pool's processes, the imports
        started = time.perf_counter()
        for _ in range(args.replays):
            await replay_once()
        result.api_replays_per_s = args.replays / (time.perf_counter() - started)
        for _ in range(5):
            await get_ms()
        # Alone and busy interleaved in rounds: a machine whose load drifts (other
        # processes) weighs on both sides alike.
        per_round = max(1, args.gets // args.rounds)
        for _ in range(args.rounds):
            await paced_gets(result.get_alone_ms)
            stop = asyncio.Event()

            async def replaying(stop: asyncio.Event = stop) -> None:
                while not stop.is_set():
                    await replay_once()
                    result.replays_during += 1

            loops = [asyncio.create_task(replaying()) for _ in range(2)]
            await asyncio.sleep(0.2)  # both under way
            try:
                await paced_gets(result.get_busy_ms)
            finally:
                stop.set()
                await asyncio.gather(*loops)
    finally:
        await asyncio.to_thread(app.state.replay_pool.shutdown)
    return result


async def bench(args: argparse.Namespace) -> tuple[float, list[ModeResult]]:
    import httpx
    from sqlmodel import SQLModel
    from temporalio.client import WorkflowHistory
    from temporalio.common import SearchAttributeKey
    from temporalio.testing import WorkflowEnvironment

    import models.tables  # noqa: F401
    from api.main import create_app
    from models.contracts import SEARCH_ATTRIBUTES
    from models.db import make_engine
    from models.demo import DEMO_PASSWORD, seed_demo
    from models.payload_codec import codec_from_settings, decode_history
    from models.payload_codec import data_converter as converter_of
    from models.settings import Settings

    workflow_id, stored = recorded_history()
    tmp = Path(tempfile.mkdtemp(prefix="replay-bench-"))
    settings = Settings(
        database_url=f"sqlite:///{tmp}/app.db",
        secret_key=secrets.token_urlsafe(40),
        payload_keys=recorded_keyring(),
        task_queue="replay-bench",
    )
    decoded = (
        await decode_history(
            WorkflowHistory.from_json(workflow_id, stored),
            codec_from_settings(settings),
        )
    ).to_json()
    direct = await direct_rate(workflow_id, decoded, args.replays)
    engine = make_engine(settings.database_url)
    SQLModel.metadata.create_all(engine)
    seed_demo(engine)
    task_id = archive_case(engine, workflow_id, stored)
    beside = Path(sys.executable).parent / "temporal"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(beside)
        if beside.exists()
        else shutil.which("temporal"),
        data_converter=converter_of(settings),
        search_attributes=[
            SearchAttributeKey.for_keyword(n) for n in SEARCH_ATTRIBUTES
        ],
        dev_server_log_level="error",
    )
    results: list[ModeResult] = []
    try:
        app = create_app(settings, engine=engine, temporal_client=env.client)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench"
            ) as http,
        ):
            r = await http.post(
                "/api/auth/token",
                data={"username": "auditor", "password": DEMO_PASSWORD},
            )
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            for mode in args.modes:
                results.append(await run_mode(mode, app, http, headers, task_id, args))
    finally:
        await env.shutdown()
        engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    return direct, results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from models.settings import Settings

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--replays", type=int, default=8, help="sequential replays timed")
    p.add_argument(
        "--gets", type=int, default=150, help="GET /api/tasks/{id} timed, each side"
    )
    p.add_argument("--rounds", type=int, default=3, help="alone/busy rounds")
    p.add_argument(
        "--processes",
        type=int,
        default=Settings.model_fields["replay_processes"].default,
        help="replay pool processes (VETFLOW_REPLAY_PROCESSES)",
    )
    p.add_argument(
        "--modes",
        type=lambda s: [m for m in s.split(",") if m],
        default=["process", "inline", "thread"],
        help=f"comma-separated, of: {', '.join(MODES)}",
    )
    args = p.parse_args(argv)
    bad = set(args.modes) - set(MODES)
    if bad:
        p.error(f"unknown modes: {sorted(bad)}")
    return args


def main() -> None:
    from models.logconfig import configure_logging
    from models.settings import Settings

    configure_logging(Settings(log_level="WARNING", log_format="console"))
    direct, results = asyncio.run(bench(parse_args()))
    sys.stdout.write(report(direct, results) + "\n")


if __name__ == "__main__":
    main()
