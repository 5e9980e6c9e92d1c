"""PostgreSQL's pool (models/db.py): a pooled connection is pinged before it is lent
only when the server closed it or it sat idle; one the server ended is replaced
without an error reaching the caller."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from models import db
from models.db import make_engine


@pytest.fixture
def pg(postgres_database: str) -> Iterator[Engine]:
    if not postgres_database:
        pytest.skip("VETFLOW_TEST_POSTGRES_URL is not set")
    engine = make_engine(postgres_database)
    yield engine
    engine.dispose()


def _pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_conn: object) -> bool:
        pings.append(dbapi_conn)
        return ping(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def test_a_connection_the_server_ended_is_replaced_on_checkout(
    pg: Engine, monkeypatch: pytest.MonkeyPatch
):
    pings = _pings(pg, monkeypatch)
    first = _pid(pg)
    assert _pid(pg) == first and pings == []  # just returned: lent without a ping
    admin = make_url(pg.url.render_as_string(hide_password=False))
    with psycopg.connect(
        admin.set(drivername="postgresql").render_as_string(hide_password=False),
        autocommit=True,
    ) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (first,))
        gone = "SELECT 1 FROM pg_stat_activity WHERE pid = %s"
        while conn.execute(gone, (first,)).fetchone():  # until the backend exited
            time.sleep(0.01)
    second = _pid(pg)  # its socket has the server's goodbye: pinged, replaced
    assert second != first and len(pings) == 1


def test_an_idle_connection_is_pinged(pg: Engine, monkeypatch: pytest.MonkeyPatch):
    pings = _pings(pg, monkeypatch)
    _pid(pg)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    _pid(pg)
    assert len(pings) == 1


def test_a_lost_or_failing_connection_is_replaced(
    pg: Engine, monkeypatch: pytest.MonkeyPatch
):
    """A lost connection has no socket to poll (psycopg raises), a failed ping
    raises: either way the connection is replaced, and no driver error reaches the
    caller."""
    first = _pid(pg)
    fileno = psycopg.Connection.fileno
    lost: list[object] = []

    def fileno_once_lost(conn: psycopg.Connection) -> int:
        if not lost:
            lost.append(conn)
            raise psycopg.OperationalError("the connection is lost")
        return fileno(conn)

    monkeypatch.setattr(psycopg.Connection, "fileno", fileno_once_lost)
    second = _pid(pg)
    assert second != first and len(lost) == 1
    pings: list[object] = []

    def ping_fails_once(dbapi_conn: object) -> bool:
        pings.append(dbapi_conn)
        if len(pings) == 1:
            raise psycopg.OperationalError("server closed the connection")
        return True

    monkeypatch.setattr(pg.dialect, "do_ping", ping_fails_once)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert _pid(pg) != second and len(pings) == 2  # the new one pinged too
