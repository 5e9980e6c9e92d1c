"""Escalation is a ladder, reminders reach the candidate group, and deadlines follow
the holiday table when an admin changes it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from models.contracts import (
    CalendarChanged,
    EscalationRung,
    ProcessPolicy,
    TaskPolicy,
)
from models.settings import Settings
from models.tables import AuditEvent, Holiday
from models.workdays import TZ, WorkCalendar
from tests.conftest import DB_BACKENDS
from tests.support import complete, notices, open_task, record_history, tasks, wait_for
from tests.workflows.conftest import RecordingAdapter, start_case, veteran_id
from tests.workflows.journeys import Journeys, Registry
from workflows.return_home import ReturnHomeWorkflow

# Each test's case runs as a journey of its own (tests/workflows/journeys.py): all of
# them start with the module, side by side, each with its own database (on each
# backend), settings and worker, and each test awaits its own.
journey = Registry()


journeys = journey.fixture()


INFO = {"hukou_address": "示范县城关镇东关村1号", "education": "高中"}


@journey()
async def the_ladder_climbs_rung_by_rung_and_reminds_the_group(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    ladder = [
        EscalationRung(after=timedelta(0), notify="supervisor"),
        EscalationRung(after=timedelta(seconds=1), notify="unit_above"),
        EscalationRung(after=timedelta(seconds=2), notify="county_leader"),
    ]
    policy = ProcessPolicy(
        name="test",
        default=TaskPolicy(duration=timedelta(minutes=10)),
        steps={
            "information_collection": TaskPolicy(
                duration=timedelta(seconds=3),
                remind_before=timedelta(seconds=2),
                escalation=ladder,
            )
        },
    )
    handle = await start_case(
        client, settings, veteran_id(e, party_member=True), policy=policy
    )
    await complete(handle, e, "archive_review", "county", "approve", {})
    task = await open_task(e, handle.id, "information_collection")
    assert task.assignee is None  # nobody holds it: the village station's queue
    reminders = await wait_for(lambda: notices(e, handle.id, "reminder"))
    await wait_for(lambda: len(notices(e, handle.id, "reminder")) == 2)
    # While unclaimed, the reminder goes to every clerk who may take it.
    assert sorted(n.recipient for n in notices(e, handle.id, "reminder")) == [
        "village",
        "village2",
    ]
    assert reminders
    top = await wait_for(
        lambda: tasks(e, handle.id, step="information_collection", escalation_level=3),
        timeout=20,
    )
    assert top[0].overdue
    overdue = await wait_for(lambda: len(notices(e, handle.id, "overdue")) == 4 or None)
    assert overdue
    by_rung: dict[str, list[str]] = {}
    for n in notices(e, handle.id, "overdue"):
        by_rung.setdefault(n.key.rsplit(":", 1)[1], []).append(n.recipient)
    # Rung 1: the township station above the village (its clerk and B角: it has no
    # manager); 2: the county above it; 3: the county centre's leader.
    assert {rung: sorted(who) for rung, who in by_rung.items()} == {
        "r1": ["township", "township_b"],
        "r2": ["manager"],
        "r3": ["manager"],
    }
    assert "第3级督办" in next(
        n.subject for n in notices(e, handle.id, "overdue") if n.key.endswith("r3")
    )
    with Session(e) as s:
        actions = [
            a.action
            for a in s.exec(
                select(AuditEvent).where(AuditEvent.entity_id == task.id)
            ).all()
        ]
    assert actions.count("task_overdue") == 1 and actions.count("task_escalated") == 2
    await complete(handle, e, "information_collection", "village", "submitted", INFO)
    await open_task(e, handle.id, "township_review")
    await handle.terminate("test over")
    await record_history(handle, "ReturnHomeWorkflow", "escalation_ladder")


def _workday_after(start: date, n: int) -> date:
    cal = WorkCalendar()
    d = start
    while n:
        d += timedelta(days=1)
        n -= cal.is_workday(d)
    return d


@journey()
async def a_new_holiday_moves_open_deadlines_and_the_case_records_it(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    policy = ProcessPolicy(
        name="test",
        default=TaskPolicy(duration=timedelta(minutes=10)),
        steps={"archive_review": TaskPolicy(working_days=3)},
    )
    handle = await start_case(
        client, settings, veteran_id(e, party_member=True), policy=policy
    )
    task = await open_task(e, handle.id, "archive_review")
    due_before = (
        task.due_at.replace(tzinfo=UTC) if task.due_at.tzinfo is None else task.due_at
    )
    created = (
        task.created_at.replace(tzinfo=UTC)
        if task.created_at.tzinfo is None
        else task.created_at
    )
    first_day = _workday_after(created.astimezone(TZ).date(), 1)
    # The admin declares the first counted working day a holiday.
    with Session(e) as s:
        s.add(Holiday(day=first_day, workday=False, name="临时调整"))
        s.commit()
    await handle.signal(
        ReturnHomeWorkflow.calendar_changed,
        CalendarChanged(days=[first_day.isoformat()], actor="admin"),
    )

    def moved():
        (row,) = tasks(e, handle.id, step="archive_review")
        due = (
            row.due_at.replace(tzinfo=UTC) if row.due_at.tzinfo is None else row.due_at
        )
        return due if due != due_before else None

    due_after = await wait_for(moved)
    expected = _workday_after(first_day, 3)  # the 3 working days now start after it
    assert due_after.astimezone(TZ).date() == expected
    with Session(e) as s:
        audit = s.exec(
            select(AuditEvent).where(
                AuditEvent.entity_id == task.id,
                AuditEvent.action == "task_due_recomputed",
            )
        ).one()
    assert audit.before["due_at"] and audit.after["due_at"]
    history = await handle.fetch_history()
    names = [
        ev.activity_task_scheduled_event_attributes.activity_type.name
        for ev in history.events
        if ev.HasField("activity_task_scheduled_event_attributes")
    ]
    assert "recompute_due" in names
    assert any(
        ev.HasField("workflow_execution_signaled_event_attributes")
        for ev in history.events
    )
    assert datetime.now(UTC) < due_after
    await handle.terminate("test over")
    await record_history(handle, "ReturnHomeWorkflow", "holiday_moves_deadline")


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_the_ladder_climbs_rung_by_rung_and_reminds_the_group(
    journeys: Journeys, backend: str
) -> None:
    await journeys(the_ladder_climbs_rung_by_rung_and_reminds_the_group, backend)


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_a_new_holiday_moves_open_deadlines_and_the_case_records_it(
    journeys: Journeys, backend: str
) -> None:
    await journeys(a_new_holiday_moves_open_deadlines_and_the_case_records_it, backend)
