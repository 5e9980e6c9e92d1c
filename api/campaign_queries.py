"""Read-side SQL of campaigns: their rows and their cases' figures for a subtree.

A case of the annual review carries its status (models/processes/annual_review.py
STATUSES) while it runs and ``closed`` at its end; a closed case counts by its final
outcome in the 台账 (``annual_review_ledger``: passed / non_submission, 001 第八条).
Every figure is one GROUP BY over the campaign's cases (SQLite and PostgreSQL), the
split clock from :mod:`api.case_clock`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from api.case_clock import DAY_SECONDS, clock_subquery
from models.campaign_public import (
    CampaignFigures,
    CampaignPublic,
    CampaignSummary,
    CampaignUnitFigures,
)
from models.processes.annual_review import CAMPAIGN_KEY, STATUSES
from models.tables import AnnualReviewLedger, Campaign, Case, OrgUnit

# Figure name → the case's effective status it counts.
FIGURES = {
    "awaiting_submission": "awaiting_submission",
    "submitted": "submitted",
    "in_correction": "in_correction",
    "interview": "interview",
    "passed": "passed",
    "overdue": "overdue",
    "not_submitted_recorded": "not_submitted",
}
# 台账 result → the status a closed case counts as.
LEDGER_STATUS = {"passed": "passed", "non_submission": "not_submitted"}


def campaign_row(engine: Engine, campaign_id: str) -> Campaign | None:
    with Session(engine) as s:
        return s.get(Campaign, campaign_id)


def campaign_rows(engine: Engine, prefix: str) -> list[Campaign]:
    """The annual review campaigns of this installation (its case id prefix), newest
    year first."""
    with Session(engine) as s:
        return list(
            s.exec(
                select(Campaign)
                .where(col(Campaign.id).startswith(f"{prefix}{CAMPAIGN_KEY}-"))
                .order_by(col(Campaign.year).desc())
            ).all()
        )


def _effective_status(clock: Any) -> ColumnElement[str]:
    """The case's status while it runs; once closed, its 台账 outcome."""
    ledger = case(
        *[(col(AnnualReviewLedger.result) == r, s) for r, s in LEDGER_STATUS.items()],
        else_="other",
    )
    return case((clock.c.status.in_(STATUSES), clock.c.status), else_=ledger)


def _figures_query(
    now: datetime, dialect: str, group: str, where: list[ColumnElement[bool]]
) -> Any:
    """Counts per ``group`` ("org_unit_id" or "campaign_id") of the cases matching
    ``where``, with the summed clock seconds: one pass over the cases."""
    clock = clock_subquery(now, dialect, *where)
    cases = (
        sa_select(
            clock.c[group].label("key"),
            _effective_status(clock).label("status"),
            clock.c.open_seconds,
            clock.c.veteran_seconds,
        )
        .outerjoin(
            AnnualReviewLedger,
            and_(
                col(AnnualReviewLedger.case_id) == clock.c.case_id,
                col(AnnualReviewLedger.veteran_id) == clock.c.veteran_id,
            ),
        )
        .subquery("campaign_case")
    )
    counts = [
        func.sum(case((cases.c.status == status, 1), else_=0)).label(name)
        for name, status in [*FIGURES.items(), ("other", "other")]
    ]
    return sa_select(
        cases.c.key,
        func.count().label("opened"),
        *counts,
        func.sum(cases.c.open_seconds - cases.c.veteran_seconds).label("agency"),
        func.sum(cases.c.veteran_seconds).label("veteran"),
    ).group_by(cases.c.key)


def _avg_days(total: Any, n: int) -> float | None:
    return round(float(total or 0) / n / DAY_SECONDS, 2) if n else None


def _figures(row: Any) -> dict[str, Any]:
    n = int(row.opened or 0)
    return {
        "opened": n,
        **{name: int(getattr(row, name) or 0) for name in [*FIGURES, "other"]},
        "avg_agency_days": _avg_days(row.agency, n),
        "avg_veteran_days": _avg_days(row.veteran, n),
        "_agency": float(row.agency or 0),
        "_veteran": float(row.veteran or 0),
    }


def _sum(parts: list[dict[str, Any]]) -> CampaignFigures:
    n = sum(p["opened"] for p in parts)
    return CampaignFigures(
        opened=n,
        **{name: sum(p[name] for p in parts) for name in [*FIGURES, "other"]},
        avg_agency_days=_avg_days(sum(p["_agency"] for p in parts), n),
        avg_veteran_days=_avg_days(sum(p["_veteran"] for p in parts), n),
    )


def _in_subtree(org_path: str) -> ColumnElement[bool]:
    return col(Case.org_path).startswith(org_path)


def campaign_figures(
    engine: Engine, campaign_id: str, org_path: str, now: datetime
) -> tuple[CampaignFigures, list[CampaignUnitFigures]]:
    """Totals and per-unit figures of a campaign's cases in the subtree."""
    where = [col(Case.campaign_id) == campaign_id, _in_subtree(org_path)]
    query = _figures_query(now, engine.dialect.name, "org_unit_id", where)
    with Session(engine) as s:
        rows = s.connection().execute(query).all()
        units = {
            u.id: u
            for u in s.exec(
                select(OrgUnit).where(col(OrgUnit.id).in_([r.key for r in rows]))
            ).all()
        }
    parts = [(_figures(r), units.get(r.key)) for r in rows]
    per_unit = sorted(
        (
            CampaignUnitFigures(
                org_unit_id=int(r.key),
                org_unit_name=unit.name if unit else str(r.key),
                org_path=unit.path if unit else "",
                **{k: v for k, v in p.items() if not k.startswith("_")},
            )
            for r, (p, unit) in zip(rows, parts, strict=True)
        ),
        key=lambda u: (u.org_path, u.org_unit_id),
    )
    return _sum([p for p, _ in parts]), per_unit


def campaign_summaries(
    engine: Engine, prefix: str, org_path: str, now: datetime
) -> list[CampaignSummary]:
    """Every campaign with the totals of its cases in the subtree (one query)."""
    rows = campaign_rows(engine, prefix)
    if not rows:
        return []
    where = [col(Case.campaign_id).in_([r.id for r in rows]), _in_subtree(org_path)]
    query = _figures_query(now, engine.dialect.name, "campaign_id", where)
    with engine.connect() as conn:
        by_campaign = {r.key: _figures(r) for r in conn.execute(query).all()}
    return [
        CampaignSummary(
            campaign=CampaignPublic.model_validate(c),
            totals=_sum([by_campaign[c.id]] if c.id in by_campaign else []),
        )
        for c in rows
    ]
