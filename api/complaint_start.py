"""Starting a complaint case, shared by staff registration (POST /api/cases) and the
rating page (a 不满意 / 非常不满意 rating opens one at once, 003 §9.2.1 差评发现).

The confidential part — who complained, whom a report names, who may not see the case
— is written to ``complaint_party`` and ``case_exclusion`` before the workflow starts,
and never travels in the workflow's input (信访工作条例 第三十条). Both writes are
idempotent by the case id, so a retried start after a failure writes nothing twice;
the workflow id is the case id, so Temporal refuses a second start of the same case.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.update_errors import call_temporal, rpc_timeout
from models.contracts import StartCaseInput
from models.processes import complaint, policy_for
from models.processes.complaint import ComplaintCaseData
from models.search_attributes import case_search_attributes
from models.settings import Settings
from models.tables import CaseExclusion, ComplaintParty, OrgUnit
from workflows.complaint import ComplaintWorkflow


def _write_confidential(
    engine: Engine,
    case_id: str,
    party: ComplaintParty | None,
    exclusions: list[CaseExclusion],
) -> None:
    with Session(engine) as s:
        if party is not None and s.get(ComplaintParty, case_id) is None:
            party.case_id = case_id
            s.add(party)
        known = s.exec(
            select(CaseExclusion).where(CaseExclusion.case_id == case_id)
        ).all()
        seen = {(e.username, e.org_path) for e in known}
        for e in exclusions:
            if (e.username, e.org_path) not in seen:
                e.case_id = case_id
                s.add(e)
                seen.add((e.username, e.org_path))
        s.commit()


async def start_complaint(
    engine: Engine,
    temporal: Client,
    settings: Settings,
    *,
    case_id: str,
    started_by: str,
    unit: OrgUnit,
    data: ComplaintCaseData,
    party: ComplaintParty | None = None,
    exclusions: list[CaseExclusion] | None = None,
) -> bool:
    """Write the confidential rows, then start the case at the handling ``unit``.
    False when a case of this id was already started (nothing is started twice).
    A Temporal that does not answer in time: 503 (``call_temporal``)."""
    await run_in_threadpool(
        _write_confidential, engine, case_id, party, list(exclusions or [])
    )
    timeout = settings.temporal_call_timeout_seconds
    spec = complaint.SPEC
    try:
        await call_temporal(
            temporal.start_workflow(
                ComplaintWorkflow.run,
                StartCaseInput(
                    case_id=case_id,
                    process=spec.key,
                    veteran_id=0,
                    org_unit_id=unit.id,
                    started_by=started_by,
                    data=data.model_dump(mode="json"),
                    policy=policy_for(spec.key, settings.policy_profile),
                    spec_version=spec.version,
                ),
                id=case_id,
                task_queue=settings.task_queue,
                search_attributes=case_search_attributes(spec.key, unit.path, None),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                rpc_timeout=rpc_timeout(timeout),
                # The first workflow task to a worker on this client, if it has one
                # free (api/case_actions.py); a plain start otherwise.
                request_eager_start=True,
            ),
            timeout,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True
