"""Read side of a complaint for the case page: the complaint as the API reads it
(api/complaint_identity.read_complaint: the projection, and the confidential party
masked unless the reader may reveal it — a role of ``VETFLOW_COMPLAINT_IDENTITY_ROLES``
not recused from the case, 信访工作条例 第三十条 — each reveal and refusal audited, a
refusal 403), put in words for the page. The caller has checked that the case is the
reader's to see (api.case_queries.visible_case)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from api.complaint_identity import read_complaint
from api.deps import AuthUser
from api.web.complaint_display import ComplaintView, complaint_view
from models.settings import Settings
from models.tables import Case


def case_complaint(
    engine: Engine, case: Case, user: AuthUser, settings: Settings, reveal: bool
) -> ComplaintView | None:
    """The case's complaint as ``user`` may see it (None before its first record);
    ``reveal``: the complainant in full (audited), or 403 for a reader who may not."""
    found = read_complaint(engine, case, user, settings, reveal)
    return complaint_view(found) if found is not None else None
