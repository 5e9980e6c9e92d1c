"""Task actions shared by the JSON API and the web pages: each is a workflow Update,
and a rejection becomes the HTTP error the caller shows (404/403/409/422; 503 with
Retry-After when Temporal does not answer within the call timeout).

Before an Update is sent, the API checks what it can from the task row: the actor's
right to act (403, the rule of the workflow's validators), the outcome and the form
data (422: bounded size, depth and text, then the step's form of the case's version).
So a request the workflow would refuse, or one too large for a Temporal payload,
never reaches Temporal; the workflow's validators still decide on its own state."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import HTTPException
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from api.case_queries import account_with_unit, visible_task_and_version
from api.deps import AuthUser, BearerSession
from api.errors import invalid
from api.update_errors import call_temporal, http_error_for, rpc_timeout
from models.contracts import (
    Actor,
    ClaimTaskInput,
    CompleteTaskInput,
    ReassignTaskInput,
    TaskResult,
)
from models.processes import spec_of
from models.tables import HumanTask
from models.task_completion import completed_values
from workflows.human_task import ProcessWorkflow


def visible_or_404(engine: Engine, user: AuthUser, task_id: str) -> HumanTask:
    """The task if it lies in the user's subtree; 404 otherwise (in the threadpool)."""
    return _visible_with_version(engine, user, task_id)[0]


def _visible_with_version(
    engine: Engine, user: AuthUser, task_id: str
) -> tuple[HumanTask, int | None]:
    """:func:`visible_or_404` and the definition version its case runs."""
    found = visible_task_and_version(
        engine, task_id, user.org_path, username=user.username
    )
    if found is None:
        raise task_not_found()
    return found


def task_not_found() -> HTTPException:
    """404 for a task outside the reader's subtree, or no task at all."""
    return HTTPException(404, detail="任务不存在 (task not found)")


async def load_task(engine: Engine, user: AuthUser, task_id: str) -> HumanTask:
    """The task if it lies in the user's subtree; 404 otherwise."""
    return (await load_task_and_version(engine, user, task_id))[0]


async def load_task_and_version(
    engine: Engine, user: AuthUser, task_id: str
) -> tuple[HumanTask, int | None]:
    """:func:`load_task` and the definition version its case runs (for
    :func:`complete`)."""
    task, version = await run_in_threadpool(
        _visible_with_version, engine, user, task_id
    )
    structlog.contextvars.bind_contextvars(task_id=task.id, case_id=task.case_id)
    return task, version


async def _update(temporal: Client, task: HumanTask, update: Any, inp: Any) -> Any:
    """Send the Update and wait for its answer (returned), at most the request's
    Temporal call timeout: a worker that is down or a case waiting on an incident
    answers 503 with Retry-After instead of holding the request."""
    handle = temporal.get_workflow_handle(task.workflow_id)
    try:
        return await call_temporal(
            handle.execute_update(update, inp, rpc_timeout=rpc_timeout())
        )
    except (WorkflowUpdateFailedError, RPCError) as exc:
        error = http_error_for(exc)
        if _not_known_yet(error, task):
            raise catching_up() from exc
        raise error from exc


CATCHING_UP_RETRY_SECONDS = 2
CATCHING_UP_MESSAGE = (
    "办件正在恢复，请稍后重试 (the case is catching up after a restart; "
    "try again shortly)"
)


def catching_up() -> HTTPException:
    """503 ``{"type": "CaseCatchingUp", "message": ...}`` with ``Retry-After``."""
    return HTTPException(
        status_code=503,
        detail={"type": "CaseCatchingUp", "message": CATCHING_UP_MESSAGE},
        headers={"Retry-After": str(CATCHING_UP_RETRY_SECONDS)},
    )


def _not_known_yet(error: HTTPException, task: HumanTask) -> bool:
    """The workflow does not know a task whose row the API read as open. Only the
    case's own opening writes that row, so its workflow task has not completed: a
    worker died after the row's write and before it, and the retried workflow task
    runs this Update's validator before the opening registers the task again
    (validators run on an activation's state before its handlers go on). That passes
    once the retry completes, so the clerk is asked to try again (503), not told the
    task they see does not exist (404)."""
    detail = error.detail
    return (
        error.status_code == 404
        and isinstance(detail, dict)
        and detail.get("type") == "TaskNotFound"
        and task.status == "open"
    )


# Bounds on a step form's data, checked before the form itself (the forms' own text
# fields allow at most 2,000 characters; no form has more than a few dozen fields).
FORM_MAX_FIELDS = 100
FORM_MAX_DEPTH = 4
FORM_MAX_ITEMS = 200
FORM_MAX_TEXT = 4000
MAX_REPORTED_ERRORS = 50
# The same bounds as the JSON bodies' (models/public.py), for the pages' forms too.
MAX_COMMENT = 2000
MAX_REASON = 500


def refused(message: str) -> HTTPException:
    """403 in the shape of the workflow's own refusal."""
    return HTTPException(403, detail={"type": "NotAuthorized", "message": message})


def may_work(user: AuthUser, task: HumanTask) -> bool:
    """The holder, or staff with the step's role in a unit at or above the task's
    (the workflow's own rule, ``Actor.eligible``)."""
    return task.assignee == user.username or user.actor().eligible(
        task.candidate_role, task.org_path
    )


def supervises(user: AuthUser, task: HumanTask) -> bool:
    """A manager/admin of the subtree, or staff of a unit above the task's unit (the
    workflow's own rule, ``Actor.supervises``)."""
    return user.actor().supervises(task.org_path)


def check_may_work(user: AuthUser, task: HumanTask) -> None:
    if not may_work(user, task):
        raise refused(
            f"您不具备“{task.title}”环节的办理角色 ({task.candidate_role}) "
            "(you do not hold this step's role)"
        )


def _check_length(field: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise invalid(
            [
                {
                    "loc": ["body", field],
                    "msg": f"至多 {limit} 字 (at most {limit} characters)",
                    "type": "string_too_long",
                }
            ]
        )


def form_bounds_errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Field errors for form data beyond the bounds above (empty when within)."""
    if len(data) > FORM_MAX_FIELDS:
        return [
            {
                "loc": ["body", "data"],
                "msg": f"至多 {FORM_MAX_FIELDS} 项 (at most {FORM_MAX_FIELDS} fields)",
                "type": "too_long",
            }
        ]
    errors: list[dict[str, Any]] = []
    stack: list[tuple[Any, list[Any]]] = [(v, [k]) for k, v in data.items()]
    while stack and len(errors) < MAX_REPORTED_ERRORS:
        value, loc = stack.pop()
        where = ["body", "data", *loc]
        if isinstance(value, dict | list):
            if len(loc) >= FORM_MAX_DEPTH:
                errors.append(
                    {
                        "loc": where,
                        "msg": "嵌套过深 (nested too deep)",
                        "type": "too_deep",
                    }
                )
            elif len(value) > FORM_MAX_ITEMS:
                errors.append(
                    {
                        "loc": where,
                        "msg": f"至多 {FORM_MAX_ITEMS} 项 (at most {FORM_MAX_ITEMS} items)",
                        "type": "too_long",
                    }
                )
            elif isinstance(value, dict):
                stack.extend((v, [*loc, k]) for k, v in value.items())
            else:
                stack.extend((v, [*loc, i]) for i, v in enumerate(value))
        elif isinstance(value, str) and len(value) > FORM_MAX_TEXT:
            errors.append(
                {
                    "loc": where,
                    "msg": f"内容过长，至多 {FORM_MAX_TEXT} 字 "
                    f"(at most {FORM_MAX_TEXT} characters)",
                    "type": "string_too_long",
                }
            )
    return errors


def normalised_form_data(
    task: HumanTask, spec_version: int | None, outcome: str, data: dict[str, Any]
) -> dict[str, Any]:
    """The form data as the step's form (of the version the case runs) dumps it, so
    the case records every field. 422 (FastAPI's item shape, ``loc`` under
    ``["body", "data"]``) for data beyond the bounds or that the form refuses, and for
    an outcome the step does not have; the workflow's validator would refuse them
    alike."""
    errors = form_bounds_errors(data)
    if errors:
        raise invalid(errors)
    if task.outcomes and outcome not in task.outcomes:
        raise invalid(
            [
                {
                    "loc": ["body", "outcome"],
                    "msg": f"办理结果须为 {', '.join(task.outcomes)} 之一 "
                    f"(must be one of {list(task.outcomes)})",
                    "type": "InvalidOutcome",
                }
            ]
        )
    spec = spec_of(task.process, spec_version)
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
    except ValidationError as e:
        raise invalid(
            [
                {
                    "loc": ["body", "data", *err["loc"]],
                    "msg": err["msg"],
                    "type": err["type"],
                }
                for err in e.errors(
                    include_url=False, include_context=False, include_input=False
                )[:MAX_REPORTED_ERRORS]
            ]
        ) from None


async def complete(
    temporal: Client,
    task: HumanTask,
    spec_version: int | None,
    user: AuthUser,
    outcome: str,
    data: dict[str, Any],
    comment: str,
) -> None:
    """Complete ``task`` (read with its case's ``spec_version``,
    :func:`load_task_and_version`)."""
    inp = await run_in_threadpool(
        _completion, task, spec_version, user, outcome, data, comment
    )
    await _update(temporal, task, ProcessWorkflow.complete_task, inp)


async def complete_by_id(
    temporal: Client,
    reads: Engine,
    session: BearerSession,
    task_id: str,
    outcome: str,
    data: dict[str, Any],
    comment: str,
) -> tuple[AuthUser, HumanTask]:
    """The JSON API's completion: the session's check, the task's read and the form's
    checks in one trip to the threadpool on one connection of ``reads`` (the answers
    in the order of :func:`load_task` then :func:`complete`: 401, 404, 403, 422),
    then the Update. Returns the user and the task as the workflow completed it: the
    row read before the Update with the recorded completion applied
    (:func:`completed_task`), not read again."""

    def prepare() -> tuple[AuthUser, HumanTask, CompleteTaskInput]:
        with reads.connect() as conn:
            user = session.user(conn)
            found = visible_task_and_version(
                conn, task_id, user.org_path, username=user.username
            )
        if found is None:
            raise task_not_found()
        task, version = found
        return user, task, _completion(task, version, user, outcome, data, comment)

    user, task, inp = await run_in_threadpool(prepare)
    structlog.contextvars.bind_contextvars(
        user=user.username, task_id=task.id, case_id=task.case_id
    )
    result = await _update(temporal, task, ProcessWorkflow.complete_task, inp)
    return user, completed_task(task, result)


def completed_task(task: HumanTask, result: TaskResult) -> HumanTask:
    """``task`` (a row read outside any session, changed in place) as the projection
    records its completion by ``result`` (``models.task_completion``, the rule
    ``apply_close`` writes). A write that lands on the row between the read and the
    Update (a deadline moved) shows from the next read on."""
    task.status = "completed"
    for name, value in completed_values(result, task.due_at).items():
        setattr(task, name, value)
    return task


def _completion(
    task: HumanTask,
    spec_version: int | None,
    user: AuthUser,
    outcome: str,
    data: dict[str, Any],
    comment: str,
) -> CompleteTaskInput:
    """The ``complete_task`` Update's input, once the user may work the task and the
    comment and form pass their checks."""
    check_may_work(user, task)
    _check_length("comment", comment, MAX_COMMENT)
    return CompleteTaskInput(
        task_id=task.id,
        actor=user.actor(),
        outcome=outcome,
        data=normalised_form_data(task, spec_version, outcome, data),
        comment=comment,
    )


async def claim(
    temporal: Client, task: HumanTask, user: AuthUser, *, force: bool = False
) -> None:
    check_may_work(user, task)
    await _update(
        temporal,
        task,
        ProcessWorkflow.claim_task,
        ClaimTaskInput(task_id=task.id, actor=user.actor(), force=force),
    )


async def unclaim(temporal: Client, task: HumanTask, user: AuthUser) -> None:
    if task.assignee not in (None, user.username) and not supervises(user, task):
        raise refused(
            "只有办理人或上级可以退回任务 (only the holder or a supervisor may do this)"
        )
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
    if not supervises(user, task):
        raise refused(
            "只有上级或管理员可以转派任务 (only a supervisor or manager may reassign)"
        )
    _check_length("reason", reason, MAX_REASON)
    found = await run_in_threadpool(account_with_unit, engine, username)
    if found is None or not found[1].path.startswith(user.org_path):
        raise invalid(
            [
                {
                    "loc": ["body", "username"],
                    "msg": "未知的工作人员 (unknown staff member)",
                    "type": "value_error",
                }
            ]
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
