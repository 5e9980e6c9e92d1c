"""Security headers on API, page, static, error and docs answers; templates keep to
the policy (no inline scripts or <style> elements); strict booleans in bodies."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from api.security_headers import APP_CSP, DOCS_CSP, INTERNAL_ERROR
from models.tables import Account

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "templates"


def assert_secured(r, csp: str = APP_CSP) -> None:
    assert r.headers["x-frame-options"] == "DENY", r.url
    assert r.headers["x-content-type-options"] == "nosniff", r.url
    assert r.headers["referrer-policy"] == "same-origin", r.url
    assert r.headers["content-security-policy"] == csp, r.url


async def test_every_kind_of_answer_carries_the_headers(http, auth):
    h = await auth("county")
    answers = [
        await http.get("/api/me", headers=h),  # JSON
        await http.get("/api/me"),  # 401
        await http.get("/api/veterans/999999", headers=h),  # 404
        await http.get("/healthz"),
        await http.get("/login"),  # page
        await http.get("/inbox"),  # redirect to the login page
        await http.get("/static/vetflow.css"),  # static file
        await http.get("/no-such-page"),  # error page
    ]
    assert [r.status_code for r in answers] == [200, 401, 404, 200, 200, 303, 200, 404]
    for r in answers:
        assert_secured(r)
    policy = dict(d.strip().split(" ", 1) for d in APP_CSP.split(";"))
    assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    # The one inline allowance: style attributes (form controls, SVG charts).
    assert [d for d, v in policy.items() if "unsafe" in v] == ["style-src-attr"]


async def test_an_unhandled_error_answers_500_with_the_headers_and_request_id(
    app: FastAPI,
):
    """Starlette answers an unhandled error outside every other middleware; the 500
    still carries the security headers and the request id, and names nothing of the
    error itself."""

    @app.get("/api/test-crash")
    async def api_crash() -> None:
        raise RuntimeError("secret detail 110101199003077777")

    @app.get("/test-crash")
    async def page_crash() -> None:
        raise RuntimeError("secret detail 110101199003077777")

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://test",
    ) as c:
        api = await c.get("/api/test-crash", headers={"X-Request-ID": "crash-1"})
        page = await c.get("/test-crash", headers={"X-Request-ID": "crash-2"})
    assert api.status_code == 500 and page.status_code == 500
    for r, rid in ((api, "crash-1"), (page, "crash-2")):
        assert_secured(r)
        assert r.headers["x-request-id"] == rid
        assert "110101199003077777" not in r.text and "secret" not in r.text
    assert api.json() == {
        "detail": {
            "type": "InternalError",
            "message": INTERNAL_ERROR,
            "request_id": "crash-1",
        }
    }
    assert page.text.startswith(INTERNAL_ERROR) and "crash-2" in page.text


async def test_docs_get_their_narrow_exception_and_still_load(http):
    docs = await http.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert_secured(docs, DOCS_CSP)
    # What the Swagger page loads is allowed by its policy.
    for src in re.findall(r'(?:src|href)="(https://[^/"]+)', docs.text):
        assert src in DOCS_CSP, src
    assert_secured(await http.get("/openapi.json"))


def test_templates_have_no_inline_scripts_or_style_elements():
    """APP_CSP allows scripts from /static only and styles from files (plus style
    attributes): an inline <script> or a <style> element would be blocked."""
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert 'src="/static/' in tag, (path, tag)
        assert "<style" not in text, path
        assert not re.search(r"\son[a-z]+=", text), path  # no inline handlers


@pytest.mark.parametrize("value", [0, 1, "yes", "true", None])
async def test_availability_takes_only_json_booleans(http, auth, seeded_engine, value):
    h = await auth("county")
    r = await http.put("/api/me/availability", json={"absent": value}, headers=h)
    if value is None:  # "absent": null = leave unchanged
        assert r.status_code == 200 and r.json()["absent"] is False
        return
    assert r.status_code == 422, r.text
    (err,) = r.json()["detail"]
    assert err["loc"] == ["body", "absent"] and err["type"] == "bool_type"
    with Session(seeded_engine) as s:
        acc = s.exec(select(Account).where(Account.username == "county")).one()
    assert acc.absent is False


async def test_availability_accepts_true(http, auth):
    h = await auth("county")
    r = await http.put("/api/me/availability", json={"absent": True}, headers=h)
    assert r.status_code == 200 and r.json()["absent"] is True
