"""A write batch reads reference rows once and writes keyed rows without reading first,
on SQLite and PostgreSQL: a step that opens several tasks reads the holiday table, its
unit's path and the veteran's contacts once (``read_once``), yet the next batch reads
them again, so an admin's holiday change applies from the next step on; a keyed audit
row is one INSERT that skips a key already there (``InsertOnce``). A notice still reads
its key first: a queued notice is never rendered again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from activities.cases import CaseActivities
from activities.human_tasks import HumanTaskActivities
from activities.notifications import NotificationActivities
from activities.notify_adapters import LogAdapter
from activities.projection import ProjectionActivities
from models.audit import add_audit_event
from models.contracts import (
    DeliverNoticeInput,
    ProjectionCall,
    ProjectionCalls,
    TaskPolicy,
    task_notice,
)
from models.db import read_once, session_scope, write_batch
from models.tables import AuditEvent, Holiday, Notice
from tests.activities.test_task_announcement import opening


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement ``engine`` runs inside the block."""
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(" ".join(str(args[2]).split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _reads(seen: list[str], table: str) -> int:
    return sum(
        1
        for s in seen
        if s.startswith("SELECT") and re.search(rf"FROM {table}(?!\w)", s)
    )


def _openings(engine: Engine, prefix: str, n: int) -> list[ProjectionCall]:
    calls = []
    for i in range(n):
        inp = opening(engine, f"case-a.{prefix}.{i}", "village")  # announced
        inp.policy = TaskPolicy(working_days=3)
        calls.append(ProjectionCall(activity="open_task", input=inp))
    return calls


def test_a_batch_reads_reference_rows_once_and_the_next_batch_anew(
    seeded_engine: Engine,
) -> None:
    e = seeded_engine
    notices = NotificationActivities(e, LogAdapter())
    projection = ProjectionActivities(
        CaseActivities(e), HumanTaskActivities(e, notices), notices
    )
    calls = ProjectionCalls(calls=_openings(e, "a", 3))
    with statements(e) as seen:
        first = projection.project_all(calls)
    # Three openings, each announced to its holder: one read of the holiday table,
    # of the unit's path, of the case and of the station its notices name, for all
    # three.
    assert _reads(seen, "holiday") == 1
    assert sum(1 for s in seen if "org_unit.path" in s) == 1
    assert _reads(seen, '"case"') == 1
    assert sum(1 for s in seen if "org_unit.address" in s) == 1
    # Keyed audit rows are inserted without a read before each.
    assert _reads(seen, "audit_event") == 0
    assert _reads(seen, "notice") == 3
    inserts = [s for s in seen if s.startswith("INSERT")]
    assert len([s for s in inserts if "INTO human_task" in s]) == 3
    assert len([s for s in inserts if "INTO notice" in s]) == 3
    assert len([s for s in inserts if "INTO audit_event" in s]) == 3

    # 2026-11-30 is a Monday: three working days end on Thursday 3 December. An
    # admin then makes Tuesday a holiday; the next batch reads the table again.
    due = [r.result.due_at for r in first.records]
    assert {d.date() for d in due} == {date(2026, 12, 3)}
    with Session(e) as s:
        s.add(Holiday(day=date(2026, 12, 1), workday=False, name="测试假日"))
        s.commit()
    calls = ProjectionCalls(calls=_openings(e, "b", 2))
    with statements(e) as seen:
        second = projection.project_all(calls)
    assert _reads(seen, "holiday") == 1
    assert {r.result.due_at.date() for r in second.records} == {date(2026, 12, 4)}


def test_outside_a_batch_every_read_loads(seeded_engine: Engine) -> None:
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return len(loads)

    with session_scope(seeded_engine) as session:
        assert [read_once(session, "k", load) for _ in range(2)] == [1, 2]
    with write_batch(seeded_engine) as session:
        assert [read_once(session, "k", load) for _ in range(2)] == [3, 3]
        assert read_once(session, "other", load) == 4
    with write_batch(seeded_engine) as session:
        assert read_once(session, "k", load) == 5  # a new batch reads again
        # A row not there yet is read again: a later write may insert it.
        assert [read_once(session, "none", lambda: loads.append(1)) for _ in "ab"] == [
            None,
            None,
        ]
    assert len(loads) == 7


def test_a_keyed_audit_row_is_written_once_in_one_statement(
    seeded_engine: Engine,
) -> None:
    """A retried write (the same audit key) adds nothing and raises nothing, in a
    batch: the batch's transaction stays usable for the writes after it (here a
    notice, whose second attempt finds its row by its key and inserts nothing)."""
    e = seeded_engine
    notices = NotificationActivities(e, LogAdapter())
    notice = DeliverNoticeInput(
        notice=task_notice(
            task_id="case-a.unused",
            case_id="case-a",
            title="信息采集",
            due_at=None,
            kind="review_returned",
            username="village",
            reasons=["住址与户籍不符"],
        ),
        policy=TaskPolicy(working_days=1),
    )
    opening(e, "case-a.unused", None)  # the case row the notice names
    with statements(e) as seen:
        for _ in range(2):
            with write_batch(e) as session:
                for _ in range(2):
                    add_audit_event(
                        session,
                        actor="system",
                        action="test",
                        entity_type="task",
                        entity_id="t",
                        dedupe_key="batch-reads:audit",
                    )
                    notices.queue_in(session, notice)
    assert len([s for s in seen if s.startswith("INSERT INTO audit_event")]) == 4
    assert _reads(seen, "audit_event") == 0
    assert len([s for s in seen if s.startswith("INSERT INTO notice")]) == 1
    with Session(e) as s:
        audits = s.exec(
            select(AuditEvent).where(AuditEvent.dedupe_key == "batch-reads:audit")
        ).all()
        queued = s.exec(select(Notice).where(Notice.key == notice.notice.key)).all()
    assert len(audits) == 1 and len(queued) == 1
    assert queued[0].recipient == "village"
