"""How fast does a clerk get the inbox, against the raw SQL of the same request?

Default mode: a fresh database (SQLite in a temp dir, or the URL given), the demo data
plus N open tasks claimable by the `village` clerk; times GET /inbox through FastAPI's
whole stack (session, query, template).

    .venv/bin/python bench/inbox_bench.py [--tasks 10000] [--runs 30] [--database-url URL]

PostgreSQL mode (``--postgres ADMIN_URL``): its own database ``vetflow_bench`` (ICU
collation when the server has it), migrated, with a county of 300 villages under 20
townships, clerks at every level and ``--open`` / ``--closed`` tasks generated
server-side. For a village, a township and a county clerk it times the inbox API and
pages, and replays the SQL statements each request sent through a bare psycopg
connection (the floor), interleaved; prints p50 / p95 and the ratio. ``--reuse`` keeps
an already seeded ``vetflow_bench``.

    .venv/bin/python bench/inbox_bench.py --postgres postgresql://postgres@127.0.0.1/postgres \
        --open 100000 --closed 1000000 [--reuse] [--runs 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

if __name__ == "__main__":  # run as a script: the checkout on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, select

import models.tables  # noqa: F401
from api.main import create_app
from api.security import start_auth_session
from bench.campaign_bench import percentile
from models.db import make_engine
from models.demo import DEMO_PASSWORD, DESK_CLERK_OF, seed_demo
from models.logconfig import configure_logging
from models.migrate import upgrade_database
from models.orgs import create_org_unit
from models.processes import PROCESSES
from models.settings import Settings
from models.tables import Account, Case, HumanTask, OrgLevel, OrgUnit, Veteran


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


# ---------------------------------------------------------------------------
# PostgreSQL mode: a county of 300 villages, 100k open and 1M closed tasks.
# ---------------------------------------------------------------------------

BENCH_DB = "vetflow_bench"
TOWNSHIPS, VILLAGES_PER_TOWNSHIP, COUNTY_CLERKS = 20, 15, 20
VETERANS_PER_VILLAGE = 30
# (label, username) of the clerks measured: one per level.
CLERKS = [("village", "bv0a"), ("township", "bt0a"), ("county", "bc0")]
ENDPOINTS = [
    ("API open tasks, exact count", "/api/tasks?status=open&limit=50"),
    ("API open tasks", "/api/tasks?status=open&limit=50&count_limit=1000"),
    ("API my tasks", "/api/tasks?status=open&mine=true&limit=50&count_limit=1000"),
    ("page claimable", "/inbox"),
    ("page mine", "/inbox?tab=mine"),
    ("page done", "/inbox?tab=done"),
]


def bench_database(admin_url: str, reuse: bool) -> tuple[str, bool]:
    """The URL of the bench's own database, created (ICU collation where the server
    has it, so the collation is not C) unless ``reuse`` finds it; True if it exists."""
    import psycopg

    admin = make_url(admin_url).set(drivername="postgresql")
    with psycopg.connect(
        admin.render_as_string(hide_password=False), autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)
        ).fetchone()
        if exists and not reuse:
            conn.execute(f'DROP DATABASE "{BENCH_DB}" WITH (FORCE)')
        if not exists or not reuse:
            icu = conn.execute(
                "SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'"
            ).fetchone()
            locale = " LOCALE_PROVIDER icu ICU_LOCALE 'und'" if icu else ""
            conn.execute(
                f'CREATE DATABASE "{BENCH_DB}" TEMPLATE template0{locale}'
                " LOCALE 'C.UTF-8'"
            )
    url = admin.set(database=BENCH_DB).render_as_string(hide_password=False)
    return url, bool(exists) and reuse


def seed_county(url: str, n_open: int, n_closed: int) -> None:
    """Demo data, then 20 townships of 15 villages under the demo county, clerks at every
    level, 30 veterans a village and the tasks, generated server-side."""
    upgrade_database(url)
    engine = make_engine(url)
    seed_demo(engine)
    with Session(engine) as s:
        county = s.exec(select(OrgUnit).where(OrgUnit.code == "sfx")).one()
        pw = s.exec(select(Account).where(Account.username == "village")).one()
        units: list[tuple[str, list[str], OrgUnit]] = []
        for t in range(TOWNSHIPS):
            town = create_org_unit(
                s, f"bench-t{t}", f"第{t}镇服务站", OrgLevel.township, county
            )
            units += [(f"bt{t}{x}", ["township_staff"], town) for x in "abc"]
            for v in range(VILLAGES_PER_TOWNSHIP):
                i = t * VILLAGES_PER_TOWNSHIP + v
                village = create_org_unit(
                    s, f"bench-t{t}-v{v}", f"第{i}村服务站", OrgLevel.village, town
                )
                units += [(f"bv{i}{x}", ["village_staff"], village) for x in "ab"]
        units += [(f"bc{k}", ["county_staff"], county) for k in range(COUNTY_CLERKS)]
        s.add_all(
            Account(
                username=name,
                display_name=name,
                password_hash=pw.password_hash,
                roles=roles,
                org_unit_id=unit.id or 0,
            )
            for name, roles, unit in units
        )
        s.commit()
    steps = [
        (st.key, st.title, st.clause, st.role, st.level, st.form.model_json_schema())
        for st in PROCESSES["return_home"].steps
        if st.level in ("village", "township", "county")
    ]
    with engine.begin() as conn:
        for ix in (*HumanTask.__table__.indexes, *Case.__table__.indexes):
            ix.drop(conn)  # built once after the rows: faster than row by row
        conn.execute(
            text(
                "CREATE TEMP TABLE bv AS SELECT (row_number() OVER (ORDER BY u.id)) - 1 AS i,"
                " u.id AS vid, u.path AS vpath, t.id AS tid, t.path AS tpath,"
                " substr(t.code, 8)::int AS tj FROM org_unit u"
                " JOIN org_unit t ON t.id = u.parent_id WHERE u.code LIKE 'bench-t%-v%'"
            )
        )
        conn.exec_driver_sql(
            "CREATE TEMP TABLE bs (i int, key text, title text, clause text,"
            " role text, level text, schema text, clerk text)"
        )
        conn.execute(
            text("INSERT INTO bs VALUES (:i, :k, :t, :c, :r, :l, :s, :clerk)"),
            [
                {
                    "i": i,
                    "k": k,
                    "t": t,
                    "c": c,
                    "r": r,
                    "l": lv,
                    "s": json.dumps(sc),
                    "clerk": DESK_CLERK_OF.get(r),
                }
                for i, (k, t, c, r, lv, sc) in enumerate(steps)
            ],
        )
        n_villages = TOWNSHIPS * VILLAGES_PER_TOWNSHIP
        conn.execute(
            text(
                "INSERT INTO veteran (name, id_number, gender, phone, category,"
                " party_member, org_unit_id, created_at)"
                " SELECT '老兵' || g, 'B' || lpad(g::text, 17, '0'), '男', '138', '退役士兵',"
                " false, bv.vid, now() FROM generate_series(0, :n - 1) g"
                " JOIN bv ON bv.i = g % :v"
            ),
            {"n": n_villages * VETERANS_PER_VILLAGE, "v": n_villages},
        )
        conn.execute(
            text(
                "CREATE TEMP TABLE bvet AS SELECT (row_number() OVER (ORDER BY id)) - 1"
                " AS j, id FROM veteran WHERE id_number LIKE 'B%'"
            )
        )
        n_cases = n_open + n_closed // 10
        conn.execute(
            text(
                'INSERT INTO "case" (id, workflow_id, run_id, process, title,'
                " veteran_id, org_unit_id, org_path, status, spec_version, started_by,"
                " started_at, data)"
                " SELECT 'bench-' || k, 'bench-' || k, '', 'return_home', '退役返乡报到',"
                " bvet.id, bv.vid, bv.vpath,"
                " CASE WHEN k < :o THEN 'running' ELSE 'closed' END, 1, '',"
                " now() - make_interval(days => k % 700), '{}'"
                " FROM generate_series(0, :n - 1) k JOIN bv ON bv.i = k % :v"
                " JOIN bvet ON bvet.j = k % (SELECT count(*) FROM bvet)"
            ),
            {"o": n_open, "n": n_cases, "v": n_villages},
        )
        county_row = conn.execute(
            text("SELECT id, path FROM org_unit WHERE code = 'sfx'")
        ).one()
        # Open task k: case k; closed task m: case m % n_cases. Its unit follows the
        # step's level (the case's village, that village's township, the county);
        # a fifth of open tasks are claimed by a clerk of their unit (a desk task by
        # the desk's clerk).
        task_sql = (
            "INSERT INTO human_task (id, case_id, workflow_id, process, step, title,"
            " regulation, candidate_role, org_unit_id, org_path, assignee, status,"
            " overdue, escalation_level, seq, round, created_at, due_at, outcomes,"
            " form_schema, context, outcome, result, completed_by, completed_at)"
            " SELECT 'bench-' || c || '.' || bs.key || '.' || (k + 1), 'bench-' || c,"
            " 'bench-' || c, 'return_home', bs.key, bs.title, bs.clause, bs.role,"
            " CASE bs.level WHEN 'village' THEN bv.vid WHEN 'township' THEN bv.tid"
            "  ELSE :cid END,"
            " CASE bs.level WHEN 'village' THEN bv.vpath WHEN 'township' THEN bv.tpath"
            "  ELSE :cpath END,"
            " CASE WHEN {claimed} THEN CASE bs.level"
            "  WHEN 'village' THEN 'bv' || bv.i || 'a'"
            "  WHEN 'township' THEN 'bt' || bv.tj || 'a'"
            "  ELSE coalesce(bs.clerk, 'bc' || (k % {clerks})) END END,"
            " '{status}', false, 0, 1, 1, due - interval '10 days', due,"
            " '[\"submitted\"]', bs.schema::json, '{{}}', {outcome}, '{{}}', {by}, {at}"
            " FROM generate_series(0, :n - 1) k"
            " CROSS JOIN LATERAL (SELECT {case_of} AS c,"
            "  {due} AS due) x"
            " JOIN bv ON bv.i = x.c % {villages}"
            " JOIN bs ON bs.i = (k * 2654435761 % 4294967296) % (SELECT count(*) FROM bs)"
        )
        common = {"villages": n_villages, "clerks": COUNTY_CLERKS}
        conn.execute(
            text(
                task_sql.format(
                    status="open",
                    claimed="k % 10 < 2",
                    outcome="NULL",
                    by="NULL",
                    at="NULL",
                    case_of="k",
                    # -5 .. +25 days: about a sixth overdue
                    due="now() + make_interval(hours => (k * 37) % 720 - 120)",
                    **common,
                )
            ),
            {"n": n_open, "cid": county_row.id, "cpath": county_row.path},
        )
        done_by = (
            "CASE bs.level WHEN 'village' THEN 'bv' || bv.i || (CASE k % 2 WHEN 0"
            " THEN 'a' ELSE 'b' END) WHEN 'township' THEN 'bt' || bv.tj || 'a'"
            " ELSE coalesce(bs.clerk || (CASE k % 2 WHEN 0 THEN '' ELSE '2' END),"
            f" 'bc' || (k % {COUNTY_CLERKS})) END"
        )
        conn.execute(
            text(
                task_sql.replace(
                    "'bench-' || c || '.'", "'bench-' || c || '.d.'"
                ).format(
                    status="completed",
                    claimed="false",
                    outcome="'submitted'",
                    by=done_by,
                    at="due - interval '1 day'",
                    case_of=f"k % {n_cases}",
                    due="now() - make_interval(hours => k % 17000)",
                    **common,
                )
            ),
            {"n": n_closed, "cid": county_row.id, "cpath": county_row.path},
        )
        for ix in (*HumanTask.__table__.indexes, *Case.__table__.indexes):
            ix.create(conn)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM ANALYZE"
        )
    engine.dispose()


async def page_login(c: httpx.AsyncClient, username: str) -> None:
    form = await c.get("/login")
    marker = 'name="csrf_token" value="'
    csrf = form.text.split(marker, 1)[1].split('"', 1)[0]
    r = await c.post(
        "/login",
        data={"username": username, "password": DEMO_PASSWORD, "csrf_token": csrf},
    )
    assert r.status_code == 303, r.text


@dataclass
class Figure:
    clerk: str
    endpoint: str
    statements: int
    raw_ms: list[float]
    app_ms: list[float]


async def measure_county(url: str, runs: int) -> list[Figure]:
    """For each clerk and endpoint: the request through the whole app, and the SQL
    statements that request sent replayed through a bare psycopg connection (the
    floor), interleaved round by round."""
    import psycopg

    settings = Settings(database_url=url, secret_key=secrets.token_urlsafe(40))
    engine = make_engine(url)
    app = create_app(settings, engine=engine)
    app.state.engine = engine  # reads only: no Temporal
    app.state.temporal = None
    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, stmt: str, params: Any, *_: Any) -> None:
        captured.append((stmt, params))

    figures = []
    raw_url = make_url(url).set(drivername="postgresql")
    with psycopg.connect(raw_url.render_as_string(hide_password=False)) as raw:
        for label, username in CLERKS:
            token = start_auth_session(engine, settings, username, "api")
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench"
            ) as c:
                await page_login(c, username)
                for name, path in ENDPOINTS:
                    headers = {"Authorization": f"Bearer {token}"}
                    await c.get(path, headers=headers)  # warm
                    captured.clear()
                    event.listen(engine, "before_cursor_execute", capture)
                    r = await c.get(path, headers=headers)
                    event.remove(engine, "before_cursor_execute", capture)
                    assert r.status_code == 200, (path, r.status_code, r.text[:300])
                    statements = list(captured)
                    fig = Figure(label, name, len(statements), [], [])
                    for i in range(runs + 2):
                        t0 = time.perf_counter()
                        with raw.cursor() as cur:
                            for stmt, params in statements:
                                cur.execute(stmt, params)
                                if cur.description:
                                    cur.fetchall()
                        raw.rollback()
                        t1 = time.perf_counter()
                        r = await c.get(path, headers=headers)
                        t2 = time.perf_counter()
                        assert r.status_code == 200
                        if i >= 2:
                            fig.raw_ms.append((t1 - t0) * 1000)
                            fig.app_ms.append((t2 - t1) * 1000)
                    figures.append(fig)
    engine.dispose()
    return figures


def visible_open(url: str) -> dict[str, int]:
    engine = make_engine(url)
    out = {}
    with engine.connect() as conn:
        for label, username in CLERKS:
            out[label] = conn.execute(
                text(
                    "SELECT count(*) FROM human_task t, account a JOIN org_unit u"
                    " ON u.id = a.org_unit_id WHERE a.username = :u"
                    " AND t.status = 'open' AND t.org_path LIKE u.path || '%'"
                ),
                {"u": username},
            ).scalar_one()
    engine.dispose()
    return out


def report(figures: list[Figure], visible: dict[str, int]) -> list[str]:
    lines = [
        "| clerk (visible open) | request | SQL stmts | raw SQL p50 / p95 ms"
        " | vetflow p50 / p95 ms | p95 ratio | ≤ 50 ms | ≤ 2× |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        raw95, app95 = percentile(f.raw_ms, 95), percentile(f.app_ms, 95)
        ratio = app95 / raw95 if raw95 else 0.0
        lines.append(
            f"| {f.clerk} ({visible.get(f.clerk, 0):,}) | {f.endpoint} | {f.statements}"
            f" | {statistics.median(f.raw_ms):.1f} / {raw95:.1f}"
            f" | {statistics.median(f.app_ms):.1f} / {app95:.1f} | {ratio:.2f}×"
            f" | {'yes' if app95 <= 50 else 'NO'} | {'yes' if ratio <= 2 else 'NO'} |"
        )
    return lines


def main_postgres(args: argparse.Namespace) -> None:
    url, reused = bench_database(args.postgres, args.reuse)
    t0 = time.perf_counter()
    if not reused:
        seed_county(url, args.open, args.closed)
    setup = time.perf_counter() - t0
    engine = make_engine(url)
    with engine.connect() as conn:
        n_open, n_all = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE status = 'open'), count(*)"
                " FROM human_task"
            )
        ).one()
        collation = conn.execute(
            text(
                "SELECT datlocprovider::text || ' ' || coalesce(daticulocale, datcollate)"
                " FROM pg_database WHERE datname = current_database()"
            )
        ).scalar_one()
    engine.dispose()
    print(
        f"PostgreSQL {BENCH_DB} (collation provider/locale: {collation}):"
        f" {n_open:,} open / {n_all:,} tasks,"
        f" {'reused' if reused else f'seeded in {setup:.0f} s'}"
    )
    figures = asyncio.run(measure_county(url, args.runs))
    print("\n".join(report(figures, visible_open(url))))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--database-url", default="")
    ap.add_argument(
        "--postgres",
        default="",
        help="admin URL of a PostgreSQL server: the county mode in vetflow_bench",
    )
    ap.add_argument("--open", type=int, default=3_000, help="county mode")
    ap.add_argument("--closed", type=int, default=30_000, help="county mode")
    ap.add_argument("--reuse", action="store_true", help="keep a seeded vetflow_bench")
    args = ap.parse_args()
    configure_logging(Settings(log_level="WARNING", log_format="console"))
    if args.postgres:
        main_postgres(args)
        return
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
