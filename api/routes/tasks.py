"""Human tasks: the inbox query and the claim / unclaim / reassign / complete actions.

Every action is a Temporal Update on the case workflow; its validator answers at once
(404 / 403 / 409 / 422). The API reads the task projection but never writes it.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api import task_actions
from api.case_queries import list_tasks
from api.deps import (
    AuthUser,
    BearerSessionDep,
    CurrentUser,
    EngineDep,
    ReadEngineDep,
    SettingsDep,
    TemporalDep,
)
from api.params import Offset
from api.task_reads import read_task, read_tasks
from models.public import TaskClaim, TaskComplete, TaskPublic, TaskReassign, TasksPublic
from models.tables import HumanTask

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


async def _task(engine: EngineDep, user: CurrentUser, task_id: str) -> HumanTask:
    return await task_actions.load_task(engine, user, task_id)


async def _public(
    engine: EngineDep, settings: SettingsDep, user: AuthUser, task_id: str
) -> TaskPublic:
    """The task as ``user`` may read it: sensitive fields masked unless their role may
    see them (then the read is audited). One trip to the threadpool for both reads."""

    def read() -> TaskPublic:
        task = task_actions.visible_or_404(engine, user, task_id)
        (public,) = read_tasks(engine, settings, user, [task])
        return public

    return await run_in_threadpool(read)


@router.get("", response_model=TasksPublic, summary="List tasks visible to me")
async def list_tasks_route(
    engine: EngineDep,
    reads: ReadEngineDep,
    settings: SettingsDep,
    session: BearerSessionDep,
    status: Annotated[
        str | None, Query(description="open | completed | skipped")
    ] = None,
    mine: Annotated[bool, Query(description="Only tasks I hold")] = False,
    case_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
    count_limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=1_000_000,
            description="Stop counting past this many tasks (`count_capped` then "
            "says more match); without it every matching task is counted",
        ),
    ] = None,
) -> TasksPublic:
    """Tasks in my organisation's subtree, soonest due first (then those without a
    due date)."""

    def read() -> tuple[AuthUser, TasksPublic]:
        # The session check, the query and the reads in one threadpool call; the
        # session's row and the tasks read on one connection.
        with reads.connect() as conn:
            user = session.user(conn)
            rows, count = list_tasks(
                conn,
                user.org_path,
                username=user.username,
                status=status,
                mine=mine,
                case_id=case_id,
                limit=limit,
                offset=offset,
                count_limit=count_limit,
            )
        data = read_tasks(engine, settings, user, rows)
        if count_limit is not None and count > count_limit:
            return user, TasksPublic(data=data, count=count_limit, count_capped=True)
        return user, TasksPublic(data=data, count=count)

    user, page = await run_in_threadpool(read)
    structlog.contextvars.bind_contextvars(user=user.username)
    return page


@router.get("/{task_id}", response_model=TaskPublic, summary="One task")
async def get_task(
    task_id: str, engine: EngineDep, settings: SettingsDep, user: CurrentUser
) -> TaskPublic:
    """The task with its form data. A field the step's form marks sensitive (出入境)
    is masked (`masked_fields`) unless your role may see full ID numbers; such a read
    is audited as `unmask_task_data`."""
    return await _public(engine, settings, user, task_id)


@router.post("/{task_id}/claim", response_model=TaskPublic, summary="Claim a task")
async def claim_task(
    task_id: str,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    user: CurrentUser,
    body: TaskClaim | None = None,
) -> TaskPublic:
    """Take an open task into my list. A task a colleague holds answers 409 naming the
    holder, unless `force` confirms the takeover."""
    task = await _task(engine, user, task_id)
    await task_actions.claim(temporal, task, user, force=bool(body and body.force))
    return await _public(engine, settings, user, task_id)


@router.post(
    "/{task_id}/unclaim", response_model=TaskPublic, summary="Give a task back"
)
async def unclaim_task(
    task_id: str,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> TaskPublic:
    task = await _task(engine, user, task_id)
    await task_actions.unclaim(temporal, task, user)
    return await _public(engine, settings, user, task_id)


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
    settings: SettingsDep,
    user: CurrentUser,
) -> TaskPublic:
    task = await _task(engine, user, task_id)
    await task_actions.reassign(
        temporal, engine, task, user, body.username, body.reason
    )
    return await _public(engine, settings, user, task_id)


@router.post(
    "/{task_id}/complete", response_model=TaskPublic, summary="Complete a task"
)
async def complete_task(
    task_id: str,
    body: TaskComplete,
    engine: EngineDep,
    reads: ReadEngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    session: BearerSessionDep,
) -> TaskPublic:
    """Finish the step with an outcome and its form. Wrong outcome or form data: 422 with
    the field errors; a task no longer open or held by someone else: 409; a task
    whose case is still registering it after a worker's restart: 503 `CaseCatchingUp`
    with `Retry-After`. The answer is the task as completed: its row as read before,
    with the completion the case recorded."""
    user, task = await task_actions.complete_by_id(
        temporal, reads, session, task_id, body.outcome, body.data, body.comment
    )
    return await read_task(engine, settings, user, task)
