"""Database engine and sessions (SQLite for the embedded default, PostgreSQL in production).

SQL parameters never appear in error messages (``hide_parameters``): a failed statement
logs its SQL, not the ID numbers or names it carried. SQLite sets no ``mmap_size``
(the database file is read with ordinary I/O); its WAL index (the ``-shm`` file) is
always memory-mapped by SQLite itself, so a damaged or unwritable ``-shm`` ends the
process with SIGBUS, which no Python code can catch: ``configure_logging`` enables
``faulthandler`` so that such a death writes its traceback to stderr.
"""

from __future__ import annotations

import select
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import closing, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Column, Insert, Table, event, exc, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session, create_engine

_T = TypeVar("_T")

# How long the health check waits for SQLite's write lock before calling it a fault.
HEALTH_LOCK_TIMEOUT_SECONDS = 5.0
# A pooled PostgreSQL connection idle at least this long is pinged before it is lent.
PING_AFTER_IDLE_SECONDS = 5.0
_RETURNED = "vetflow_returned_at"  # the pool entry's info: when it was last returned


class DatabaseReadOnly(Exception):
    """The database answers but takes no writes (a PostgreSQL standby, read-only)."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        hide_parameters=True,
    )
    _ping_when_stale(engine)
    return engine


def _has_input(dbapi_conn: Any) -> bool:
    """True when an idle connection's socket has something to read (or hung up): the
    server closed it (a restart, an ended backend: its FATAL message or EOF) or sent
    an unsolicited message. Answered without a round trip."""
    if not hasattr(select, "poll"):
        return True  # no poll(): always ping
    poller = select.poll()
    try:
        poller.register(
            dbapi_conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP
        )
    except (OSError, ValueError):  # no socket to poll: ping, which tells
        return True
    return bool(poller.poll(0))


def _ping_when_stale(engine: Engine) -> None:
    """Instead of ``pool_pre_ping`` (a round trip on every checkout): a pooled
    connection is pinged before it is lent only when its socket has input (the server
    closed it) or it sat idle ``PING_AFTER_IDLE_SECONDS``; a failed ping discards it
    and every connection pooled before it, and the pool connects anew (as
    ``pool_pre_ping`` does). A connection lost without either sign fails its first
    statement: the API answers that with 503 (api/db_errors.py), and SQLAlchemy then
    discards the pool's older connections."""
    dbapi_error = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_conn: Any, entry: ConnectionPoolEntry) -> None:
        entry.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, entry: ConnectionPoolEntry) -> None:
        entry.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, entry: ConnectionPoolEntry, _proxy: Any) -> None:
        returned = entry.info.get(_RETURNED)
        try:  # a lost connection's socket (fileno) or ping raises the driver's error
            if (
                returned is not None
                and time.monotonic() - returned < PING_AFTER_IDLE_SECONDS
                and not _has_input(dbapi_conn)
            ):
                return
            engine.dialect.do_ping(dbapi_conn)
        except dbapi_error as err:
            raise exc.InvalidatePoolError(f"ping failed: {err}") from err


def check_database(engine: Engine) -> None:
    """Raise when the database cannot take a write now; return when it can.

    SQLite: a new connection (not one of the pool's, whose open files would hide a
    ``-wal`` or directory that became read-only) takes the write lock with
    ``BEGIN IMMEDIATE``, reads the schema and rolls back: nothing is written.
    PostgreSQL: a pooled connection must be on a primary in a read-write transaction.
    """
    database = engine.url.database or ""
    if engine.dialect.name == "sqlite" and database not in ("", ":memory:"):
        with closing(
            sqlite3.connect(
                database, timeout=HEALTH_LOCK_TIMEOUT_SECONDS, isolation_level=None
            )
        ) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                conn.execute("ROLLBACK")
        return
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            read_only = conn.execute(
                text(
                    "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'"
                )
            ).scalar_one()
            if read_only:
                raise DatabaseReadOnly("the database takes no writes")
        else:
            conn.execute(text("SELECT 1"))
        conn.rollback()


# One writer at a time per SQLite file in this process. SQLite lets one connection
# write at a time anyway; a writer that finds the lock taken waits in SQLite's busy
# handler, which sleeps 1, 2, 5, 10, 15 ... ms between tries, so a few of the worker's
# concurrent projection writes (a completion that opens four desks) queued behind each
# other for tens of ms. Taken here, the next writer starts as soon as the last one
# commits. Other processes on the same file still meet SQLite's busy timeout.
_SQLITE_WRITERS: dict[str, threading.RLock] = {}
_SQLITE_WRITERS_GUARD = threading.Lock()


@contextmanager
def one_writer(engine: Engine) -> Iterator[None]:
    """Hold this process's writer lock of ``engine``'s SQLite file for a write
    transaction (nothing on PostgreSQL, whose writers lock rows, not the database)."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with _SQLITE_WRITERS_GUARD:
        lock = _SQLITE_WRITERS.setdefault(engine.url.database or "", threading.RLock())
    with lock:
        yield


def core_connection(session: Session) -> Connection:
    """``session``'s connection, for Core statements in its transaction (the hot
    projection writes: no identity map or unit of work), after flushing what the
    ORM holds in it, so that they see its earlier changes."""
    session.flush()
    return session.connection()


@dataclass
class _Batch:
    engine: Engine
    session: Session
    after_commit: list[Callable[[], None]] = field(default_factory=list)


# ``session.info`` key of a write batch's reads (:func:`read_once`).
_READS = "vetflow_batch_reads"


# The write batch open in this thread (``write_batch``), if any.
_BATCH: ContextVar[_Batch | None] = ContextVar("vetflow_write_batch", default=None)


def _batch_of(engine: Engine) -> _Batch | None:
    batch = _BATCH.get()
    return batch if batch is not None and batch.engine is engine else None


@contextmanager
def write_batch(engine: Engine) -> Iterator[Session]:
    """One transaction for every write made inside on ``engine`` in this thread: each
    :func:`session_scope` and :func:`write_connection` joins it instead of committing
    on its own. It commits once at the end, so the writes land all together or, on
    an error, none of them; then the callbacks given to :func:`after_commit` run (a
    notice queued inside wakes its dispatcher only once it can be read)."""
    if _BATCH.get() is not None:
        raise RuntimeError("write batches do not nest")
    with session_scope(engine) as session:
        batch = _Batch(engine, session)
        token = _BATCH.set(batch)
        session.info[_READS] = {}
        try:
            yield session
        finally:
            session.info.pop(_READS, None)
            _BATCH.reset(token)
    for callback in batch.after_commit:
        callback()


def read_once(session: Session, key: Hashable, load: Callable[[], _T]) -> _T:
    """``load()``, run once per :func:`write_batch`: inside one, a later call with the
    same ``key`` gets the first call's answer; outside, every call loads. Only for
    rows no projection write changes (the holiday table, a unit's path and contacts,
    a case's veteran and unit, a person's contacts), which a batch of several
    openings and notices would otherwise read once per write. An answer of None is
    not kept: a later write of the batch may insert the row (a case's registration)."""
    memo: dict[Hashable, Any] | None = session.info.get(_READS)
    if memo is None:
        return load()
    if key in memo:
        return cast(_T, memo[key])
    value = load()
    if value is not None:
        memo[key] = value
    return value


class InsertOnce:
    """An INSERT into ``table`` that does nothing when the row's ``column`` (a unique
    key) is already there, in one statement on SQLite and PostgreSQL (``ON CONFLICT
    DO NOTHING``): no read before each idempotent write. With ``tell``, it returns
    the key (``RETURNING``): its result has a row when it wrote, none when the row
    was there (the driver's rowcount cannot tell: -1 on PostgreSQL, which returns
    the primary key implicitly). :meth:`on` is None for another database, whose
    caller reads first."""

    def __init__(
        self, table: Table, column: Column[Any], *, tell: bool = False
    ) -> None:
        by_dialect: dict[str, Insert] = {
            "sqlite": sqlite.insert(table).on_conflict_do_nothing(
                index_elements=[column]
            ),
            "postgresql": postgresql.insert(table).on_conflict_do_nothing(
                index_elements=[column]
            ),
        }
        self._by_dialect = (
            {name: st.returning(column) for name, st in by_dialect.items()}
            if tell
            else by_dialect
        )

    def on(self, conn: Connection) -> Insert | None:
        return self._by_dialect.get(conn.dialect.name)


def in_write_batch(engine: Engine) -> bool:
    """True inside a :func:`write_batch` of ``engine`` (in this thread)."""
    return _batch_of(engine) is not None


def after_commit(engine: Engine, callback: Callable[[], None]) -> None:
    """Call ``callback`` once the write just made on ``engine`` is committed: at once,
    or, inside a :func:`write_batch`, after the batch commits (never if it fails)."""
    batch = _batch_of(engine)
    if batch is None:
        callback()
    else:
        batch.after_commit.append(callback)


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A Core connection in a write transaction that commits at the end (on SQLite
    under ``one_writer``); inside a :func:`write_batch`, the batch's."""
    batch = _batch_of(engine)
    if batch is not None:
        yield core_connection(batch.session)
        return
    with one_writer(engine), engine.begin() as conn:
        yield conn


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error (on SQLite, one
    such session at a time per database file in this process: ``one_writer``).
    Inside a :func:`write_batch` of ``engine``, the batch's session: the batch
    commits, or rolls back whatever raises out of here."""
    batch = _batch_of(engine)
    if batch is not None:
        yield batch.session
        return
    with one_writer(engine):
        with Session(engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
