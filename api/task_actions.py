"""Task actions shared by the JSON API and the web pages: each is a workflow Update,
and a rejection becomes the HTTP error the caller shows (404/403/409/422)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import HTTPException
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from api.case_queries import account_with_unit, visible_task
from api.deps import AuthUser
from api.update_errors import http_error_for
from models.contracts import Actor, ClaimTaskInput, CompleteTaskInput, ReassignTaskInput
from models.tables import HumanTask
from workflows.human_task import ProcessWorkflow


async def load_task(engine: Engine, user: AuthUser, task_id: str) -> HumanTask:
    """The task if it lies in the user's subtree; 404 otherwise."""
    task = await run_in_threadpool(visible_task, engine, task_id, user.org_path)
    if task is None:
        raise HTTPException(404, detail="任务不存在 (task not found)")
    structlog.contextvars.bind_contextvars(task_id=task.id, case_id=task.case_id)
    return task


async def _update(temporal: Client, task: HumanTask, update: Any, inp: Any) -> None:
    handle = temporal.get_workflow_handle(task.workflow_id)
    try:
        await handle.execute_update(update, inp)
    except (WorkflowUpdateFailedError, RPCError) as exc:
        raise http_error_for(exc) from exc


async def complete(
    temporal: Client,
    task: HumanTask,
    user: AuthUser,
    outcome: str,
    data: dict[str, Any],
    comment: str,
) -> None:
    inp = CompleteTaskInput(
        task_id=task.id, actor=user.actor(), outcome=outcome, data=data, comment=comment
    )
    await _update(temporal, task, ProcessWorkflow.complete_task, inp)


async def claim(
    temporal: Client, task: HumanTask, user: AuthUser, *, force: bool = False
) -> None:
    await _update(
        temporal,
        task,
        ProcessWorkflow.claim_task,
        ClaimTaskInput(task_id=task.id, actor=user.actor(), force=force),
    )


async def unclaim(temporal: Client, task: HumanTask, user: AuthUser) -> None:
    await _update(
        temporal,
        task,
        ProcessWorkflow.unclaim_task,
        ClaimTaskInput(task_id=task.id, actor=user.actor()),
    )


async def reassign(
    temporal: Client,
    engine: Engine,
    task: HumanTask,
    user: AuthUser,
    username: str,
    reason: str,
) -> None:
    """Give the task to ``username`` (a supervisor's action; the reason is audited)."""
    found = await run_in_threadpool(account_with_unit, engine, username)
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
        task_id=task.id, actor=user.actor(), target=target, reason=reason
    )
    await _update(temporal, task, ProcessWorkflow.reassign_task, inp)
