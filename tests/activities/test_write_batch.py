"""The writes of one workflow activation (``project_all``) land in one transaction, on
SQLite and PostgreSQL: one commit for the batch, all its writes or none of them, a
later write seeing the earlier ones, and the notice dispatcher woken only once the
batch's notices are committed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError

from activities.cases import CaseActivities
from activities.human_tasks import HumanTaskActivities
from activities.notifications import NotificationActivities
from activities.notify_adapters import LogAdapter
from activities.projection import ProjectionActivities
from models.contracts import (
    CloseTaskInput,
    ProjectionCall,
    ProjectionCalls,
    RegisterCaseInput,
    TaskResult,
)
from models.db import after_commit, make_engine, session_scope, write_batch
from models.tables import AuditEvent, Case, HumanTask, Notice, OrgUnit, Veteran
from tests.activities.test_task_announcement import opening

AT = datetime(2026, 11, 30, 3, tzinfo=UTC)


def _projection(engine: Engine) -> tuple[ProjectionActivities, list[int]]:
    """The worker's projection activities; each wake-up of the notice dispatcher
    records how many notices it could read from another connection at that moment."""
    notices = NotificationActivities(engine, LogAdapter())
    seen: list[int] = []

    def wake() -> None:
        with Session(engine) as s:
            seen.append(len(s.exec(select(Notice.key)).all()))

    notices.on_queued = wake
    tasks = HumanTaskActivities(engine, notices)
    return ProjectionActivities(CaseActivities(engine), tasks, notices), seen


def _commits(engine: Engine) -> list[int]:
    counted: list[int] = []
    event.listen(engine, "commit", lambda _conn: counted.append(1))
    return counted


def _close(task_id: str, seq: int) -> ProjectionCall:
    return ProjectionCall(
        activity="close_task",
        input=CloseTaskInput(
            task_id=task_id,
            case_id="case-a",
            status="completed",
            seq=seq,
            result=TaskResult(
                task_id=task_id,
                step="information_collection",
                outcome="done",
                completed_by="village",
                completed_at=AT,
            ),
        ),
    )


def test_a_batch_commits_once_and_wakes_the_dispatcher_after(
    seeded_engine: Engine,
) -> None:
    e = seeded_engine
    projection, seen = _projection(e)
    with Session(e) as s:
        veteran = s.exec(select(Veteran)).first()
    assert veteran is not None and veteran.id is not None
    first = opening(e, "case-a.information_collection.1", "village")
    first.announce = None
    second = opening(e, "case-a.information_collection.2", "village")  # announced
    commits = _commits(e)
    records = projection.project_all(
        ProjectionCalls(
            calls=[
                ProjectionCall(
                    activity="register_case",
                    input=RegisterCaseInput(
                        case_id="case-b",
                        workflow_id="case-b",
                        process="return_home",
                        veteran_id=veteran.id,
                        title="退役军人返乡报到",
                        started_by="village",
                        started_at=AT,
                    ),
                ),
                ProjectionCall(activity="open_task", input=first),
                # Closes the row the write before it inserted: it sees that write.
                _close(first.task_id, seq=2),
                ProjectionCall(activity="open_task", input=second),
            ]
        )
    )
    assert len(commits) == 1  # one transaction, not one per write
    assert [r.activity for r in records.records] == [
        "register_case",
        "open_task",
        "close_task",
        "open_task",
    ]
    assert records.records[3].result.announced == "village"
    # Woken once the notice could be read by the dispatcher's own connection.
    assert seen == [1]
    with Session(e) as s:
        assert s.get(Case, "case-b") is not None
        closed = s.get(HumanTask, first.task_id)
        assert closed is not None and closed.status == "completed"
        actions = s.exec(
            select(AuditEvent.action).where(AuditEvent.case_id == "case-a")
        ).all()
    assert sorted(actions) == ["task_completed", "task_opened", "task_opened"]


def test_a_write_that_fails_takes_the_batch_back(seeded_engine: Engine) -> None:
    """The writes before a refused one are not kept: the workflow then runs each
    write alone (workflows/human_task.py ``_WriteAlone``), so the refused one's
    incident names its own step."""
    e = seeded_engine
    projection, seen = _projection(e)
    good = opening(e, "case-a.information_collection.1", "village")
    bad = opening(e, "case-a.information_collection.2", "village")
    bad.org_unit_id = 999_999  # no such unit: refused, not retried
    with pytest.raises(ApplicationError) as refused:
        projection.project_all(
            ProjectionCalls(
                calls=[
                    ProjectionCall(activity="open_task", input=good),
                    ProjectionCall(activity="open_task", input=bad),
                ]
            )
        )
    assert refused.value.type == "UnknownOrgUnit"
    assert seen == []  # nothing was committed: nobody woken
    with Session(e) as s:
        assert s.exec(select(HumanTask)).all() == []
        assert s.exec(select(Notice)).all() == []
        assert not s.exec(
            select(AuditEvent).where(AuditEvent.case_id == "case-a")
        ).all()
    # Run again alone, the good write lands and announces once.
    projection.project(ProjectionCall(activity="open_task", input=good))
    assert seen == [1]


def test_batches_do_not_nest_and_callbacks_wait_for_the_commit(
    seeded_engine: Engine,
) -> None:
    e = seeded_engine
    called: list[str] = []
    after_commit(e, lambda: called.append("alone"))  # no batch: at once
    assert called == ["alone"]
    with pytest.raises(RuntimeError), write_batch(e), write_batch(e):
        pass
    with pytest.raises(ValueError), write_batch(e):
        after_commit(e, lambda: called.append("rolled back"))
        with session_scope(e) as s:  # joins the batch
            unit = s.exec(select(OrgUnit.id)).first()
            assert unit is not None
            s.add(
                Case(
                    id="case-x",
                    workflow_id="case-x",
                    process="return_home",
                    org_unit_id=unit,
                )
            )
            s.flush()  # written, in the batch's transaction
        raise ValueError("the batch fails")
    assert called == ["alone"]  # a batch that failed calls nobody
    with Session(e) as s:
        assert s.get(Case, "case-x") is None


def test_the_projection_refuses_activities_on_two_engines(
    seeded_engine: Engine, tmp_path
) -> None:
    """A batch's writes join it by engine: on another engine they would open a second
    connection and, on SQLite, wait for the batch's own write lock."""
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with pytest.raises(ValueError, match="one engine"):
        ProjectionActivities(CaseActivities(other), HumanTaskActivities(seeded_engine))
    other.dispose()
