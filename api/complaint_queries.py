"""Read side of a complaint for the case page: the projection (``Complaint``, written
by activities/complaints.py) and the confidential complainant (``ComplaintParty``).

Who complained is shown masked — the surname, the phone's ends, the ID number's ends
(models/idnumber.mask_id_number) — unless the reader may reveal it and asks to: a role
that needs full identities (``VETFLOW_UNMASK_ROLES``) and is not recused from the case
(the rated clerk, a reported person: 信访工作条例 第三十条). Every reveal is audited.
The caller has checked that the case is the reader's to see
(api.case_queries.visible_case)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.audit import record_audit
from api.deps import AuthUser
from api.web.complaint_display import (
    ComplaintView,
    PartyView,
    complaint_view,
    mask_name,
    mask_phone,
)
from models.idnumber import mask_id_number
from models.tables import Case, Complaint, ComplaintParty

AUDIT_REVEAL = "reveal_complainant"


def may_reveal(case: Case, user: AuthUser, unmask: bool) -> bool:
    """A role that unmasks, not recused from this case (回避)."""
    recused = (case.data or {}).get("recused") or []
    return unmask and user.username not in recused


def _party(row: ComplaintParty, revealed: bool) -> PartyView:
    names = [str(r.get("name", "")) for r in row.representatives or []]
    if revealed:
        return PartyView(
            name=row.name,
            phone=row.phone,
            id_number=row.id_number,
            representatives=names,
            veteran_id=row.veteran_id,
            rated_case_id=row.rated_case_id,
            reported_person=row.reported_person,
            revealed=True,
        )
    return PartyView(
        name=mask_name(row.name),
        phone=mask_phone(row.phone),
        id_number=mask_id_number(row.id_number) if row.id_number else "",
        representatives=[mask_name(n) for n in names],
        veteran_id=None,
        rated_case_id=None,
        reported_person=mask_name(row.reported_person),
        revealed=False,
    )


def case_complaint(
    engine: Engine, case: Case, user: AuthUser, unmask: bool, reveal: bool
) -> ComplaintView | None:
    """The case's complaint as ``user`` may see it (None before its first record);
    ``reveal``: the complainant in full, audited (the caller refused a reader who may
    not reveal)."""
    allowed = may_reveal(case, user, unmask)
    with Session(engine) as s:
        row = s.get(Complaint, case.id)
        party = s.get(ComplaintParty, case.id)
        if row is None:
            return None
        view = complaint_view(row)
        view.may_reveal = allowed and party is not None
        if party is not None:
            revealed = reveal and allowed
            view.party = _party(party, revealed)
            if revealed:
                record_audit(
                    s,
                    actor=user.username,
                    action=AUDIT_REVEAL,
                    entity_type="complaint_party",
                    entity_id=case.id,
                    case_id=case.id,
                    after={"fields": ["name", "phone", "id_number", "veteran_id"]},
                )
                s.commit()
    return view
