"""Audit records written by the API: reference-data changes and unmasked reads."""

from __future__ import annotations

from typing import Any

import structlog
from sqlmodel import Session

from models.tables import AuditEvent


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    case_id: str | None = None,
    request_id: str | None = None,
) -> None:
    """Add an audit row to ``session`` (committed with the change it records)."""
    if request_id is None:
        request_id = structlog.contextvars.get_contextvars().get("request_id")
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            before=before,
            after=after,
            case_id=case_id,
            request_id=request_id,
        )
    )
