"""A complaint as a reader may see it: the projection and the confidential party.

The party (who complained, whom a report names) is masked — the name's first
character, the phone's first three and last four digits, the ID number's ends, no
veteran or rated case — unless the reader asks to reveal it and may: a role of
``VETFLOW_COMPLAINT_IDENTITY_ROLES`` and not the case's rated clerk or a recused
(reported) person (信访工作条例 第三十条; the rated clerk never learns who rated, 003
§9.1.3). Every reveal is audited (``complaint_identity_read``), and so is every
refusal. The caller has checked that the case is the reader's to see
(api.case_queries.visible_case, exclusions included).
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.audit import record_audit
from api.deps import AuthUser
from models.complaint_public import (
    ComplaintPartyPublic,
    ComplaintPublic,
    LedgerLinePublic,
    RepresentativePublic,
)
from models.idnumber import mask_id_number
from models.processes.complaint import (
    CHANNEL_LABELS,
    GRADE_LABELS,
    MATTER_LABELS,
    PETITION_KIND_LABELS,
    STATUS_LABELS,
)
from models.settings import Settings
from models.tables import Case, Complaint, ComplaintParty

AUDIT_ACTION = "complaint_identity_read"
MASK = "*"


def mask_name(name: str) -> str:
    """张伟 → 张*: the first character only."""
    return f"{name[:1]}{MASK * max(1, len(name) - 1)}" if name else ""


def mask_phone(phone: str) -> str:
    """13800138000 → 138****8000: the first three and the last four characters."""
    if len(phone) <= 7:
        return MASK * len(phone)
    return phone[:3] + MASK * (len(phone) - 7) + phone[-4:]


def recused_from(case: Case) -> set[str]:
    """The accounts a complaint is kept from in person (回避): the rated clerk and any
    reported person (``ComplaintCaseData.rated_clerk`` / ``recused``)."""
    data: dict[str, Any] = case.data or {}
    names = {str(n) for n in data.get("recused") or []}
    if data.get("rated_clerk"):
        names.add(str(data["rated_clerk"]))
    return names


def may_reveal(case: Case, user: AuthUser, settings: Settings) -> bool:
    """A role that needs the identity, and not recused from this case."""
    return bool(
        settings.complaint_identity_role_set.intersection(user.roles)
    ) and user.username not in recused_from(case)


def _why_not(case: Case, user: AuthUser) -> str:
    return "recused" if user.username in recused_from(case) else "role"


def party_public(row: ComplaintParty, revealed: bool) -> ComplaintPartyPublic:
    reps = [
        RepresentativePublic(
            name=str(r.get("name", "")), phone=str(r.get("phone", "") or "")
        )
        for r in row.representatives or []
    ]
    if revealed:
        return ComplaintPartyPublic(
            masked=False,
            name=row.name,
            phone=row.phone,
            id_number=row.id_number,
            veteran_id=row.veteran_id,
            rated_case_id=row.rated_case_id,
            representatives=reps,
            reported_person=row.reported_person,
        )
    return ComplaintPartyPublic(
        masked=True,
        name=mask_name(row.name),
        phone=mask_phone(row.phone),
        id_number=mask_id_number(row.id_number) if row.id_number else "",
        representatives=[
            RepresentativePublic(name=mask_name(r.name), phone=mask_phone(r.phone))
            for r in reps
        ],
        reported_person=mask_name(row.reported_person),
    )


def _ledger(lines: list[dict[str, Any]]) -> list[LedgerLinePublic]:
    return [
        LedgerLinePublic(
            at=line.get("at"),
            stage=str(line.get("stage", "")),
            text=str(line.get("text", "")),
        )
        for line in lines or []
        if isinstance(line, dict)
    ]


def read_complaint(
    engine: Engine, case: Case, user: AuthUser, settings: Settings, reveal: bool
) -> ComplaintPublic | None:
    """The complaint of ``case`` as ``user`` may see it (None: no projection yet).
    ``reveal``: the party in full when the reader may (audited), else 403 — the
    refusal audited too."""
    allowed = may_reveal(case, user, settings)
    with Session(engine) as s:
        row = s.get(Complaint, case.id)
        if row is None:
            return None
        party = s.get(ComplaintParty, case.id)
        revealed = False
        if reveal and party is not None:
            record_audit(
                s,
                actor=user.username,
                action=AUDIT_ACTION,
                entity_type="complaint_party",
                entity_id=case.id,
                case_id=case.id,
                after={"revealed": True}
                if allowed
                else {"refused": _why_not(case, user)},
            )
            s.commit()
            if not allowed:
                raise HTTPException(
                    403,
                    detail="无权查看投诉人身份信息 (you may not see who complained)",
                )
            revealed = True
        return ComplaintPublic(
            case_id=row.case_id,
            org_unit_id=row.org_unit_id,
            channel=row.channel,
            channel_label=CHANNEL_LABELS.get(row.channel, row.channel),
            kind=row.kind,
            kind_label=PETITION_KIND_LABELS.get(row.kind, row.kind) if row.kind else "",
            category=row.category,
            category_label=MATTER_LABELS.get(row.category, row.category),
            stage=row.stage,
            stage_label=STATUS_LABELS.get(row.stage, row.stage),
            received_on=row.received_on,
            grade=row.grade,
            grade_label=GRADE_LABELS.get(row.grade, row.grade) if row.grade else "",
            reopens=row.reopens,
            extended_days=row.extended_days,
            paused_seconds=row.paused_seconds,
            final=row.final,
            related_case_id=row.related_case_id,
            opened_at=row.opened_at,
            closed_at=row.closed_at,
            ledger=_ledger(row.ledger),
            party=party_public(party, revealed) if party is not None else None,
            may_reveal=allowed and party is not None,
        )
