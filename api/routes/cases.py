"""Cases: start a process for a veteran, list cases, read one with its tasks and notices."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.case_queries import (
    case_notices,
    case_tasks,
    list_cases,
    open_case_of,
    veteran_in_subtree,
    visible_case,
)
from api.deps import CurrentUser, EngineDep, SettingsDep, TemporalDep
from models.contracts import (
    SA_ORG_UNIT,
    SA_PROCESS,
    SA_STATUS,
    SA_VETERAN,
    StartCaseInput,
)
from models.processes import PROCESSES, policy_for
from models.public import (
    CaseCreate,
    CaseDetail,
    CasePublic,
    CasesPublic,
    CaseStarted,
    NoticePublic,
    TaskPublic,
)
from workflows import PROCESS_WORKFLOWS

router = APIRouter(prefix="/api/cases", tags=["cases"])

STARTER_ROLES = frozenset({"county_staff", "township_staff", "village_staff", "admin"})


def _search_attributes(
    process: str, org_path: str, veteran_id: int
) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair[str]] = [
        SearchAttributePair(SearchAttributeKey.for_keyword(SA_PROCESS), process),
        SearchAttributePair(SearchAttributeKey.for_keyword(SA_ORG_UNIT), org_path),
        SearchAttributePair(SearchAttributeKey.for_keyword(SA_STATUS), "running"),
        SearchAttributePair(
            SearchAttributeKey.for_keyword(SA_VETERAN), str(veteran_id)
        ),
    ]
    return TypedSearchAttributes(pairs)


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
    """Start `process` for a veteran of my subtree. 422: unknown process or bad start
    data; 404: veteran not found or not mine; 409: the veteran has this process open."""
    if not STARTER_ROLES.intersection(user.roles):
        raise HTTPException(403, detail="无权受理案件 (not allowed to start cases)")
    spec = PROCESSES.get(body.process)
    if spec is None:
        raise HTTPException(
            422,
            detail=[
                {
                    "loc": ["body", "process"],
                    "msg": f"未知的流程, 可选: {sorted(PROCESSES)}",
                    "type": "value_error",
                }
            ],
        )
    try:
        data = spec.start_form.model_validate(body.data).model_dump(mode="json")
    except ValidationError as e:
        errors = [
            {
                "loc": ["body", "data", *err["loc"]],
                "msg": err["msg"],
                "type": err["type"],
            }
            for err in e.errors(
                include_url=False, include_context=False, include_input=False
            )
        ]
        raise HTTPException(422, detail=errors) from None
    found = await run_in_threadpool(
        veteran_in_subtree, engine, body.veteran_id, user.org_path
    )
    if found is None:
        raise HTTPException(404, detail="退役军人不存在 (veteran not found)")
    _, unit = found
    # The workflow id is the business key (style B3.5): a second start of a once-per-
    # veteran process is refused by Temporal itself, even when two requests race.
    key = f"v{body.veteran_id}" if spec.per_veteran == "once" else uuid.uuid4().hex[:12]
    case_id = f"{settings.case_id_prefix}{spec.key}-{key}"
    existing = await run_in_threadpool(
        open_case_of, engine, body.veteran_id, body.process
    )
    if existing is None and spec.per_veteran == "once":
        existing = await run_in_threadpool(visible_case, engine, case_id, "/")
    if existing is not None:
        raise HTTPException(
            409, detail={"message": "该退役军人已有同类案件", "case_id": existing.id}
        )
    workflow = PROCESS_WORKFLOWS[spec.key]
    try:
        await temporal.start_workflow(
            workflow.run,
            StartCaseInput(
                case_id=case_id,
                process=spec.key,
                veteran_id=body.veteran_id,
                started_by=user.username,
                data=data,
                policy=policy_for(spec.key, settings.policy_profile),
            ),
            id=case_id,
            task_queue=settings.task_queue,
            search_attributes=_search_attributes(spec.key, unit.path, body.veteran_id),
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        raise HTTPException(
            409, detail={"message": "该退役军人已有同类案件", "case_id": case_id}
        ) from None
    return CaseStarted(
        id=case_id,
        workflow_id=case_id,
        status="running",
        process=spec.key,
        veteran_id=body.veteran_id,
    )


@router.get("", response_model=CasesPublic, summary="List cases visible to me")
async def list_cases_route(
    engine: EngineDep,
    user: CurrentUser,
    process: str | None = None,
    status: Annotated[str | None, Query(description="running | closed")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
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
    found = await run_in_threadpool(veteran_in_subtree, engine, case.veteran_id, "/")
    return CaseDetail(
        **CasePublic.model_validate(case).model_dump(),
        veteran_name=found[0].name if found else "",
        open_steps=[t.step for t in tasks if t.status == "open"],
        tasks=[TaskPublic.model_validate(t) for t in tasks],
        notices=[NoticePublic.model_validate(n) for n in notices],
    )
