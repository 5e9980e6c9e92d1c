"""The append-only audit trail: one function for every writer (activities and the API)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from models.tables import AuditEvent


def add_audit_event(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    case_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request_id: str | None = None,
    dedupe_key: str | None = None,
) -> None:
    """Add an audit row to ``session`` (committed with the change it records); with a
    ``dedupe_key``, a retried writer records the change once."""
    if (
        dedupe_key is not None
        and session.exec(
            select(AuditEvent.id).where(AuditEvent.dedupe_key == dedupe_key)
        ).first()
    ):
        return
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            case_id=case_id,
            before=before,
            after=after,
            request_id=request_id,
            dedupe_key=dedupe_key,
        )
    )
