"""Activities of campaigns: the campaign row, the veterans it covers, the review 台账."""

from __future__ import annotations

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio import activity

from models.audit import add_audit_event
from models.contracts import (
    CampaignMember,
    CampaignPageInput,
    CampaignRecordInput,
    LedgerInput,
)
from models.db import session_scope
from models.tables import AnnualReviewLedger, Campaign, OrgUnit, Veteran

log = structlog.get_logger(__name__)


class CampaignActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def record_campaign(self, inp: CampaignRecordInput) -> None:
        """Write the campaign's row (created once, then its progress and status)."""
        with session_scope(self.engine) as session:
            row = session.get(Campaign, inp.campaign_id)
            if row is None:
                session.add(
                    Campaign(
                        id=inp.campaign_id,
                        process=inp.process,
                        year=inp.year,
                        status=inp.status,
                        opened_by=inp.opened_by,
                        opened_at=inp.opened_at,
                        window_end=inp.window_end,
                        cases_opened=inp.cases_opened,
                        last_veteran_id=inp.last_veteran_id,
                    )
                )
                add_audit_event(
                    session,
                    actor=inp.opened_by,
                    action="campaign_opened",
                    entity_type="campaign",
                    entity_id=inp.campaign_id,
                    after={"year": inp.year, "window_end": inp.window_end.isoformat()},
                    dedupe_key=f"campaign_opened:{inp.campaign_id}",
                )
                return
            # Progress only moves forward (a late retry never rewinds it).
            row.cases_opened = max(row.cases_opened, inp.cases_opened)
            row.last_veteran_id = max(row.last_veteran_id, inp.last_veteran_id)
            if row.status != inp.status and inp.status == "closed":
                row.status = "closed"
                add_audit_event(
                    session,
                    actor="system",
                    action="campaign_closed",
                    entity_type="campaign",
                    entity_id=inp.campaign_id,
                    after={"cases_opened": row.cases_opened},
                    dedupe_key=f"campaign_closed:{inp.campaign_id}",
                )
            session.add(row)

    @activity.defn
    def campaign_members(self, inp: CampaignPageInput) -> list[CampaignMember]:
        """The next page of veterans of the category, in id order after the cursor."""
        with session_scope(self.engine) as session:
            rows = session.exec(
                select(Veteran.id, OrgUnit.path)
                .join(OrgUnit, col(OrgUnit.id) == col(Veteran.org_unit_id))
                .where(Veteran.category == inp.category)
                .where(col(Veteran.id) > inp.after_id)
                .order_by(col(Veteran.id))
                .limit(inp.limit)
            ).all()
        return [
            CampaignMember(veteran_id=vid or 0, org_path=path) for vid, path in rows
        ]

    @activity.defn
    def record_ledger(self, inp: LedgerInput) -> None:
        """One 台账 line per veteran and year (001 第八条): written once."""
        with session_scope(self.engine) as session:
            existing = session.exec(
                select(AnnualReviewLedger).where(
                    AnnualReviewLedger.veteran_id == inp.veteran_id,
                    AnnualReviewLedger.year == inp.year,
                )
            ).first()
            if existing is not None:
                return
            session.add(
                AnnualReviewLedger(
                    veteran_id=inp.veteran_id,
                    year=inp.year,
                    result=inp.result,
                    case_id=inp.case_id,
                    rounds=inp.rounds,
                    recorded_by=inp.recorded_by,
                    recorded_at=inp.at,
                )
            )
            add_audit_event(
                session,
                actor=inp.recorded_by or "system",
                action="annual_review_recorded",
                entity_type="veteran",
                entity_id=str(inp.veteran_id),
                case_id=inp.case_id,
                after={"year": inp.year, "result": inp.result, "rounds": inp.rounds},
                dedupe_key=f"annual_review_recorded:{inp.veteran_id}:{inp.year}",
            )
        log.info("ledger_recorded", veteran_id=inp.veteran_id, year=inp.year)
