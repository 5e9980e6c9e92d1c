"""The projection never goes backwards: every write carries the task's sequence from
the workflow and is applied only when newer. Races named in the issue, each tested."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select
from temporalio import activity
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities import build_activities
from activities.human_tasks import HumanTaskActivities
from models.contracts import (
    AssignTaskInput,
    ClaimTaskInput,
    CloseTaskInput,
    CompleteTaskInput,
    EscalateTaskInput,
    EscalateTaskResult,
    OpenTaskInput,
    ProcessPolicy,
    TaskPolicy,
    TaskResult,
)
from models.tables import AuditEvent, HumanTask, OrgUnit
from tests.support import actor, notices, open_task, tasks, wait_for
from tests.workflows.conftest import start_case, veteran_id
from workflows.registry import ALL_WORKFLOWS
from workflows.return_home import ReturnHomeWorkflow

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def opened(engine) -> tuple[HumanTaskActivities, str]:
    """A task row opened through the activity, as the workflow's first write (seq 1)."""
    acts = HumanTaskActivities(engine)
    with Session(engine) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.level == "county")).first()
    from models.tables import Case

    with Session(engine) as s:
        s.add(
            Case(
                id="c-1",
                workflow_id="c-1",
                process="return_home",
                veteran_id=1,
                org_unit_id=unit.id,
                org_path=unit.path,
            )
        )
        s.commit()
    ActivityEnvironment().run(
        acts.open_task,
        OpenTaskInput(
            task_id="c-1.archive_review.1",
            case_id="c-1",
            workflow_id="c-1",
            process="return_home",
            step="archive_review",
            title="档案审核",
            regulation="003 §6.2.2",
            candidate_role="county_staff",
            org_unit_id=unit.id,
            outcomes=["approve"],
            created_at=T0,
            policy=TaskPolicy(duration=timedelta(hours=1)),
            seq=1,
        ),
    )
    return acts, "c-1.archive_review.1"


def row(engine, task_id: str) -> HumanTask:
    with Session(engine) as s:
        return s.get(HumanTask, task_id)


def assign(acts, task_id, who, seq, action="claim"):
    ActivityEnvironment().run(
        acts.assign_task,
        AssignTaskInput(
            task_id=task_id,
            case_id="c-1",
            assignee=who,
            actor=who or "x",
            action=action,
            at=T0 + timedelta(minutes=seq),
            seq=seq,
        ),
    )


def test_a_late_retry_of_an_assignment_cannot_undo_a_newer_reassignment(demo_engine):
    acts, tid = opened(demo_engine)
    assign(acts, tid, "county", seq=2)
    assign(acts, tid, "county2", seq=3, action="reassign")
    assign(acts, tid, "county", seq=2)  # the claim's activity retried late
    r = row(demo_engine, tid)
    assert (r.assignee, r.seq) == ("county2", 3)


def test_a_late_retry_of_a_case_status_cannot_undo_the_close(demo_engine):
    """Found by tests/test_faults.py: a status write whose first attempt outlived an
    outage landed after the case's close and left the closed case 'appeal_upheld'."""
    from activities.cases import CaseActivities
    from models.contracts import CaseStatusInput
    from models.tables import Case

    opened(demo_engine)
    cases = CaseActivities(demo_engine)

    def status(name: str, seq: int) -> None:
        closed_at = T0 if name == "closed" else None
        ActivityEnvironment().run(
            cases.set_case_status,
            CaseStatusInput(case_id="c-1", status=name, closed_at=closed_at, seq=seq),
        )

    status("verifying", 1)
    status("appeal_upheld", 2)
    status("closed", 3)
    status("appeal_upheld", 2)  # the late attempt
    status("closed", 3)  # a repeat changes nothing
    with Session(demo_engine) as s:
        case = s.get(Case, "c-1")
        assert (case.status, case.closed_at is not None) == ("closed", True)
        trail = s.exec(
            select(AuditEvent.after).where(
                AuditEvent.case_id == "c-1", AuditEvent.action == "case_status"
            )
        ).all()
    assert [a["status"] for a in trail] == ["verifying", "appeal_upheld", "closed"]


def test_escalating_a_completed_task_does_nothing(demo_engine):
    acts, tid = opened(demo_engine)
    done_at = T0 + timedelta(minutes=30)
    ActivityEnvironment().run(
        acts.close_task,
        CloseTaskInput(
            task_id=tid,
            case_id="c-1",
            status="completed",
            seq=3,
            result=TaskResult(
                task_id=tid,
                step="archive_review",
                outcome="approve",
                completed_by="county",
                completed_at=done_at,
            ),
        ),
    )
    for seq in (2, 4):  # an older write, and one the workflow sent after completion
        result = ActivityEnvironment().run(
            acts.escalate_task,
            EscalateTaskInput(
                task_id=tid,
                case_id="c-1",
                assignee="county",
                candidate_role="county_staff",
                org_unit_id=row(demo_engine, tid).org_unit_id,
                at=T0 + timedelta(hours=1),
                seq=seq,
            ),
        )
        assert result == EscalateTaskResult(stale=True)
    r = row(demo_engine, tid)
    assert (r.status, r.assignee, r.overdue, r.escalation_level) == (
        "completed",
        "county",
        False,
        0,
    )
    with Session(demo_engine) as s:
        actions = [a.action for a in s.exec(select(AuditEvent)).all()]
    assert "task_overdue" not in actions


async def test_a_completion_racing_the_deadline_has_one_result(
    client, settings, demo_engine, adapter
):
    """The deadline fires and its escalation is still running when the clerk completes
    the task: the task ends completed by the clerk, overdue (it was completed after its
    due time), not rerouted, and nobody is told it is overdue."""
    e = demo_engine
    started: list[str] = []
    real = HumanTaskActivities(e)

    @activity.defn(name="escalate_task")  # type: ignore[untyped-decorator]
    def slow_escalate(inp: EscalateTaskInput) -> EscalateTaskResult:
        started.append(inp.task_id)
        time.sleep(2.0)  # the clerk's completion lands meanwhile
        return real.escalate_task(inp)

    acts = [
        a
        for a in build_activities(e, client, adapter)
        if getattr(a, "__name__", "") != "escalate_task"
    ] + [slow_escalate]
    policy = ProcessPolicy(
        name="test",
        default=TaskPolicy(duration=timedelta(minutes=10)),
        steps={"archive_review": TaskPolicy(duration=timedelta(seconds=2))},
    )
    async with Worker(
        client,
        task_queue=settings.task_queue,
        workflows=ALL_WORKFLOWS,
        activities=acts,
        activity_executor=ThreadPoolExecutor(8),
    ):
        handle = await start_case(
            client, settings, veteran_id(e, party_member=True), policy=policy
        )
        task = await open_task(e, handle.id, "archive_review")
        await handle.execute_update(
            ReturnHomeWorkflow.claim_task,
            ClaimTaskInput(task_id=task.id, actor=actor(e, "county")),
        )
        await wait_for(lambda: started, timeout=15)
        await handle.execute_update(
            ReturnHomeWorkflow.complete_task,
            CompleteTaskInput(
                task_id=task.id, actor=actor(e, "county"), outcome="approve", data={}
            ),
        )
        await open_task(e, handle.id, "information_collection")
        await wait_for(
            lambda: [ev for ev in _audit(e, task.id) if ev == "task_completed"]
        )
        await asyncio.sleep(3.0)  # the slow escalation finishes, the workflow reacts
        (r,) = tasks(e, handle.id, step="archive_review")
        assert (r.status, r.assignee, r.overdue, r.escalation_level) == (
            "completed",
            "county",
            True,
            0,
        )
        assert notices(e, handle.id, "overdue") == []
        assert notices(e, handle.id, "backup_routed") == []
        assert "task_overdue" not in _audit(e, task.id)
        await handle.terminate("test over")


def _audit(engine, task_id: str) -> list[str]:
    with Session(engine) as s:
        return [
            a.action
            for a in s.exec(
                select(AuditEvent).where(AuditEvent.entity_id == task_id)
            ).all()
        ]
