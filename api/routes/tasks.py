"""Human tasks: the inbox query and the claim / unclaim / reassign / complete actions.

Every action is a Temporal Update on the case workflow; its validator answers at once
(404 / 403 / 409 / 422). The API reads the task projection but never writes it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from starlette.concurrency import run_in_threadpool
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from api.case_queries import account_with_unit, list_tasks, visible_task
from api.deps import CurrentUser, EngineDep, TemporalDep
from api.update_errors import http_error_for
from models.contracts import Actor, ClaimTaskInput, CompleteTaskInput, ReassignTaskInput
from models.public import TaskClaim, TaskComplete, TaskPublic, TaskReassign, TasksPublic
from models.tables import HumanTask
from workflows.human_task import ProcessWorkflow

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


async def _task(engine: EngineDep, user: CurrentUser, task_id: str) -> HumanTask:
    task = await run_in_threadpool(visible_task, engine, task_id, user.org_path)
    if task is None:
        raise HTTPException(404, detail="任务不存在 (task not found)")
    return task


@router.get("", response_model=TasksPublic, summary="List tasks visible to me")
async def list_tasks_route(
    engine: EngineDep,
    user: CurrentUser,
    status: Annotated[
        str | None, Query(description="open | completed | skipped")
    ] = None,
    mine: Annotated[bool, Query(description="Only tasks I hold")] = False,
    case_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TasksPublic:
    """Tasks in my organisation's subtree, soonest due first."""
    rows, count = await run_in_threadpool(
        lambda: list_tasks(
            engine,
            user.org_path,
            username=user.username,
            status=status,
            mine=mine,
            case_id=case_id,
            limit=limit,
            offset=offset,
        )
    )
    return TasksPublic(data=[TaskPublic.model_validate(r) for r in rows], count=count)


@router.get("/{task_id}", response_model=TaskPublic, summary="One task")
async def get_task(task_id: str, engine: EngineDep, user: CurrentUser) -> TaskPublic:
    return TaskPublic.model_validate(await _task(engine, user, task_id))


@router.post("/{task_id}/claim", response_model=TaskPublic, summary="Claim a task")
async def claim_task(
    task_id: str,
    engine: EngineDep,
    temporal: TemporalDep,
    user: CurrentUser,
    body: TaskClaim | None = None,
) -> TaskPublic:
    """Take an open task into my list. A task a colleague holds answers 409 naming the
    holder, unless `force` confirms the takeover."""
    task = await _task(engine, user, task_id)
    inp = ClaimTaskInput(
        task_id=task_id, actor=user.actor(), force=bool(body and body.force)
    )
    await _update(temporal, task, ProcessWorkflow.claim_task, inp)
    return TaskPublic.model_validate(await _task(engine, user, task_id))


@router.post(
    "/{task_id}/unclaim", response_model=TaskPublic, summary="Give a task back"
)
async def unclaim_task(
    task_id: str, engine: EngineDep, temporal: TemporalDep, user: CurrentUser
) -> TaskPublic:
    task = await _task(engine, user, task_id)
    await _update(
        temporal,
        task,
        ProcessWorkflow.unclaim_task,
        ClaimTaskInput(task_id=task_id, actor=user.actor()),
    )
    return TaskPublic.model_validate(await _task(engine, user, task_id))


@router.post(
    "/{task_id}/reassign",
    response_model=TaskPublic,
    summary="Reassign a task (supervisors, managers)",
)
async def reassign_task(
    task_id: str,
    body: TaskReassign,
    engine: EngineDep,
    temporal: TemporalDep,
    user: CurrentUser,
) -> TaskPublic:
    task = await _task(engine, user, task_id)
    found = await run_in_threadpool(account_with_unit, engine, body.username)
    if found is None or not found[1].path.startswith(user.org_path):
        raise HTTPException(
            422,
            detail=[
                {
                    "loc": ["body", "username"],
                    "msg": "未知的工作人员 (unknown staff member)",
                    "type": "value_error",
                }
            ],
        )
    acc, unit = found
    target = Actor(
        username=acc.username,
        roles=list(acc.roles),
        org_unit_id=unit.id or 0,
        org_path=unit.path,
        absent=acc.absent,
    )
    inp = ReassignTaskInput(
        task_id=task_id, actor=user.actor(), target=target, reason=body.reason
    )
    await _update(temporal, task, ProcessWorkflow.reassign_task, inp)
    return TaskPublic.model_validate(await _task(engine, user, task_id))


@router.post(
    "/{task_id}/complete", response_model=TaskPublic, summary="Complete a task"
)
async def complete_task(
    task_id: str,
    body: TaskComplete,
    engine: EngineDep,
    temporal: TemporalDep,
    user: CurrentUser,
) -> TaskPublic:
    """Finish the step with an outcome and its form. Wrong outcome or form data: 422 with
    the field errors; a task no longer open or held by someone else: 409."""
    task = await _task(engine, user, task_id)
    inp = CompleteTaskInput(
        task_id=task_id,
        actor=user.actor(),
        outcome=body.outcome,
        data=body.data,
        comment=body.comment,
    )
    await _update(temporal, task, ProcessWorkflow.complete_task, inp)
    return TaskPublic.model_validate(await _task(engine, user, task_id))


async def _update(
    temporal: TemporalDep, task: HumanTask, update: object, inp: object
) -> None:
    handle = temporal.get_workflow_handle(task.workflow_id)
    try:
        await handle.execute_update(update, inp)  # type: ignore[call-overload]
    except (WorkflowUpdateFailedError, RPCError) as exc:
        raise http_error_for(exc) from exc
