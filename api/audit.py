"""Audit records written by the API (reference-data changes, unmasked reads, replays),
tagged with the request id."""

from __future__ import annotations

from typing import Any

import structlog
from sqlmodel import Session

from models.audit import add_audit_event


def record_audit(session: Session, **fields: Any) -> None:
    """`models.audit.add_audit_event` with the current request id."""
    fields.setdefault(
        "request_id", structlog.contextvars.get_contextvars().get("request_id")
    )
    add_audit_event(session, **fields)
