"""Activities of the complaint closed loop: the rating links a case offers the person
served (003 §9.1.3) and the complaint projection (stage, counters, 台账 lines). Both
are idempotent: a retried activity writes nothing twice."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.audit import add_audit_event
from models.complaint_contracts import (
    RATE_PATH,
    ComplaintUpdate,
    RatingLinkInput,
    RatingLinkIssued,
)
from models.db import session_scope
from models.rating_link import sign_rating_link
from models.settings import Settings, load_settings
from models.tables import Complaint, OrgUnit, Rating, RatingLink

log = structlog.get_logger(__name__)

# The fields a later write may set (None: leave as is).
_LATER = ("reopens", "extended_days", "paused_seconds", "final", "closed_at")


class ComplaintActivities:
    def __init__(self, engine: Engine, settings: Settings | None = None) -> None:
        self.engine = engine
        self._settings = settings

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @activity.defn(name="issue_rating_link")
    def issue_rating_link(self, inp: RatingLinkInput) -> dict[str, Any]:
        """Write the link row once (a retry finds it and signs the same link) and
        answer its URL. The token is a credential: never logged."""
        with session_scope(self.engine) as session:
            row = session.get(RatingLink, inp.link_id)
            if row is None:
                row = RatingLink(
                    id=inp.link_id,
                    case_id=inp.case_id,
                    task_id=inp.task_id,
                    step=inp.step,
                    step_title=inp.step_title,
                    process=inp.process,
                    org_unit_id=inp.org_unit_id,
                    org_path=inp.org_path,
                    clerk=inp.clerk,
                    veteran_id=inp.veteran_id,
                    issued_at=inp.issued_at,
                    expires_at=inp.expires_at,
                )
                session.add(row)
            expires_at = row.expires_at
        try:
            token = sign_rating_link(self.settings.secret_key, inp.link_id, expires_at)
        except ValueError as exc:
            raise ApplicationError(
                str(exc), type="SelfLinkUnavailable", non_retryable=True
            ) from exc
        log.info("rating_link_issued", case_id=inp.case_id, link_id=inp.link_id)
        base = self.settings.public_base_url.rstrip("/")
        return RatingLinkIssued(
            url=f"{base}{RATE_PATH}{token}", expires_at=expires_at
        ).model_dump(mode="json")

    @activity.defn(name="record_complaint")
    def record_complaint(self, inp: ComplaintUpdate) -> None:
        """Create the complaint row from the opening fields (once), then set the
        stage and whatever this write carries; append its 台账 line once (by key);
        an upheld appeal takes the rating out of the figures."""
        with session_scope(self.engine) as session:
            row = session.get(Complaint, inp.case_id)
            if row is None:
                unit = session.get(OrgUnit, inp.org_unit_id or 0)
                if unit is None or inp.channel is None or inp.received_on is None:
                    raise ApplicationError(
                        f"complaint {inp.case_id} has no row and no opening fields",
                        type="ComplaintRowMissing",
                        non_retryable=True,
                    )
                row = Complaint(
                    case_id=inp.case_id,
                    channel=inp.channel,
                    kind=inp.kind,
                    category=inp.category or "other",
                    org_unit_id=unit.id or 0,
                    org_path=unit.path,
                    received_on=inp.received_on,
                    grade=inp.grade,
                    rating_id=inp.rating_id,
                    matter_key=inp.matter_key or "",
                    related_case_id=inp.related_case_id,
                    opened_at=inp.at,
                )
            before = row.stage
            row.stage = inp.stage
            for name in _LATER:
                value = getattr(inp, name)
                if value is not None:
                    setattr(row, name, value)
            if inp.ledger_line is not None:
                keys = {str(line.get("key")) for line in row.ledger}
                if str(inp.ledger_line.get("key")) not in keys:
                    row.ledger = [*row.ledger, inp.ledger_line]
            row.updated_at = inp.at
            session.add(row)
            if inp.rating_counted is not None and row.rating_id is not None:
                rating = session.get(Rating, row.rating_id)
                if rating is not None and rating.counted != inp.rating_counted:
                    rating.counted = inp.rating_counted
                    session.add(rating)
            if before != inp.stage:
                add_audit_event(
                    session,
                    actor="system",
                    action="complaint_stage",
                    entity_type="complaint",
                    entity_id=inp.case_id,
                    case_id=inp.case_id,
                    before={"stage": before},
                    after={"stage": inp.stage},
                    dedupe_key=f"complaint_stage:{inp.case_id}:{inp.stage}:"
                    f"{(inp.ledger_line or {}).get('key', '')}",
                )
        log.info("complaint_recorded", case_id=inp.case_id, stage=inp.stage)
