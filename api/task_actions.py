"""Task actions shared by the JSON API and the web pages: each is a workflow Update,
and a rejection becomes the HTTP error the caller shows (404/403/409/422; 503 with
Retry-After when Temporal does not answer within the call timeout)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import HTTPException
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from api.case_queries import account_with_unit, visible_task
from api.deps import AuthUser
from api.update_errors import call_temporal, http_error_for, rpc_timeout
from models.contracts import Actor, ClaimTaskInput, CompleteTaskInput, ReassignTaskInput
from models.processes import spec_of
from models.tables import Case, HumanTask
from workflows.human_task import ProcessWorkflow


async def load_task(engine: Engine, user: AuthUser, task_id: str) -> HumanTask:
    """The task if it lies in the user's subtree; 404 otherwise."""
    task = await run_in_threadpool(visible_task, engine, task_id, user.org_path)
    if task is None:
        raise HTTPException(404, detail="任务不存在 (task not found)")
    structlog.contextvars.bind_contextvars(task_id=task.id, case_id=task.case_id)
    return task


async def _update(temporal: Client, task: HumanTask, update: Any, inp: Any) -> None:
    """Send the Update and wait for its answer, at most the request's Temporal call
    timeout: a worker that is down or a case waiting on an incident answers 503 with
    Retry-After instead of holding the request."""
    handle = temporal.get_workflow_handle(task.workflow_id)
    try:
        await call_temporal(
            handle.execute_update(update, inp, rpc_timeout=rpc_timeout())
        )
    except (WorkflowUpdateFailedError, RPCError) as exc:
        raise http_error_for(exc) from exc


def normalised_form_data(
    engine: Engine, task: HumanTask, outcome: str, data: dict[str, Any]
) -> dict[str, Any]:
    """The form data as the step's form (of the version the case runs) dumps it, so
    the case records every field; data that does not validate is passed on as sent
    and the workflow's validator answers with the field errors."""
    with Session(engine) as session:
        case = session.get(Case, task.case_id)
    spec = spec_of(task.process, case.spec_version if case else None)
    if spec is None:
        return data
    try:
        form = spec.step(task.step).form
    except KeyError:
        return data
    try:
        return form.model_validate(data, context={"outcome": outcome}).model_dump(
            mode="json"
        )
    except ValidationError:
        return data


async def complete(
    temporal: Client,
    engine: Engine,
    task: HumanTask,
    user: AuthUser,
    outcome: str,
    data: dict[str, Any],
    comment: str,
) -> None:
    data = await run_in_threadpool(normalised_form_data, engine, task, outcome, data)
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
