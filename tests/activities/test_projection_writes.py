"""The task writes run as Core statements on the session's connection (no ORM unit of
work on a clerk's path), on SQLite and PostgreSQL: the row they insert carries every
column's default, and a transaction that mixes them with ORM writes — a projection
rebuild replays a case's writes in one session — sees and keeps each write in order."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from activities.human_tasks import (
    HumanTaskActivities,
    apply_assign,
    apply_close,
    apply_open,
)
from models.contracts import (
    AssignTaskInput,
    CloseTaskInput,
    OpenTaskResult,
    TaskResult,
)
from models.tables import AuditEvent, HumanTask
from tests.activities.test_task_announcement import opening

AT = datetime(2026, 11, 30, 3, tzinfo=UTC)


def test_an_opened_row_has_every_default(seeded_engine: Engine) -> None:
    inp = opening(seeded_engine, "case-a.information_collection.1", "village")
    inp.announce = None
    HumanTaskActivities(seeded_engine).open_task(inp)
    with Session(seeded_engine) as s:
        row = s.get(HumanTask, inp.task_id)
        audit = s.exec(
            select(AuditEvent.action, AuditEvent.before).where(
                AuditEvent.entity_id == inp.task_id
            )
        ).all()
    assert row is not None
    assert (row.status, row.assignee, row.round, row.seq) == ("open", "village", 1, 0)
    assert (row.overdue, row.escalation_level, row.outcome) == (False, 0, None)
    assert row.result == {} and row.context == {} and row.outcomes == ["done"]
    assert row.form_schema["title"]  # the step form's JSON Schema
    assert row.org_path.startswith("/") and row.due_at is not None
    assert audit == [("task_opened", None)]


def test_core_and_orm_writes_in_one_session_keep_their_order(
    seeded_engine: Engine,
) -> None:
    inp = opening(seeded_engine, "case-a.information_collection.1", None)
    inp.announce, inp.seq = None, 1
    with Session(seeded_engine) as s:
        apply_open(
            s,
            inp,
            OpenTaskResult(
                task_id=inp.task_id, assignee=None, due_at=None, remind_at=None
            ),
        )
        # An ORM write left pending in the session (a claim) ...
        apply_assign(
            s,
            AssignTaskInput(
                task_id=inp.task_id,
                case_id=inp.case_id,
                assignee="village",
                actor="village",
                action="claimed",
                at=AT,
                seq=2,
            ),
        )
        loaded = s.get(HumanTask, inp.task_id)
        assert loaded is not None and loaded.assignee == "village"
        # ... is seen by the Core write after it (seq 2 < 3: applied) ...
        apply_close(
            s,
            CloseTaskInput(
                task_id=inp.task_id,
                case_id=inp.case_id,
                status="completed",
                result=TaskResult(
                    task_id=inp.task_id,
                    step=inp.step,
                    outcome="done",
                    data={"note": "已采集"},
                    completed_by="village2",
                    completed_at=AT,
                ),
                seq=3,
            ),
        )
        # ... and the ORM's copy is refreshed, not flushed back over it.
        assert (loaded.status, loaded.assignee, loaded.seq) == (
            "completed",
            "village2",
            3,
        )
        s.commit()
    with Session(seeded_engine) as s:
        row = s.get(HumanTask, inp.task_id)
        actions = s.exec(
            select(AuditEvent.action)
            .where(AuditEvent.entity_id == inp.task_id)
            .order_by(AuditEvent.id)
        ).all()
    assert row is not None
    assert (row.status, row.assignee, row.seq, row.result) == (
        "completed",
        "village2",
        3,
        {"note": "已采集"},
    )
    assert actions == ["task_opened", "task_claimed", "task_completed"]
