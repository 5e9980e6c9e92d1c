"""Incidents: a permanent activity failure that needs a person, kept as a row that
managers and admins see (``GET /api/incidents``, dashboard) until they retry it."""

from __future__ import annotations

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio import activity

from models.audit import add_audit_event
from models.contracts import OpenIncidentInput, ResolveIncidentInput
from models.db import session_scope
from models.tables import Account, Case, Incident, OrgUnit

log = structlog.get_logger(__name__)


class IncidentActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def open_incident(self, inp: OpenIncidentInput) -> str:
        """Write the incident row (once per id); returns the org path it is visible
        under: the case's unit, else the unit of the clerk who started the case."""
        with session_scope(self.engine) as session:
            row = session.get(Incident, inp.incident_id)
            if row is not None:
                return row.org_path
            unit_id = inp.org_unit_id
            if unit_id is None:
                case = session.get(Case, inp.case_id)
                if case is not None:
                    unit_id = case.org_unit_id
            if unit_id is None and inp.started_by:
                starter = session.exec(
                    select(Account).where(Account.username == inp.started_by)
                ).first()
                unit_id = starter.org_unit_id if starter else None
            unit = session.get(OrgUnit, unit_id) if unit_id is not None else None
            path = unit.path if unit else "/"
            session.add(
                Incident(
                    id=inp.incident_id,
                    case_id=inp.case_id,
                    workflow_id=inp.workflow_id,
                    process=inp.process,
                    step=inp.step,
                    activity=inp.activity,
                    error_type=inp.error_type,
                    message=inp.message,
                    org_unit_id=unit.id if unit else None,
                    org_path=path,
                    opened_at=inp.at,
                )
            )
            add_audit_event(
                session,
                actor="system",
                action="incident_opened",
                entity_type="incident",
                entity_id=inp.incident_id,
                case_id=inp.case_id,
                after={
                    "step": inp.step,
                    "activity": inp.activity,
                    "error_type": inp.error_type,
                    "message": inp.message,
                },
                dedupe_key=f"incident_opened:{inp.incident_id}",
            )
        log.error(
            "incident_opened",
            incident_id=inp.incident_id,
            case_id=inp.case_id,
            error_type=inp.error_type,
        )
        return path

    @activity.defn
    def resolve_incident(self, inp: ResolveIncidentInput) -> None:
        """Record who retried the incident (the case then retries the activity)."""
        with session_scope(self.engine) as session:
            row = session.get(Incident, inp.incident_id)
            if row is None or row.status == "resolved":
                return
            row.status = "resolved"
            row.retried_by = inp.retried_by
            row.resolved_at = inp.at
            session.add(row)
            add_audit_event(
                session,
                actor=inp.retried_by,
                action="incident_retried",
                entity_type="incident",
                entity_id=inp.incident_id,
                case_id=row.case_id,
                before={"status": "open"},
                after={"status": "resolved"},
                dedupe_key=f"incident_retried:{inp.incident_id}",
            )
        log.info("incident_retried", incident_id=inp.incident_id)
