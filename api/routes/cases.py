"""Cases: start a process for a veteran, list cases, read one with its tasks and notices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from starlette.concurrency import run_in_threadpool

from api import case_actions
from api.case_queries import (
    case_notices,
    case_tasks,
    list_cases,
    veteran_in_subtree,
    visible_case,
)
from api.deps import CurrentUser, EngineDep, SettingsDep, TemporalDep
from api.params import Offset
from models.public import (
    CaseCreate,
    CaseDetail,
    CasePublic,
    CasesPublic,
    CaseStarted,
    NoticePublic,
    TaskPublic,
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
) -> CaseStarted:
    """Start `process` for a veteran of my subtree, on the newest version of its
    definition (the case keeps it to its end). 422: unknown process, bad start data, or
    a veteran of a category the process does not serve (`loc` `veteran_id`, the message
    names where they are served: a retired cadre is received under DB51/T 2839—2021
    第6.1条, not return-home); 404: veteran not found or not mine; 409: the veteran has
    this process open."""
    return await case_actions.start_case(engine, temporal, settings, user, body)


@router.get("", response_model=CasesPublic, summary="List cases visible to me")
async def list_cases_route(
    engine: EngineDep,
    user: CurrentUser,
    process: str | None = None,
    status: Annotated[str | None, Query(description="running | closed")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> CasesPublic:
    rows, count = await run_in_threadpool(
        lambda: list_cases(
            engine,
            user.org_path,
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
async def get_case(case_id: str, engine: EngineDep, user: CurrentUser) -> CaseDetail:
    case = await run_in_threadpool(visible_case, engine, case_id, user.org_path)
    if case is None:
        raise HTTPException(404, detail="案件不存在 (case not found)")
    tasks = await run_in_threadpool(case_tasks, engine, case_id)
    notices = await run_in_threadpool(case_notices, engine, case_id)
    found = (
        await run_in_threadpool(veteran_in_subtree, engine, case.veteran_id, "/")
        if case.veteran_id
        else None
    )
    return CaseDetail(
        **CasePublic.model_validate(case).model_dump(),
        veteran_name=found[0].name if found else "",
        open_steps=[t.step for t in tasks if t.status == "open"],
        tasks=[TaskPublic.model_validate(t) for t in tasks],
        notices=[NoticePublic.model_validate(n) for n in notices],
    )
