"""The dashboard's annual review section: the year's campaign with its figures per
station (an SVG chart per station, the same figures as a table for screen readers),
and the form that opens the year's campaign by hand (CSRF like every page form)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.engine import Engine
from temporalio.client import Client

from api.deps import AuthUser
from api.params import ascii_int
from api.routes import campaigns as campaign_actions
from api.web.charts import Bar, bar_chart
from api.web.i18n import Translator
from models.campaign_public import CampaignFigures
from models.processes.annual_review import TZ
from models.settings import Settings

# Figure → colour; the order of the bars and of the table's columns. Labels are in
# the template (dashboard.html) and here, literally, for the English catalog.
FIGURE_COLOURS = {
    "awaiting_submission": "#718096",
    "submitted": "#2b6cb0",
    "in_correction": "#b7791f",
    "interview": "#805ad5",
    "passed": "#1e7d3a",
    "overdue": "#c53030",
    "not_submitted_recorded": "#4a5568",
}
# The case list behind a bar (running statuses only: a closed case has "closed").
FIGURE_STATUS = {
    "awaiting_submission": "awaiting_submission",
    "submitted": "submitted",
    "in_correction": "in_correction",
    "interview": "interview",
    "overdue": "overdue",
    "not_submitted_recorded": "not_submitted",
}


def figure_labels(tr: Translator) -> dict[str, str]:
    return {
        "awaiting_submission": tr.gettext("未提交"),
        "submitted": tr.gettext("已提交待审核"),
        "in_correction": tr.gettext("补正中"),
        "interview": tr.gettext("约谈中"),
        "passed": tr.gettext("审核通过"),
        "overdue": tr.gettext("逾期未提交"),
        "not_submitted_recorded": tr.gettext("已记录未提交"),
    }


def current_year() -> int:
    return datetime.now(UTC).astimezone(TZ).year


def _chart(
    figures: CampaignFigures,
    labels: dict[str, str],
    tr: Translator,
    title: str,
    chart_id: str,
    links: bool,
) -> str:
    """The totals' chart has its own table, whose rows link to the cases behind each
    figure; a station's chart is described by the campaign's table (its row)."""
    return bar_chart(
        [
            Bar(
                labels[name],
                getattr(figures, name),
                colour,
                f"/cases?process=annual_review&status={FIGURE_STATUS[name]}"
                if links and name in FIGURE_STATUS
                else None,
            )
            for name, colour in FIGURE_COLOURS.items()
        ],
        label_width=120,
        title=title,
        chart_id=chart_id,
        gettext=tr.gettext,
        item_header=tr.gettext("状态"),
        value_header=tr.gettext("案件数"),
        described_by=None if links else "campaign-table",
    )


async def campaign_section(
    request: Request,
    engine: Engine,
    settings: Settings,
    user: AuthUser,
    tr: Translator,
) -> dict[str, Any]:
    """The template context of the section: the campaign of ``?campaign_year=`` (this
    year by default) with its charts, or None when it is not opened."""
    this_year = current_year()
    year = (
        ascii_int(request.query_params.get("campaign_year"), low=2000, high=2100)
        or this_year
    )
    progress = await campaign_actions.load_progress(engine, settings, user, year)
    labels = figure_labels(tr)
    charts: dict[str, Any] = {}
    if progress is not None:
        charts = {
            "totals": _chart(
                progress.totals,
                labels,
                tr,
                tr.gettext("{year}年度登记审核：合计", year=year),
                "chart-campaign-totals",
                links=True,
            ),
            "units": [
                (
                    u,
                    _chart(
                        u,
                        labels,
                        tr,
                        tr.gettext(
                            "{year}年度登记审核：{unit}",
                            year=year,
                            unit=u.org_unit_name,
                        ),
                        f"chart-campaign-{u.org_unit_id}",
                        links=False,
                    ),
                )
                for u in progress.units
            ],
        }
    return {
        "campaign": progress,
        "campaign_year": year,
        "campaign_years": list(
            range(
                this_year - campaign_actions.YEAR_SPAN,
                this_year + campaign_actions.YEAR_SPAN + 1,
            )
        ),
        "campaign_charts": charts,
        "campaign_labels": labels,
        "flash": request.query_params.get("flash"),
        "flash_kind": "error" if request.query_params.get("error") else "ok",
    }


def _message(exc: HTTPException) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        return str(detail.get("message", ""))
    if isinstance(detail, list):
        return "; ".join(str(e.get("msg", "")) for e in detail if isinstance(e, dict))
    return str(detail)


async def open_from_form(
    request: Request,
    engine: Engine,
    temporal: Client,
    settings: Settings,
    user: AuthUser,
    tr: Translator,
) -> RedirectResponse:
    """Open the campaign of the form's year; the answer (opened, open already, or why
    not) comes back on the dashboard as its message."""
    form = await request.form()
    year = ascii_int(str(form.get("year") or ""), low=2000, high=2100)
    back: dict[str, Any] = {"campaign_year": year or current_year()}
    if year is None:
        back.update(flash=tr.gettext("请填写有效的年度"), error=1)
    else:
        try:
            _, started = await campaign_actions.open_annual_review(
                engine, temporal, settings, user, year
            )
        except HTTPException as exc:
            if exc.status_code == 403:
                raise
            back.update(flash=tr.gettext(_message(exc)), error=1)
        else:
            back["flash"] = (
                tr.gettext(
                    "已开启{year}年度登记审核，正在为每位退役军人开启案件", year=year
                )
                if started
                else tr.gettext("{year}年度登记审核已开启，未重复开启", year=year)
            )
    return RedirectResponse(f"/dashboard?{urlencode(back)}#campaign", status_code=303)
