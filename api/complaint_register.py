"""Staff registration of a window complaint or a petition (POST /api/cases with
``process`` ``complaint``).

The case lies at the HANDLING unit (谁办理、谁负责), which must be in the caller's
subtree. The start form is split (``complaint.identity_of``): who complained and whom
a report names go only to the confidential ``complaint_party`` row, never into the
workflow's input, the case row, an audit row or a log line. A 检举控告 (信访工作条例
第三十条) is handled above the reported unit, never by it or a unit inside it, and the
reported unit (with every unit under it) and person are excluded from the case. The
same matter from the same petitioner after 复核 is refused (第三十六条); one still open
is linked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import HTTPException
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api.complaint_start import start_complaint
from api.deps import AuthUser
from api.errors import field_error
from api.idempotency import idempotent_suffix
from api.params import MAX_ID
from models.processes import complaint
from models.processes.complaint import ComplaintCaseData, ComplaintStartForm
from models.public import CaseCreate, CaseStarted
from models.settings import Settings
from models.tables import (
    Account,
    CaseExclusion,
    Complaint,
    ComplaintParty,
    OrgUnit,
    Veteran,
)

FINAL_MESSAGE = "同一事实和理由已复核终结，不再受理 (信访工作条例 第三十六条)"
HANDLED_ABOVE = (
    "须由被检举单位以外的上级机关办理 (信访工作条例 第三十条: a report is handled "
    "above the reported unit, never by it or a unit inside it)"
)


@dataclass
class Registration:
    """What the checks found: the handling unit, the case's data, the party and the
    exclusions to write first."""

    unit: OrgUnit
    data: ComplaintCaseData
    party: ComplaintParty
    exclusions: list[CaseExclusion]


def _data_error(field: str, message: str) -> HTTPException:
    return HTTPException(
        422,
        detail=[
            {"loc": ["body", "data", field], "msg": message, "type": "value_error"}
        ],
    )


def _check(
    engine: Engine,
    user: AuthUser,
    org_unit_id: int,
    form: ComplaintStartForm,
    case_id: str,
) -> Registration:
    """The checks that read the database (404 / 422 / 409), in one session."""
    with Session(engine) as s:
        unit = s.get(OrgUnit, org_unit_id)
        if unit is None or not unit.path.startswith(user.org_path):
            raise HTTPException(404, detail="机构不存在 (org unit not found)")
        if form.complainant_veteran_id is not None:
            vet = s.get(Veteran, form.complainant_veteran_id)
            home = s.get(OrgUnit, vet.org_unit_id) if vet else None
            if home is None or not home.path.startswith(user.org_path):
                raise HTTPException(404, detail="退役军人不存在 (veteran not found)")
        exclusions: list[CaseExclusion] = []
        recused: list[str] = []
        if form.kind == "report":
            if form.reported_unit_id is not None:
                reported = s.get(OrgUnit, form.reported_unit_id)
                if reported is None:
                    raise _data_error(
                        "reported_unit_id", "被检举单位不存在 (no such org unit)"
                    )
                if unit.path.startswith(reported.path):
                    raise field_error("org_unit_id", HANDLED_ABOVE)
                exclusions.append(
                    CaseExclusion(
                        case_id=case_id, org_path=reported.path, reason="reported"
                    )
                )
            if form.reported_person:
                known = s.exec(
                    select(Account.id).where(Account.username == form.reported_person)
                ).first()
                if known is None:
                    raise _data_error(
                        "reported_person", "被检举人账号不存在 (no such account)"
                    )
                exclusions.append(
                    CaseExclusion(
                        case_id=case_id,
                        username=form.reported_person,
                        reason="reported",
                    )
                )
                recused.append(form.reported_person)
        data, identity = complaint.identity_of(form)
        key = complaint.matter_key(identity, form.category, org_unit_id)
        earlier = s.exec(
            select(Complaint)
            .where(Complaint.matter_key == key)
            .order_by(col(Complaint.opened_at).desc())
        ).all()
        final = next((c for c in earlier if c.final), None)
        if final is not None:
            raise HTTPException(
                409, detail={"message": FINAL_MESSAGE, "case_id": final.case_id}
            )
        # Not the case itself (a retried request whose first try opened it).
        still_open = next(
            (c for c in earlier if c.closed_at is None and c.case_id != case_id), None
        )
        case_data = ComplaintCaseData.model_validate(
            {
                **data,
                "matter_key": key,
                "related_case_id": still_open.case_id if still_open else None,
                "recused": recused,
            }
        )
        party = ComplaintParty(
            case_id=case_id,
            name=identity["complainant_name"],
            phone=identity["complainant_phone"],
            id_number=str(identity["complainant_id_number"]).upper(),
            veteran_id=identity["complainant_veteran_id"],
            representatives=list(identity["representatives"]),
            reported_person=identity["reported_person"],
        )
        return Registration(unit, case_data, party, exclusions)


async def register_complaint(
    engine: Engine,
    temporal: Client,
    settings: Settings,
    user: AuthUser,
    body: CaseCreate,
    form: ComplaintStartForm,
    idempotency_key: str | None = None,
) -> CaseStarted:
    """Register a window complaint or a petition at ``body.org_unit_id`` (the
    handling unit). 422 ``org_unit_id`` missing or a report handled inside the
    reported unit; 404 a unit or complainant veteran outside the caller's subtree;
    409 the same matter after 复核 (with the earlier case). With an
    ``idempotency_key`` a retried request answers with the case its first try opened
    (api/idempotency.py)."""
    if body.org_unit_id is None:
        raise field_error(
            "org_unit_id", "投诉/信访须指明办理单位 (the handling unit is required)"
        )
    if not 1 <= body.org_unit_id <= MAX_ID:
        raise field_error(
            "org_unit_id", f"须为 1 至 {MAX_ID} 之间的编号 (out of range)"
        )
    suffix = (
        idempotent_suffix(user.username, idempotency_key, body.model_dump(mode="json"))
        if idempotency_key
        else uuid.uuid4().hex[:12]
    )
    case_id = f"{settings.case_id_prefix}{complaint.PROCESS_KEY}-{suffix}"
    reg = await run_in_threadpool(_check, engine, user, body.org_unit_id, form, case_id)
    started = await start_complaint(
        engine,
        temporal,
        settings,
        case_id=case_id,
        started_by=user.username,
        unit=reg.unit,
        data=reg.data,
        party=reg.party,
        exclusions=reg.exclusions,
    )
    if not started and not idempotency_key:
        # A fresh random id: only a retried request could meet it.
        raise HTTPException(
            409, detail={"message": "案件已受理 (already started)", "case_id": case_id}
        )
    return CaseStarted(
        id=case_id,
        workflow_id=case_id,
        status="running",
        process=complaint.PROCESS_KEY,
        veteran_id=None,
        org_unit_id=reg.unit.id,
        related_case_id=reg.data.related_case_id,
    )
