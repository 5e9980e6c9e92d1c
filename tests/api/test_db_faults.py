"""A database that stops taking writes under a live app: writes answer 503 with
Retry-After (JSON on the API, the error page on pages), each fault is logged once,
/healthz says the database is down; once the fault is gone everything answers again
and nothing written before, during or after was lost.

The fault is real: on SQLite the `-wal` file becomes unwritable (chmod, and the
immutable flag when the tests run as root, whom permissions do not stop); on
PostgreSQL the database becomes read-only (`default_transaction_read_only`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import psycopg
import structlog
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, select

from models.idnumber import make_id_number
from models.tables import OrgUnit, SavedFilter, Veteran
from tests.api.page_login import page_login

ROOT = Path(__file__).resolve().parent.parent.parent


def _veteran(engine: Engine, seq: str) -> dict[str, object]:
    with Session(engine) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == "sfx-cgz-dgc")).one()
    return {
        "name": f"故障{seq}",
        "id_number": make_id_number("370102", date(1990, 1, 1), seq),
        "gender": "男",
        "phone": "13900000000",
        "category": "自主就业退役士兵",
        "org_unit_id": unit.id,
    }


@contextmanager
def unwritable(engine: Engine) -> Iterator[None]:
    """The database takes no writes inside the block; restored on leaving it."""
    if engine.dialect.name == "sqlite":
        wal = Path(f"{engine.url.database}-wal")
        assert wal.exists()  # WAL mode: the pool's connections have it open
        mode = wal.stat().st_mode
        wal.chmod(0o444)
        as_root = os.geteuid() == 0
        if as_root:
            subprocess.run(["chattr", "+i", str(wal)], check=True)
        else:
            engine.dispose()  # new connections open the -wal read-only
        try:
            yield
        finally:
            if as_root:
                subprocess.run(["chattr", "-i", str(wal)], check=True)
            wal.chmod(mode)
        return
    url = make_url(engine.url.render_as_string(hide_password=False))
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = url.database

    def set_read_only(on: bool) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
            conn.execute(
                f'ALTER DATABASE "{name}" SET default_transaction_read_only = '
                + ("on" if on else "off")
            )

    set_read_only(True)
    engine.dispose()  # new connections start read-only
    try:
        yield
    finally:
        set_read_only(False)
        engine.dispose()


async def test_database_fault_answers_503_and_loses_nothing(http, auth, seeded_engine):
    county = await auth("county")
    csrf = await page_login(http, "county")
    before = await http.post(
        "/api/veterans", json=_veteran(seeded_engine, "101"), headers=county
    )
    assert before.status_code == 201, before.text
    assert (await http.get("/healthz")).json()["database"] == "ok"

    with unwritable(seeded_engine), structlog.testing.capture_logs() as logs:
        # /healthz sees it, though reads still work.
        health = await http.get("/healthz")
        assert health.status_code == 503 and health.json()["status"] == "degraded"
        assert health.json()["database"].startswith("error")
        assert health.headers["Retry-After"]
        # An API write: 503, Retry-After, the API's error shape.
        r = await http.post(
            "/api/veterans", json=_veteran(seeded_engine, "102"), headers=county
        )
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"]
        assert r.json()["detail"]["type"] == "DatabaseUnavailable"
        # A page write: the error page, 503, Retry-After.
        page = await http.post(
            "/inbox/filters",
            data={"name": "故障中", "query": "tab=mine"},
            headers={"X-CSRF-Token": csrf},
        )
        assert page.status_code == 503
        assert 'id="error-page"' in page.text and page.headers["Retry-After"]
    faults = [e for e in logs if e["event"] == "database_unavailable"]
    # Logged once per failed request, naming the path.
    assert [e["path"] for e in faults] == ["/api/veterans", "/inbox/filters"]
    assert all(e["log_level"] == "error" and e["error"] for e in faults)

    # The fault is gone: everything answers again, and nothing was lost.
    health = await http.get("/healthz")
    assert health.status_code == 200 and health.json()["database"] == "ok"
    after = await http.post(
        "/api/veterans", json=_veteran(seeded_engine, "102"), headers=county
    )
    assert after.status_code == 201, after.text
    saved = await http.post(
        "/inbox/filters",
        data={"name": "恢复后", "query": "tab=mine"},
        headers={"X-CSRF-Token": csrf},
    )
    assert saved.status_code == 303
    with Session(seeded_engine) as s:
        names = set(s.exec(select(Veteran.name)).all())
        assert {"故障101", "故障102"} <= names and len(names) == 7
        assert [f.name for f in s.exec(select(SavedFilter)).all()] == ["恢复后"]
        if seeded_engine.dialect.name == "sqlite":
            ok = s.exec(text("PRAGMA integrity_check")).one()
            assert tuple(ok) == ("ok",)


def test_sigbus_from_a_broken_shm_is_reported(tmp_path):
    """SQLite maps its WAL index (-shm); an unwritable or truncated -shm kills the
    process with SIGBUS, which Python cannot catch. What we guarantee: the death is
    not silent — the process set up by configure_logging writes the traceback."""
    script = """
import os
import sys
from sqlalchemy import text
from models.db import make_engine
from models.logconfig import configure_logging
from models.settings import Settings

configure_logging(Settings(log_format="json", secret_key="x" * 40))
engine = make_engine(f"sqlite:///{sys.argv[1]}")
with engine.begin() as conn:
    conn.execute(text("CREATE TABLE t (x INTEGER)"))
    conn.execute(text("INSERT INTO t VALUES (1)"))
os.truncate(sys.argv[1] + "-shm", 0)  # the -shm broken under the open connection
with engine.begin() as conn:
    conn.execute(text("INSERT INTO t VALUES (2)"))
print("survived")
"""
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "app.db")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == -signal.SIGBUS, (run.returncode, run.stderr[-2000:])
    assert "Fatal Python error: Bus error" in run.stderr
    assert 'File "<string>"' in run.stderr  # the Python traceback of the fault
