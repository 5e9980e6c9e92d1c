"""The dashboard's 服务评价与投诉 section: the satisfaction rate against the goal of
90 % (000 §4.1.5), bad reviews, the rectification and petition on-time rates and the
reopen rate of the manager's subtree, per month and per unit. Each chart has the same
figures as a table beside it (screen readers read the table, not the SVG). The
figures are those of GET /api/reports/satisfaction (api/satisfaction_queries.py);
the CSV link downloads them through the page session (/dashboard/satisfaction.csv,
audited like the API's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.engine import Engine

from api.deps import AuthUser
from api.params import bounded_date
from api.routes import reports
from api.satisfaction_queries import default_period
from api.web.charts import Bar, bar_chart
from api.web.i18n import Translator
from models.satisfaction_public import (
    PETITION_STAGES,
    SATISFACTION_GOAL,
    SatisfactionReport,
)

GOAL_COLOUR, MET, MISSED = "#718096", "#1e7d3a", "#c53030"


def stage_labels(tr: Translator) -> dict[str, str]:
    return {
        "rectify": tr.gettext("差评整改"),
        "acceptance_decision": tr.gettext("信访受理告知"),
        "handling": tr.gettext("信访办理"),
        "review": tr.gettext("信访复查"),
        "recheck": tr.gettext("信访复核"),
    }


def _pct(rate: float | None) -> float:
    return round((rate or 0) * 100, 1)


def _charts(report: SatisfactionReport, tr: Translator) -> dict[str, str]:
    """Bars for what has a rate (a month or unit without ratings has no bar; its row
    in the table says —)."""
    goal = Bar(tr.gettext("目标"), _pct(SATISFACTION_GOAL), GOAL_COLOUR)

    def rated(label: str, rate: float | None) -> list[Bar]:
        if rate is None:
            return []
        colour = MET if rate >= SATISFACTION_GOAL else MISSED
        return [Bar(label, _pct(rate), colour)]

    labels = stage_labels(tr)
    t = report.totals
    stages = [("rectify", t.rectify_on_time_rate)] + [
        (s, getattr(t.petition, s).on_time_rate) for s in PETITION_STAGES
    ]
    return {
        "months": bar_chart(
            [
                goal,
                *(
                    b
                    for m in report.months
                    for b in rated(m.month, m.satisfaction_rate)
                ),
            ],
            unit="%",
            title=tr.gettext("各月满意率与目标"),
            chart_id="chart-satisfaction-months",
            described_by="satisfaction-months",
        ),
        "units": bar_chart(
            [
                goal,
                *(
                    b
                    for u in report.units
                    for b in rated(u.org_unit_name, u.satisfaction_rate)
                ),
            ],
            unit="%",
            label_width=190,
            title=tr.gettext("各机构满意率与目标"),
            chart_id="chart-satisfaction-units",
            described_by="satisfaction-units",
        ),
        "on_time": bar_chart(
            [
                Bar(labels[s], _pct(rate), "#2c7a7b")
                for s, rate in stages
                if rate is not None
            ],
            unit="%",
            title=tr.gettext("按期办结率"),
            chart_id="chart-satisfaction-on-time",
            described_by="satisfaction-on-time",
        ),
    }


def _query(request: Request) -> tuple[dict[str, str], str | None]:
    """The section's period from ``?sat_from=&sat_to=`` (default: the previous month's
    first day to today, Asia/Shanghai), and a message when a date was unusable."""
    this = default_period(datetime.now(UTC))
    first = (this.first - timedelta(days=1)).replace(day=1)
    params = {"from": first.isoformat(), "to": this.last.isoformat()}
    problem = None
    for key, name in (("sat_from", "from"), ("sat_to", "to")):
        raw = request.query_params.get(key)
        if raw:
            day = bounded_date(raw)
            if day is None:
                problem = "日期无效 (invalid date)"
            else:
                params[name] = day.isoformat()
    return params, problem


async def satisfaction_section(
    request: Request, engine: Engine, user: AuthUser, tr: Translator
) -> dict[str, Any]:
    """The template context of the section (``satisfaction`` None with the reason
    when the period cannot be reported)."""
    params, problem = _query(request)
    report: SatisfactionReport | None = None
    if problem is None:
        try:
            report = await _load(engine, user, params)
        except HTTPException as exc:
            if exc.status_code != 422:
                raise
            problem = _message(exc)
    return {
        "satisfaction": report,
        "satisfaction_charts": _charts(report, tr) if report else {},
        "satisfaction_stages": stage_labels(tr),
        "satisfaction_params": params,
        "satisfaction_problem": problem,
        "satisfaction_csv": f"/dashboard/satisfaction.csv?{urlencode(params)}",
        "satisfaction_goal": SATISFACTION_GOAL,
    }


def _message(exc: HTTPException) -> str:
    detail = exc.detail
    if isinstance(detail, list):
        return "; ".join(str(e.get("msg", "")) for e in detail if isinstance(e, dict))
    return str(detail)


async def _load(
    engine: Engine, user: AuthUser, params: dict[str, str]
) -> SatisfactionReport:
    return await reports.load_report(
        engine, user, bounded_date(params["from"]), bounded_date(params["to"]), None
    )


async def satisfaction_csv(
    engine: Engine, user: AuthUser, request: Request
) -> Response:
    """The section's figures as the API's CSV (``?from=&to=``, default this month to
    date; a bad date: the error page with 422), audited."""
    values = {}
    for name in ("from", "to"):
        raw = request.query_params.get(name)
        day = bounded_date(raw)
        if raw and day is None:
            raise HTTPException(422, detail="日期无效 (invalid date)")
        values[name] = day
    return await reports.csv_download(engine, user, values["from"], values["to"], None)
