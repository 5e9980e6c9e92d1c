"""Who may call what: every route of the app, from ``app.routes``, called by nobody, a
clerk of the other township, a clerk of the case's own unit and each role, and the
answer checked against the table below.

One app, one seeded database, one worker and one real return-home case (started through
the API, `fast` deadlines) serve the whole module. A route of the app that has no row
here fails the test by name: decide who may call it and add its row. A row whose route
does not exist (yet) is reported by ``test_every_row_names_a_route``.

Columns (``ACTORS``): ``anon`` no credentials; ``other`` township2 (南关镇, another
township than the case's); ``same`` village (东关村, the case's own unit); ``admin``,
``manager``, ``auditor`` (示范县), ``county`` county_staff, ``desk`` zuzhi (desk_party),
``city`` city_staff (示范市, above the county). Intended answers: 401 for /api paths
without credentials, 303 to /login for pages; 404 for what lies outside the caller's
subtree (existence does not leak); 403 for a role that may not act; 2xx (or the answer
the body asks for, e.g. 422 for a wrong outcome once the caller may act) otherwise.
"""

from __future__ import annotations

import itertools
import re
import secrets
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from api.main import create_app
from models.db import make_engine
from models.demo import DEMO_PASSWORD, seed_demo
from models.loan_policy import QINGDAO_2024
from models.processes.annual_review import TZ, campaign_id
from models.settings import Settings
from models.tables import (
    Aftercare,
    Campaign,
    Complaint,
    ComplaintParty,
    HumanTask,
    Loan,
    OrgUnit,
    SavedFilter,
    Veteran,
)
from tests.api.page_login import page_login, session_csrf
from tests.conftest import DB_BACKENDS
from tests.support import wait_for
from worker import build_worker

ACTORS = {
    "anon": None,
    "other": "township2",
    "same": "village",
    "admin": "admin",
    "manager": "manager",
    "auditor": "auditor",
    "county": "county",
    "desk": "zuzhi",
    "city": "city",
}


@dataclass
class Row:
    """One call of a route: ``expect`` lists the answer per actor in ``ACTORS`` order
    (``303`` for pages means a redirect; for ``anon`` it must lead to /login)."""

    method: str
    path: str
    expect: str
    url: str = ""  # the concrete URL when it is not ``path`` filled from the context
    body: Callable[[World, str], dict[str, Any]] | None = None
    before: Callable[[World], Any] | None = None  # an awaitable run before each call
    form: bool = False  # a page form: the actor's CSRF token goes along

    def codes(self) -> dict[str, int]:
        values = self.expect.split()
        assert len(values) == len(ACTORS), (self.method, self.path)
        return dict(zip(ACTORS, map(int, values), strict=True))


@dataclass
class World:
    app: FastAPI
    engine: Engine
    ids: dict[str, Any]
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)


# ---- request bodies ------------------------------------------------------------------

_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


_SERIALS = itertools.count(901)


def new_id_number() -> str:
    """A fresh, valid 18-digit ID number (GB 11643 check digit)."""
    body = f"11010119900101{next(_SERIALS) % 1000:03d}"
    check = "10X98765432"[
        sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11
    ]
    return body + check


def veteran_body(w: World, actor: str) -> dict[str, Any]:
    return {
        "json": {
            "name": "矩阵测试",
            "id_number": new_id_number(),
            "gender": "男",
            "phone": "0531-8000 9999",
            "category": "自主就业退役士兵",
            "org_unit_id": w.ids["dongguan"],
        }
    }


def no_such_outcome(w: World, actor: str) -> dict[str, Any]:
    """Authorised callers get 422 (the outcome is wrong); nothing completes."""
    return {"json": {"outcome": "__matrix__", "data": {}, "comment": ""}}


def reassign_to_county2(w: World, actor: str) -> dict[str, Any]:
    return {"json": {"username": "county2", "reason": "矩阵测试"}}


def payloads(w: World, actor: str) -> dict[str, Any]:
    return {"json": {"payloads": []}}


async def held_by_county(w: World) -> None:
    """The task held by county (so unclaim and reassign have something to act on)."""
    r = await w.clients["county"].post(
        f"/api/tasks/{w.ids['task_id']}/claim",
        json={"force": True},
        headers=w.tokens["county"],
    )
    assert r.status_code in (200, 409), r.text  # 409: county holds it already


async def free(w: World) -> None:
    """The task held by nobody (so every eligible caller may claim it)."""
    r = await w.clients["admin"].post(
        f"/api/tasks/{w.ids['task_id']}/unclaim", headers=w.tokens["admin"]
    )
    assert r.status_code in (200, 409), r.text  # 409: nobody holds it


THIS_YEAR = datetime.now(UTC).astimezone(TZ).year


async def campaign_opened(w: World) -> None:
    """This year's campaign row, as its workflow writes it (nothing started)."""
    cid = campaign_id(THIS_YEAR, w.app.state.settings.case_id_prefix)
    with Session(w.engine) as s:
        if s.get(Campaign, cid) is None:
            now = datetime.now(UTC)
            s.add(Campaign(id=cid, process="annual_review", year=THIS_YEAR,
                           window_end=now))  # fmt: skip
            s.commit()


async def loan_recorded(w: World) -> None:
    """A loan row for the world's case, as a startup-loan case's activity writes it."""
    with Session(w.engine) as s:
        if s.get(Loan, w.ids["case_id"]) is None:
            s.add(Loan(case_id=w.ids["case_id"], veteran_id=w.ids["veteran_id"]))
            s.commit()


async def aftercare_recorded(w: World) -> None:
    """An aftercare row for the world's case, as an aftercare case's activity writes
    it."""
    with Session(w.engine) as s:
        if s.get(Aftercare, w.ids["case_id"]) is None:
            s.add(
                Aftercare(
                    case_id=w.ids["case_id"],
                    veteran_id=w.ids["veteran_id"],
                    died_on=date(2025, 3, 10),
                    cause="illness",
                )
            )
            s.commit()


async def complaint_recorded(w: World) -> None:
    """A complaint row and party for the world's case, as a complaint case's start
    and activity write them."""
    with Session(w.engine) as s:
        if s.get(Complaint, w.ids["case_id"]) is None:
            s.add(
                Complaint(
                    case_id=w.ids["case_id"],
                    channel="window",
                    org_unit_id=w.ids["dongguan"],
                    received_on=date(2026, 3, 2),
                )
            )
            s.add(ComplaintParty(case_id=w.ids["case_id"], name="矩阵投诉人"))
            s.commit()


def aftercare_figure_body(w: World, actor: str) -> dict[str, Any]:
    """A national income of a far year, one per actor (only the admin's is added)."""
    year = 2900 + list(ACTORS).index(actor)
    return {
        "json": {
            "kind": "national_income",
            "year": year,
            "value": "1.00",
            "source": "矩阵测试",
        }
    }


AFTERCARE_QUOTE = {
    "cause": "illness",
    "death_date": "2025-03-10",
    "monthly_base_pay": "8000.00",
    "honours": [],
}


def loan_policy_body(w: World, actor: str) -> dict[str, Any]:
    """A new version for the demo county (the admin's own unit): created once."""
    with Session(w.engine) as s:
        county = s.exec(select(OrgUnit).where(OrgUnit.code == "sfx")).one()
    body = QINGDAO_2024.model_dump(mode="json")
    body.update(version=f"matrix-{actor}", locality=county.path)
    return {"json": body}


QUOTE = {
    "loan_type": "personal",
    "principal": "100000.00",
    "annual_rate": "4.35",
    "lpr": "3.45",
    "contract_date": "2024-01-01",
    "repayments": [
        {"paid_on": "2025-01-01", "principal": "100000.00", "interest": "4350.00"}
    ],
}


def form(data: dict[str, Any]) -> Callable[[World, str], dict[str, Any]]:
    return lambda w, actor: {"data": dict(data)}


# ---- the table -----------------------------------------------------------------------
#                                      anon oth same adm mgr aud cty desk city
PUBLIC = "200 200 200 200 200 200 200 200 200"
STAFF = "401 200 200 200 200 200 200 200 200"
IN_SUBTREE = "401 404 200 200 200 200 200 200 200"
PAGE_STAFF = "303 200 200 200 200 200 200 200 200"
PAGE_IN_SUBTREE = "303 404 200 200 200 200 200 200 200"
TASK = "401 404 404 200 200 200 200 200 200"
PAGE_TASK = "303 404 404 200 200 200 200 200 200"
AUDITORS_API = "401 403 403 200 403 200 403 403 403"
AUDITORS_PAGE = "303 403 403 200 403 200 403 403 403"
AUDITORS_PAGE_CASE = AUDITORS_PAGE
MANAGERS_PAGE = "303 403 403 200 200 403 403 403 403"
REPORT_READERS = "401 403 403 200 200 200 403 403 403"
NOT_OURS = "404 404 404 404 404 404 404 404 404"

ROWS: list[Row] = [
    # Public: the login, health and the API's own documentation.
    Row("GET", "/healthz", PUBLIC),
    # Prometheus scrapes with VETFLOW_METRICS_TOKEN, which no staff login is
    # (tests/api/test_observability.py: unset 404, right token 200).
    Row("GET", "/metrics", "401 401 401 401 401 401 401 401 401"),
    Row("GET", "/openapi.json", PUBLIC),
    Row("GET", "/docs", PUBLIC),
    Row("GET", "/docs/oauth2-redirect", PUBLIC),
    Row("GET", "/redoc", PUBLIC),
    Row("GET", "/login", PUBLIC),
    Row("GET", "/", "303 303 303 303 303 303 303 303 303"),
    Row("GET", "/static", PUBLIC, url="/static/vetflow.css"),
    Row(
        "POST",
        "/api/auth/token",
        "200 200 200 200 200 200 200 200 200",
        body=lambda w, a: {
            "data": {"username": ACTORS[a] or "county2", "password": DEMO_PASSWORD}
        },
    ),
    # Logs the caller in again (anon as county2); ``call`` restores their session.
    Row(
        "POST",
        "/login",
        "303 303 303 303 303 303 303 303 303",
        body=lambda w, a: {
            "data": {"username": ACTORS[a] or "county2", "password": DEMO_PASSWORD}
        },
    ),
    # The veteran's self-service pages: authorised by the signed link in the path,
    # never by a login (a session neither helps nor is needed); a link that is not
    # ours answers 404 to everyone (tests/api/test_self_service.py: the real ones).
    Row("GET", "/self/annual-review/{token}", NOT_OURS, url="/self/annual-review/x.y"),
    Row(
        "POST",
        "/self/annual-review/{token}",
        NOT_OURS,
        url="/self/annual-review/x.y",
        body=form({"party_life": "无", "rewards_punishments": "无"}),
    ),
    # The rating page (好差评): the same, by its own signed link (tests/api/
    # test_rating_page.py: the real ones).
    Row("GET", "/rate/{token}", NOT_OURS, url="/rate/x.y"),
    Row(
        "POST",
        "/rate/{token}",
        NOT_OURS,
        url="/rate/x.y",
        body=form({"grade": "satisfied"}),
    ),
    # The evidence keys and the codec of the Temporal UI.
    Row("GET", "/api/evidence/keys", STAFF),
    Row(
        "POST",
        "/api/codec/{op}",
        "401 403 403 200 403 200 403 403 403",
        url="/api/codec/decode",
        body=payloads,
    ),
    Row(
        "POST",
        "/api/codec/{op}",
        "401 403 403 200 403 200 403 403 403",
        url="/api/codec/encode",
        body=payloads,
    ),
    # CORS preflight of the Temporal UI: no credentials by design, no data.
    Row(
        "OPTIONS",
        "/api/codec/{op}",
        "204 204 204 204 204 204 204 204 204",
        url="/api/codec/decode",
    ),
    # Reads every clerk has, answers limited to the caller's subtree.
    Row("GET", "/api/me", STAFF),
    Row("GET", "/api/org-units", STAFF),
    Row("GET", "/api/holidays", STAFF),
    Row("GET", "/api/processes", STAFF),
    Row("GET", "/api/cases", STAFF),
    Row("GET", "/api/tasks", STAFF),
    Row("GET", "/api/veterans", STAFF),
    Row("GET", "/api/incidents", "401 403 403 200 200 403 403 403 403"),
    # Campaign figures: every clerk, counted over their own subtree only.
    Row("GET", "/api/campaigns", STAFF, before=campaign_opened),
    Row(
        "GET",
        "/api/campaigns/annual-review/{year}",
        STAFF,
        url=f"/api/campaigns/annual-review/{THIS_YEAR}",
        before=campaign_opened,
    ),
    Row("GET", "/api/cases/{case_id}", IN_SUBTREE),
    # The open task (档案接收) is the county's: above the village, so `same` does not
    # see it (404) while it sees the case of its own veteran.
    Row("GET", "/api/tasks/{task_id}", TASK),
    Row("GET", "/api/veterans/{veteran_id}", IN_SUBTREE),
    Row("GET", "/api/cases/{case_id}/history", IN_SUBTREE),
    Row("GET", "/api/pay-calendar/{year}", STAFF, url="/api/pay-calendar/2026"),
    # The payroll list: finance, leaders, managers and auditors (others 403); the
    # case here is a return-home case, not a payroll, so those may call it get 404.
    Row(
        "GET", "/api/cases/{case_id}/payroll.csv", "401 403 403 403 404 404 403 403 403"
    ),
    # The satisfaction report: managers, admins, leaders and auditors of the subtree
    # (clerks 403: a station's own figures would come close to naming raters).
    Row("GET", "/api/reports/satisfaction", REPORT_READERS),
    Row("GET", "/api/reports/satisfaction.csv", REPORT_READERS),
    # The raw history leaves the system: auditors, managers and admins only (item 9).
    Row(
        "GET",
        "/api/cases/{case_id}/history/export",
        "401 403 403 200 200 200 403 403 403",
    ),
    Row("POST", "/api/cases/{case_id}/replay", AUDITORS_API),
    # The startup loan: the quote, the policy versions and banks for every clerk,
    # a case's loan in the subtree; versions and banks written by admins only.
    Row(
        "POST",
        "/api/loan-subsidy/quote",
        STAFF,
        body=lambda w, a: {"json": QUOTE},
    ),
    Row("GET", "/api/loan-policies", STAFF),
    Row(
        "GET",
        "/api/loan-policies/{version}",
        STAFF,
        url="/api/loan-policies/qingdao-2024",
    ),
    Row(
        "POST",
        "/api/loan-policies",
        "401 403 403 201 403 403 403 403 403",
        body=loan_policy_body,
    ),
    Row("GET", "/api/banks", STAFF),
    Row(
        "POST",
        "/api/banks",
        "401 403 403 201 403 403 403 403 403",
        body=lambda w, a: {"json": {"code": f"matrix_{a}", "name": "矩阵银行"}},
    ),
    Row(
        "PUT",
        "/api/banks/{code}",
        "401 403 403 200 403 403 403 403 403",
        url="/api/banks/qdbank",
        body=lambda w, a: {"json": {"active": True}},
    ),
    Row("GET", "/api/cases/{case_id}/loan", IN_SUBTREE, before=loan_recorded),
    # A retired cadre's aftercare: the quote and the figures for every clerk, figures
    # added by admins only, a case's aftercare (survivors masked) in the subtree.
    Row(
        "POST",
        "/api/aftercare/benefit-quote",
        STAFF,
        body=lambda w, a: {"json": AFTERCARE_QUOTE},
    ),
    Row("GET", "/api/aftercare/figures", STAFF),
    Row(
        "POST",
        "/api/aftercare/figures",
        "401 403 403 201 403 403 403 403 403",
        body=aftercare_figure_body,
    ),
    Row("GET", "/api/cases/{case_id}/aftercare", IN_SUBTREE, before=aftercare_recorded),
    # A complaint: its projection in the subtree; the party revealed (?reveal=true)
    # only to the roles of VETFLOW_COMPLAINT_IDENTITY_ROLES (403 for admin, auditor,
    # desk). A 复查/复核 request: staff and managers; the world's case is not a
    # complaint, so those who may record one get 404.
    Row("GET", "/api/complaints/{case_id}", IN_SUBTREE, before=complaint_recorded),
    Row(
        "GET",
        "/api/complaints/{case_id}",
        "401 404 200 403 200 403 200 403 200",
        body=lambda w, a: {"params": {"reveal": "true"}},
        before=complaint_recorded,
    ),
    Row(
        "POST",
        "/api/complaints/{case_id}/requests",
        "401 404 404 404 404 403 404 403 404",
        body=lambda w, a: {
            "json": {"kind": "review", "received_on": "2026-04-01", "reason": "矩阵"}
        },
    ),
    # Banks sign their callbacks (tests/api/test_loan_api.py); no login opens it.
    Row(
        "POST",
        "/api/bank/callbacks",
        "401 401 401 401 401 401 401 401 401",
        body=lambda w, a: {"json": {"bank": "qdbank"}},
    ),
    # Changes.
    Row(
        "PUT",
        "/api/me/availability",
        "401 200 200 200 200 200 200 200 200",
        body=lambda w, a: {"json": {"absent": False}},
    ),
    # A new password that is too short: refused (422) before the current one is
    # checked, so no session ends and no failed login is counted.
    Row(
        "PUT",
        "/api/me/password",
        "401 422 422 422 422 422 422 422 422",
        body=lambda w, a: {
            "json": {"current_password": DEMO_PASSWORD, "new_password": "short"}
        },
    ),
    # Enabling an active account changes nothing; admins of the subtree only (the
    # village clerk lies in the demo admin's county).
    Row(
        "PUT",
        "/api/accounts/{username}/active",
        "401 403 403 200 403 403 403 403 403",
        url="/api/accounts/village/active",
        body=lambda w, a: {"json": {"active": True}},
    ),
    Row(
        "POST",
        "/api/holidays",
        "401 403 403 200 403 403 403 403 403",
        body=lambda w, a: {
            "json": {"day": "2039-01-03", "workday": False, "name": "矩阵测试"}
        },
    ),
    Row(
        "POST",
        "/api/veterans",
        "401 404 201 201 403 403 201 403 403",
        body=veteran_body,
    ),
    # A second return-home case for a veteran with one open: 409 once the caller may
    # start it at all.
    Row(
        "POST",
        "/api/cases",
        "401 404 409 409 403 403 409 403 403",
        body=lambda w, a: {
            "json": {"process": "return_home", "veteran_id": w.ids["veteran_id"]}
        },
    ),
    # Opening a campaign: managers and admins; a year too far off answers 422 once
    # the caller may open one, so nothing is started here.
    Row(
        "POST",
        "/api/campaigns/annual-review",
        "401 403 403 422 422 403 403 403 403",
        body=lambda w, a: {"json": {"year": THIS_YEAR + 5}},
    ),
    Row(
        "POST",
        "/api/tasks/{task_id}/complete",
        "401 404 404 403 403 403 422 403 403",
        body=no_such_outcome,
    ),
    Row(
        "POST",
        "/api/tasks/{task_id}/claim",
        "401 404 404 403 403 403 200 403 403",
        body=lambda w, a: {"json": {}},
        before=free,
    ),
    Row(
        "POST",
        "/api/tasks/{task_id}/unclaim",
        "401 404 404 200 200 403 200 403 200",
        before=held_by_county,
    ),
    Row(
        "POST",
        "/api/tasks/{task_id}/reassign",
        "401 404 404 200 200 403 403 403 200",
        body=reassign_to_county2,
        before=held_by_county,
    ),
    Row(
        "POST",
        "/api/incidents/{incident_id}/retry",
        "401 403 403 404 404 403 403 403 403",
    ),
    # Pages.
    Row("GET", "/inbox", PAGE_STAFF),
    Row("GET", "/inbox/list", PAGE_STAFF),
    Row("GET", "/cases", PAGE_STAFF),
    Row("GET", "/veterans", PAGE_STAFF),
    Row("GET", "/cases/{case_id}", PAGE_IN_SUBTREE),
    Row("GET", "/tasks/{task_id}", PAGE_TASK),
    Row("GET", "/veterans/{veteran_id}", PAGE_IN_SUBTREE),
    Row("GET", "/dashboard", MANAGERS_PAGE),
    Row("GET", "/dashboard/tasks", MANAGERS_PAGE),
    Row("GET", "/dashboard/satisfaction.csv", MANAGERS_PAGE),
    Row("GET", "/incidents", MANAGERS_PAGE),
    Row("GET", "/audit", AUDITORS_PAGE),
    Row("GET", "/audit/trail", AUDITORS_PAGE),
    Row("GET", "/audit/trail.csv", AUDITORS_PAGE),
    Row("GET", "/audit/cases/{case_id}", AUDITORS_PAGE_CASE),
    # The evidence pack leaves the system like the history export (item 9).
    Row(
        "GET",
        "/audit/cases/{case_id}/evidence.zip",
        "303 403 403 200 200 200 403 403 403",
    ),
    Row("POST", "/audit/cases/{case_id}/replay", AUDITORS_PAGE_CASE, form=True),
    Row(
        "POST",
        "/inbox/filters",
        "303 303 303 303 303 303 303 303 303",
        body=form({"name": "矩阵", "query": "tab=mine"}),
        form=True,
    ),
    # Saved filters belong to their owner (village): another's answers 404.
    Row(
        "POST",
        "/inbox/filters/{filter_id}/delete",
        "303 404 303 404 404 404 404 404 404",
        form=True,
    ),
    # Every staff account changes its own password; two new passwords that differ
    # (422) leave every actor's password and sessions as they were.
    Row("GET", "/settings/password", PAGE_STAFF),
    Row(
        "POST",
        "/settings/password",
        "303 422 422 422 422 422 422 422 422",
        body=form(
            {
                "current_password": "not-checked-here",
                "new_password": "a-new-long-password",
                "repeat_password": "another-long-password",
            }
        ),
        form=True,
    ),
    Row(
        "POST",
        "/settings/language",
        "303 303 303 303 303 303 303 303 303",
        body=form({"locale": "zh-CN", "next": "/inbox"}),
        form=True,
    ),
    Row(
        "POST",
        "/veterans/{veteran_id}/cases",
        "303 404 303 303 403 403 303 403 403",
        body=form({"process": "return_home"}),
        form=True,
    ),
    # The start page of a process with a start form (api/pages/case_start.py): a
    # starter of the veteran's subtree; POSTed for a case 张伟 has already: 409.
    Row(
        "GET",
        "/veterans/{veteran_id}/start/{process}",
        "303 404 200 200 403 403 200 403 403",
    ),
    Row(
        "POST",
        "/veterans/{veteran_id}/start/{process}",
        "303 404 409 409 403 403 409 403 403",
        body=form({}),
        form=True,
    ),
    # 登记投诉/信访 (api/pages/complaint_new.py): the roles that start cases; an empty
    # form is refused beside its fields (422).
    Row("GET", "/complaints/new", "303 200 200 200 403 403 200 403 403"),
    Row(
        "POST",
        "/complaints/new",
        "303 422 422 422 403 403 422 403 403",
        body=form({}),
        form=True,
    ),
    Row(
        "POST",
        "/tasks/{task_id}/complete",
        "303 404 404 403 403 403 422 403 403",
        body=form({"outcome": "__matrix__"}),
        form=True,
    ),
    Row(
        "POST",
        "/tasks/{task_id}/claim",
        "303 404 404 403 403 403 303 403 403",
        body=form({}),
        before=free,
        form=True,
    ),
    Row(
        "POST",
        "/tasks/{task_id}/unclaim",
        "303 404 404 303 303 403 303 403 303",
        before=held_by_county,
        form=True,
    ),
    Row(
        "POST",
        "/tasks/{task_id}/reassign",
        "303 404 404 303 303 403 403 403 303",
        body=form({"username": "county2", "reason": "矩阵测试"}),
        before=held_by_county,
        form=True,
    ),
    Row(
        "POST",
        "/dashboard/reassign",
        "303 403 403 303 303 403 403 403 403",
        body=lambda w, a: {
            "data": {
                "task_id": w.ids["task_id"],
                "username": "county2",
                "reason": "矩阵测试",
            }
        },
        before=held_by_county,
        form=True,
    ),
    # Opening the year's campaign from the dashboard: a year too far off comes back
    # as the page's message (303), so nothing is started here.
    Row(
        "POST",
        "/dashboard/campaigns/annual-review",
        "303 403 403 303 303 403 403 403 403",
        body=form({"year": str(THIS_YEAR + 5)}),
        form=True,
    ),
    Row(
        "POST",
        "/incidents/{incident_id}/retry",
        "303 403 403 404 404 403 403 403 403",
        form=True,
    ),
    # Last: logging out ends the caller's session / token.
    Row("POST", "/api/auth/logout", "401 204 204 204 204 204 204 204 204"),
    Row("POST", "/logout", "303 303 303 303 303 303 303 303 303", form=True),
]


# Rows kept for routes that a change under way adds, so they match once it lands
# (reported by test_every_row_names_a_route until then). Every route of issue 7 has
# landed: empty.
PENDING: set[tuple[str, str]] = set()


def flat_routes(app: FastAPI) -> list[Any]:
    """The app's routes with full paths (FastAPI ≥ 0.16x keeps included routers as one
    lazy entry in ``app.routes``; ``iter_route_contexts`` expands them)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in flat_routes(app):
        methods = getattr(route, "methods", None) or {"GET"}  # a Mount serves GET
        for m in methods - {"HEAD"}:
            found.add((m, route.path))
    return found


# ---- the world: one app, database, worker and case for the module ---------------------


@pytest.fixture(scope="module", params=DB_BACKENDS)
def matrix_engine(
    request, tmp_path_factory, postgres_database
) -> AsyncIterator[Engine]:
    url = (
        f"sqlite:///{tmp_path_factory.mktemp('matrix')}/app.db"
        if request.param == "sqlite"
        else postgres_database
    )
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            SQLModel.metadata.drop_all(conn)
    SQLModel.metadata.create_all(engine)
    seed_demo(engine)
    yield engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            SQLModel.metadata.drop_all(conn)
    engine.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(temporal_env, matrix_engine, tmp_path_factory) -> AsyncIterator[World]:
    keys = tmp_path_factory.mktemp("keys")
    settings = Settings(
        database_url=str(matrix_engine.url),
        task_queue=f"tq-{uuid.uuid4().hex[:12]}",
        secret_key=secrets.token_urlsafe(40),
        policy_profile="fast",
        case_id_prefix=f"m{uuid.uuid4().hex[:8]}-",
        evidence_key_file=str(keys / "evidence.pem"),
        evidence_retired_keys_dir=str(keys / "retired"),
        # Every actor calls every link page (/self, /rate) from one address: the
        # per-address limit they share (tested in test_self_service.py) would refuse
        # the later rows.
        self_link_requests_per_minute=1000,
        metrics_token=secrets.token_urlsafe(24),
    )
    client = temporal_env.client
    app = create_app(settings, engine=matrix_engine, temporal_client=client)
    async with (
        app.router.lifespan_context(app),
        build_worker(client, settings, matrix_engine),
    ):
        w = World(app, matrix_engine, {})
        for actor, username in ACTORS.items():
            c = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test"
            )
            w.clients[actor] = c
            if username is None:
                w.tokens[actor], w.csrf[actor] = {}, ""
                continue
            r = await c.post(
                "/api/auth/token",
                data={"username": username, "password": DEMO_PASSWORD},
            )
            assert r.status_code == 200, r.text
            w.tokens[actor] = {"Authorization": f"Bearer {r.json()['access_token']}"}
            w.csrf[actor] = await page_login(c, username)
        await setup_case(w)
        try:
            yield w
        finally:
            for c in w.clients.values():
                await c.aclose()


async def setup_case(w: World) -> None:
    """A real return-home case of 张伟 (东关村), started by county through the API."""
    with Session(w.engine) as s:
        vet = s.exec(select(Veteran).where(Veteran.name == "张伟")).one()
        w.ids["veteran_id"], w.ids["dongguan"] = vet.id, vet.org_unit_id
    r = await w.clients["county"].post(
        "/api/cases",
        json={"process": "return_home", "veteran_id": w.ids["veteran_id"]},
        headers=w.tokens["county"],
    )
    assert r.status_code == 201, r.text
    case_id = w.ids["case_id"] = r.json()["id"]

    def open_task() -> HumanTask | None:
        with Session(w.engine) as s:
            return s.exec(
                select(HumanTask).where(
                    HumanTask.case_id == case_id, HumanTask.status == "open"
                )
            ).first()

    task = await wait_for(open_task)
    w.ids["task_id"] = task.id
    w.ids["incident_id"] = "no-such-incident"
    w.ids["op"] = "decode"
    # The start page of a process 张伟 already has: drawn for those who may start it,
    # and its submission refused (409), so nothing more is started.
    w.ids["process"] = "return_home"
    with Session(w.engine) as s:
        row = SavedFilter(owner="village", name="village's", query="tab=mine")
        s.add(row)
        s.commit()
        w.ids["filter_id"] = row.id


# ---- the tests ------------------------------------------------------------------------


async def call(w: World, row: Row, actor: str) -> httpx.Response:
    c = w.clients[actor]
    url = row.url or row.path.format(**w.ids)
    kwargs: dict[str, Any] = row.body(w, actor) if row.body else {}
    headers = dict(w.tokens[actor]) if url.startswith("/api") else {}
    if row.form:
        kwargs["data"] = {**kwargs.get("data", {}), "csrf_token": w.csrf[actor]}
    if (row.method, row.path) == ("POST", "/login"):
        page = await c.get("/login")  # the form's hidden CSRF field, when it has one
        hidden = dict(re.findall(r'name="(csrf[a-z_]*)" value="([^"]*)"', page.text))
        kwargs["data"] = {**kwargs["data"], **hidden}
    r = await c.request(row.method, url, headers=headers, **kwargs)
    if (row.method, row.path) == ("POST", "/login"):
        if actor == "anon":
            c.cookies.clear()
        else:  # a new session: its CSRF token
            w.csrf[actor] = await session_csrf(c)
    return r


async def test_every_route_answers_each_caller_as_the_table_says(world: World):
    routes = app_routes(world.app)
    rows = {(r.method, r.path) for r in ROWS}
    missing = sorted(routes - rows)
    assert not missing, (
        "routes without a row in tests/api/test_route_matrix.py ROWS — decide who may "
        f"call them and add rows: {missing}"
    )
    wrong: list[str] = []
    for row in ROWS:
        if (row.method, row.path) not in routes:
            continue  # reported by test_every_row_names_a_route
        for actor, expected in row.codes().items():
            if row.before:
                await row.before(world)
            r = await call(world, row, actor)
            got = r.status_code
            if got != expected:
                wrong.append(f"{row.method} {row.url or row.path} as {actor}: {got}")
                continue
            if got == 303 and actor == "anon" and row.path not in ("/", "/login"):
                if not r.headers["location"].startswith("/login"):
                    wrong.append(f"{row.method} {row.path} as anon: not to /login")
            if actor == "other" and got == 200 and row.method == "GET":
                if world.ids["case_id"] in r.text:
                    wrong.append(f"{row.method} {row.path} shows the case to other")
    assert not wrong, "answers that differ from the table:\n" + "\n".join(wrong)


def test_every_row_names_a_route(world: World):
    """A row must match a route of the app, except the rows kept for routes that other
    changes of issue 7 add (``PENDING``): those are reported, not failed, until they
    land. Empty ``PENDING`` once they all have."""
    routes = app_routes(world.app)
    unmatched = {(r.method, r.path) for r in ROWS} - routes
    assert unmatched <= PENDING, (
        f"rows naming no route of the app: {unmatched - PENDING}"
    )
    if unmatched:
        warnings.warn(
            f"route-matrix rows waiting for their routes: {sorted(unmatched)}",
            stacklevel=1,
        )
