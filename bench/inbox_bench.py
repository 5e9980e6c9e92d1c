"""How fast does a clerk with 10,000 visible open tasks get the first inbox page?

Builds a fresh database (SQLite in a temp dir, or the URL given), seeds the demo data
plus N open tasks claimable by the `village` clerk, logs in through the page, and times
GET /inbox through FastAPI's whole stack (session, query, template). Prints the figures.

    .venv/bin/python bench/inbox_bench.py [--tasks 10000] [--runs 30] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import Session, SQLModel, select

import models.tables  # noqa: F401
from api.main import create_app
from models.db import make_engine
from models.demo import DEMO_PASSWORD, seed_demo
from models.logconfig import configure_logging
from models.settings import Settings
from models.tables import Case, HumanTask, OrgUnit, Veteran


def populate(url: str, n: int) -> None:
    engine = make_engine(url)
    SQLModel.metadata.drop_all(engine)
    SQLModel.metadata.create_all(engine)
    seed_demo(engine)
    now = datetime.now(UTC)
    with Session(engine) as s:
        village = s.exec(select(OrgUnit).where(OrgUnit.code == "sfx-cgz-dgc")).one()
        vet = s.exec(select(Veteran).where(Veteran.org_unit_id == village.id)).first()
        assert vet is not None and village.id is not None and vet.id is not None
        cases = [
            Case(
                id=f"bench-{i}",
                workflow_id=f"bench-{i}",
                process="return_home",
                title="退役返乡报到(一站式报到)",
                veteran_id=vet.id,
                org_unit_id=village.id,
                org_path=village.path,
            )
            for i in range(n)
        ]
        s.add_all(cases)
        s.flush()
        s.add_all(
            HumanTask(
                id=f"bench-{i}.information_collection.1",
                case_id=f"bench-{i}",
                workflow_id=f"bench-{i}",
                process="return_home",
                step="information_collection",
                title="信息采集",
                regulation="003 §6.1.2–6.1.4",
                candidate_role="village_staff",
                org_unit_id=village.id,
                org_path=village.path,
                created_at=now - timedelta(hours=i % 500),
                due_at=now + timedelta(hours=(i % 300) - 50),
                outcomes=["submitted"],
            )
            for i in range(n)
        )
        s.commit()
    engine.dispose()


async def measure(url: str, runs: int) -> list[float]:
    settings = Settings(database_url=url, secret_key=secrets.token_urlsafe(40))
    engine = make_engine(url)
    app = create_app(settings, engine=engine)
    app.state.engine = engine  # the inbox needs no Temporal: no lifespan, no server
    app.state.temporal = None
    timings: list[float] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench"
    ) as c:
        form = await c.get("/login")
        marker = 'name="csrf_token" value="'
        login_csrf = form.text.split(marker, 1)[1].split('"', 1)[0]
        r = await c.post(
            "/login",
            data={
                "username": "village",
                "password": DEMO_PASSWORD,
                "csrf_token": login_csrf,
            },
        )
        assert r.status_code == 303, r.text
        for i in range(runs + 3):
            t0 = time.perf_counter()
            r = await c.get("/inbox?tab=claimable")
            elapsed = time.perf_counter() - t0
            assert r.status_code == 200 and "bench-" in r.text
            if i >= 3:  # warm-up
                timings.append(elapsed)
    engine.dispose()
    return timings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()
    configure_logging(Settings(log_level="WARNING", log_format="console"))
    tmp = tempfile.mkdtemp()
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    t0 = time.perf_counter()
    populate(url, args.tasks)
    setup = time.perf_counter() - t0
    timings = sorted(asyncio.run(measure(url, args.runs)))
    p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
    print(
        f"database: {url.split(':')[0]}  visible open tasks: {args.tasks}  (setup {setup:.1f} s)"
    )
    print(
        f"first inbox page (50 rows), {len(timings)} runs: "
        f"p50 {statistics.median(timings) * 1000:.1f} ms  p95 {p95 * 1000:.1f} ms  max {timings[-1] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
