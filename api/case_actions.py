"""Starting a case, shared by the JSON API and the web pages."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import HTTPException
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client
from temporalio.common import (
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.case_queries import start_facts, visible_case
from api.complaint_register import register_complaint
from api.deps import AuthUser
from api.errors import field_error
from api.params import MAX_ID
from api.update_errors import call_temporal, rpc_timeout
from models.contracts import (
    StartCaseInput,
)
from models.processes import PROCESSES, policy_for
from models.processes.complaint import ComplaintStartForm
from models.public import CaseCreate, CaseStarted
from models.search_attributes import case_search_attributes
from models.settings import Settings
from workflows.registry import PROCESS_WORKFLOWS

STARTER_ROLES = frozenset({"county_staff", "township_staff", "village_staff", "admin"})


async def start_case(
    engine: Engine,
    temporal: Client,
    settings: Settings,
    user: AuthUser,
    body: CaseCreate,
    idempotency_key: str | None = None,
) -> CaseStarted:
    """Start `body.process` for a veteran of the user's subtree (a complaint: at the
    handling unit `body.org_unit_id`, api/complaint_register.py). 403: not a starter
    role; 422: unknown process, bad start data, or a veteran of a category the process
    does not serve (e.g. a retired cadre for return-home, 004 §6.1); 404: veteran not
    mine; 409: already has it;
    503 (Retry-After): Temporal did not answer within the call timeout."""
    if not STARTER_ROLES.intersection(user.roles):
        raise HTTPException(403, detail="无权受理案件 (not allowed to start cases)")
    if body.veteran_id is not None and not 1 <= body.veteran_id <= MAX_ID:
        raise field_error("veteran_id", f"须为 1 至 {MAX_ID} 之间的编号 (out of range)")
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
    if not spec.startable:
        # Opened by its campaign or schedule, never by a clerk's start.
        raise field_error(
            "process",
            f"“{spec.title}”由年度活动或定时任务开启，不能单独受理 (not started by hand)",
        )
    try:
        form = spec.start_form.model_validate(body.data)
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
    if spec.subject == "org_unit":
        if not isinstance(form, ComplaintStartForm):  # the only one started by hand
            raise field_error("process", "该流程不能由此受理 (not started here)")
        if body.veteran_id is not None:
            raise field_error(
                "veteran_id",
                "投诉/信访案件以办理单位为对象，不填 veteran_id; 投诉人为在册退役军人的"
                "填 data.complainant_veteran_id (a complaint is about its handling unit)",
            )
        return await register_complaint(
            engine, temporal, settings, user, body, form, idempotency_key
        )
    if body.veteran_id is None:
        raise field_error("veteran_id", "须指明退役军人 (veteran_id is required)")
    veteran_id: int = body.veteran_id
    data = form.model_dump(mode="json")
    # The workflow id is the business key (style B3.5): a second start of a once-per-
    # veteran process is refused by Temporal itself, even when two requests race.
    once_id = (
        f"{settings.case_id_prefix}{spec.key}-v{veteran_id}"
        if spec.per_veteran == "once"
        else None
    )
    facts = await run_in_threadpool(
        start_facts, engine, veteran_id, user.org_path, body.process, once_id=once_id
    )
    if facts is None:
        raise HTTPException(404, detail="退役军人不存在 (veteran not found)")
    if spec.served_categories and facts.category not in spec.served_categories:
        raise HTTPException(
            422,
            detail=[
                {
                    "loc": ["body", "veteran_id"],
                    "msg": spec.served_message,
                    "type": "category_not_served",
                }
            ],
        )
    elsewhere = spec.excluded_categories.get(facts.category)
    if elsewhere is not None:
        # Not this process's veteran: say where they are served instead.
        raise HTTPException(
            422,
            detail=[
                {
                    "loc": ["body", "veteran_id"],
                    "msg": elsewhere,
                    "type": "category_not_served",
                }
            ],
        )
    if once_id is not None:
        case_id = once_id
    elif spec.per_veteran == "numbered":
        # "<process>-v<veteran>-<n>": the veteran's n-th case of this process (two
        # racing starts get the same n and Temporal refuses the second: 409).
        case_id = f"{settings.case_id_prefix}{spec.key}-v{veteran_id}-{facts.cases + 1}"
    else:
        case_id = f"{settings.case_id_prefix}{spec.key}-{uuid.uuid4().hex[:12]}"
    if facts.existing is not None:
        raise HTTPException(
            409, detail={"message": "该退役军人已有同类案件", "case_id": facts.existing}
        )
    workflow = PROCESS_WORKFLOWS[spec.key]
    timeout = settings.temporal_call_timeout_seconds
    try:
        # A start needs no worker, only Temporal; bounded so a Temporal that does not
        # answer gives 503 with Retry-After rather than a hanging request.
        start = temporal.start_workflow(
            workflow.run,
            StartCaseInput(
                case_id=case_id,
                process=spec.key,
                veteran_id=veteran_id,
                started_by=user.username,
                data=data,
                policy=policy_for(spec.key, settings.policy_profile),
                # New cases take the newest definition and keep it to their end.
                spec_version=spec.version,
            ),
            id=case_id,
            task_queue=settings.task_queue,
            search_attributes=case_search_attributes(
                spec.key, facts.unit_path, veteran_id
            ),
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            rpc_timeout=rpc_timeout(timeout),
            # A worker on this same client (API and worker in one process) with a
            # free slot gets the first workflow task in the start's answer, without
            # the server's task queue; with none, the SDK sends a plain start.
            request_eager_start=True,
        )
        await call_temporal(start, timeout)
    except WorkflowAlreadyStartedError:
        raise HTTPException(
            409, detail={"message": "该退役军人已有同类案件", "case_id": case_id}
        ) from None
    return CaseStarted(
        id=case_id,
        workflow_id=case_id,
        status="running",
        process=spec.key,
        veteran_id=veteran_id,
    )


async def case_row_written(engine: Engine, case_id: str, org_path: str) -> None:
    """Wait (up to 5 s) for a started case's row, which the workflow's first activity
    writes moments after the start, so a page redirected to the case finds it."""
    for _ in range(50):
        if await run_in_threadpool(
            lambda: visible_case(engine, case_id, org_path, username="")
        ):
            return
        await asyncio.sleep(0.1)
