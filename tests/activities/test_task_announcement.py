"""A task's opening announces it to its first holder in the same transaction (engine
0.9, ``OpenTaskInput.announce``), on SQLite and PostgreSQL: queued once however often
the local activity runs, to the B角 when the holder is away (003 §7.7.1), to nobody
when the task waits in its unit's queue. The same on the dev server, for whole cases:
tests/workflows/test_notices.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError

from activities.human_tasks import HumanTaskActivities
from activities.notifications import NotificationActivities
from activities.notify_adapters import LogAdapter
from models.contracts import OpenTaskInput, TaskAnnouncement, TaskPolicy
from models.tables import Account, AuditEvent, Case, HumanTask, Notice


def opening(engine: Engine, task_id: str, holder: str | None) -> OpenTaskInput:
    with Session(engine) as s:
        unit_id = (
            s.exec(select(Account.org_unit_id).where(Account.username == "village"))
        ).one()
        if s.get(Case, "case-a") is None:
            s.add(
                Case(
                    id="case-a",
                    workflow_id="case-a",
                    process="return_home",
                    org_unit_id=unit_id,
                )
            )
            s.commit()
    return OpenTaskInput(
        task_id=task_id,
        case_id="case-a",
        workflow_id="case-a",
        process="return_home",
        step="information_collection",
        title="信息采集",
        regulation="003 §6.1.4",
        candidate_role="village_staff",
        org_unit_id=unit_id,
        outcomes=["done"],
        created_at=datetime(2026, 11, 30, 2, tzinfo=UTC),
        policy=TaskPolicy(duration=timedelta(days=3)),
        preferred_assignee=holder,
        spec_version=2,
        announce=TaskAnnouncement(
            template="review_returned",
            reasons=["住址与户籍不符"],
            policy=TaskPolicy(duration=timedelta(hours=4)),
            attempts=3,
        ),
    )


def activities(engine: Engine) -> tuple[HumanTaskActivities, list[int]]:
    woken: list[int] = []
    notices = NotificationActivities(engine, LogAdapter())
    notices.on_queued = lambda: woken.append(1)
    return HumanTaskActivities(engine, notices), woken


def notices(engine: Engine) -> list[Notice]:
    with Session(engine) as s:
        return list(s.exec(select(Notice)).all())


def test_the_opening_queues_its_holders_notice_once(seeded_engine: Engine) -> None:
    acts, woken = activities(seeded_engine)
    inp = opening(seeded_engine, "case-a.information_collection.2", "village")
    first = acts.open_task(inp)
    again = acts.open_task(inp)  # the local activity retried after its write
    assert first.assignee == again.assignee == "village"
    assert first.announced == "village" and again.announced is None
    # The retry's insert finds the row (ON CONFLICT DO NOTHING): it answers the
    # row's values and writes nothing more.
    assert (again.due_at, again.org_path) == (first.due_at, first.org_path)
    assert again.escalate_at == first.escalate_at
    with Session(seeded_engine) as s:
        opened = s.exec(
            select(AuditEvent).where(AuditEvent.action == "task_opened")
        ).all()
    assert [a.entity_id for a in opened] == [inp.task_id]
    (notice,) = notices(seeded_engine)
    assert notice.key == "case-a.information_collection.2:review_returned:village"
    assert notice.recipient == "village" and notice.kind == "review_returned"
    assert notice.dispatch == "outbox" and notice.status == "pending"
    assert notice.max_attempts == 3
    assert "住址与户籍不符" in notice.body  # the reviewer's reasons, rendered
    assert woken == [1]


def test_an_absent_holder_s_task_is_announced_to_their_backup(
    seeded_engine: Engine,
) -> None:
    # 东关村: village and village2 are each other's B角.
    with Session(seeded_engine) as s:
        acc = s.exec(select(Account).where(Account.username == "village")).one()
        acc.absent = True
        s.add(acc)
        s.commit()
    acts, _ = activities(seeded_engine)
    opened = acts.open_task(opening(seeded_engine, "case-a.x.1", "village"))
    assert opened.assignee == opened.announced == "village2"
    assert [n.recipient for n in notices(seeded_engine)] == ["village2"]


def test_a_task_without_holder_is_announced_to_nobody(seeded_engine: Engine) -> None:
    acts, woken = activities(seeded_engine)
    opened = acts.open_task(opening(seeded_engine, "case-a.x.1", None))
    assert opened.assignee is None and opened.announced is None
    assert notices(seeded_engine) == [] and woken == []


def test_without_an_outbox_the_opening_fails_and_writes_nothing(
    seeded_engine: Engine,
) -> None:
    bare = HumanTaskActivities(seeded_engine)
    with pytest.raises(ApplicationError) as err:
        bare.open_task(opening(seeded_engine, "case-a.x.1", "village"))
    assert err.value.type == "NoNoticeOutbox" and err.value.non_retryable
    with Session(seeded_engine) as s:
        assert s.get(HumanTask, "case-a.x.1") is None
    assert notices(seeded_engine) == []
