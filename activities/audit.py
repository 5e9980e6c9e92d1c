"""Audit rows written by activities (state changes of a case), deduplicated by key so
that a retried activity records each change once."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from models.tables import AuditEvent


def write_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    case_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> None:
    """Append an audit record unless one with the same ``dedupe_key`` exists."""
    if dedupe_key is not None:
        found = session.exec(
            select(AuditEvent.id).where(AuditEvent.dedupe_key == dedupe_key)
        ).first()
        if found is not None:
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
            dedupe_key=dedupe_key,
        )
    )
