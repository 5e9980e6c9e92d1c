"""Cases: start a process for a veteran, list cases, read one with its tasks and notices."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from starlette.concurrency import run_in_threadpool

from api import case_actions
from api.case_clock import case_clock
from api.case_queries import (
    case_notices,
    case_subject,
    case_tasks,
    list_cases,
    visible_case,
)
from api.deps import CurrentUser, EngineDep, SettingsDep, TemporalDep
from api.idempotency import IdempotencyKey
from api.params import Offset
from api.task_reads import read_tasks
from models.public import (
    CaseClock,
    CaseCreate,
    CaseDetail,
    CasePublic,
    CasesPublic,
    CaseStarted,
    NoticePublic,
)

router = APIRouter(prefix="/api/cases", tags=["cases"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseStarted,
    summary="Start a case",
)
async def create_case(
    body: CaseCreate,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> CaseStarted:
    """Start `process` for a veteran of my subtree, on the newest version of its
    definition (the case keeps it to its end). 422: unknown process, bad start data, or
    a veteran of a category the process does not serve (`loc` `veteran_id`, the message
    names where they are served: a retired cadre is received under DB51/T 2839—2021
    第6.1条, not return-home); 404: veteran not found or not mine; 409: the veteran has
    this process open. A complaint's id is generated: send `Idempotency-Key` to make
    a retry after a 503 answer with the case the first try opened (a veteran's process
    is keyed by the veteran and answers a retry with 409)."""
    return await case_actions.start_case(
        engine, temporal, settings, user, body, idempotency_key
    )


@router.get("", response_model=CasesPublic, summary="List cases visible to me")
async def list_cases_route(
    engine: EngineDep,
    user: CurrentUser,
    process: str | None = None,
    status: Annotated[
        str | None,
        Query(
            description="`running` (any status but closed) | `closed` | a "
            "process's own status, e.g. `in_correction`"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> CasesPublic:
    rows, count = await run_in_threadpool(
        lambda: list_cases(
            engine,
            user.org_path,
            username=user.username,
            process=process,
            status=status,
            limit=limit,
            offset=offset,
        )
    )
    return CasesPublic(data=[CasePublic.model_validate(r) for r in rows], count=count)


@router.get(
    "/{case_id}",
    response_model=CaseDetail,
    summary="One case with its tasks and notices",
)
async def get_case(
    case_id: str, engine: EngineDep, settings: SettingsDep, user: CurrentUser
) -> CaseDetail:
    """The case, its tasks (sensitive form fields masked unless your role may see
    them, see GET /api/tasks/{id}), its notices, what it is about (a veteran, or an
    org unit: `subject`, `org_unit_name`) and its split clock: the seconds it lay
    with the agency and with the veteran (steps the veteran holds)."""
    case = await run_in_threadpool(
        lambda: visible_case(engine, case_id, user.org_path, username=user.username)
    )
    if case is None:
        raise HTTPException(404, detail="案件不存在 (case not found)")
    tasks = await run_in_threadpool(case_tasks, engine, case_id)
    notices = await run_in_threadpool(case_notices, engine, case_id)
    vet, unit = await run_in_threadpool(case_subject, engine, case)
    clock = case_clock(case, tasks, datetime.now(UTC))
    return CaseDetail(
        **CasePublic.model_validate(case).model_dump(),
        veteran_name=vet.name if vet else "",
        subject="veteran" if case.veteran_id else "org_unit",
        org_unit_name=unit.name if unit else "",
        clock=CaseClock(
            agency_seconds=clock.agency.total_seconds(),
            veteran_seconds=clock.veteran.total_seconds(),
        ),
        open_steps=[t.step for t in tasks if t.status == "open"],
        tasks=await run_in_threadpool(read_tasks, engine, settings, user, tasks),
        notices=[NoticePublic.model_validate(n) for n in notices],
    )
