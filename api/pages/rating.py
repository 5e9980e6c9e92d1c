"""The veteran's rating page (好差评, 003 §9.1.3): opened from the signed link sent when
a case closed or a rated step was completed, without an account.

``GET /rate/{token}`` shows what is rated (the step or the case, the unit that served,
the day) with the five grades and a comment; ``POST`` stores the rating once and, for
不满意 / 非常不满意, opens a complaint at the unit that served (003 §9.2.1 差评发现 →
问题核实), then thanks the veteran.

Answers: 404 for a link that is not ours, 410 for an expired link (naming the unit's
phone) or a used one, 422 with the form again for a missing grade or a long comment,
429 with Retry-After past the per-address limit (shared with the other link pages),
403 for a cross-site POST; every refusal audited (``rating_link_refused``). A bad
rating stored while Temporal did not answer: 503, the rating kept; the next post of
the link starts the complaint (the same case id) and answers 410. No CSRF token: the
form's authority is the token in its URL, no cookie goes with it; a browser's
cross-site POST is refused by its Origin.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, SettingsDep, TemporalDep
from api.pages.self_service import _same_origin, _throttled
from api.rating_page import (
    MAX_COMMENT,
    OpenRating,
    Refused,
    audit_refusal,
    open_complaint,
    pending_complaint,
    record_rating,
    resolve,
)
from api.routes.auth import client_address
from api.web.citizen_page import CHINA_TIME, citizen_page
from models.processes.complaint import BAD_GRADES, GRADE_LABELS, GRADES

router = APIRouter(prefix="/rate", include_in_schema=False)


def _page(
    request: Request,
    template: str,
    ctx: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return citizen_page(request, template, ctx, status_code, headers)


async def _refused(
    request: Request, engine: EngineDep, refusal: Refused
) -> HTMLResponse:
    """The page for a refused link, audited."""
    await run_in_threadpool(audit_refusal, engine, refusal, client_address(request))
    return _page(
        request,
        "self/rating_refused.html",
        {
            "status": refusal.status,
            "reason": refusal.reason,
            "station": refusal.station,
        },
        status_code=refusal.status,
    )


def _too_many(request: Request, wait: int) -> HTMLResponse:
    return _page(
        request,
        "self/rating_refused.html",
        {"status": 429, "reason": "rate_limited", "wait": wait},
        status_code=429,
        headers={"Retry-After": str(wait)},
    )


def _form(
    request: Request,
    token: str,
    found: OpenRating,
    *,
    grade: str = "",
    comment: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        "self/rating.html",
        {
            "token": token,
            "found": found,
            "grades": [(g, GRADE_LABELS[g]) for g in GRADES],
            "grade": grade,
            "comment": comment,
            "errors": errors or {},
            "max_comment": MAX_COMMENT,
            "expires": found.link.expires_at.astimezone(CHINA_TIME).strftime(
                "%Y-%m-%d %H:%M"
            )
            if found.link.expires_at.tzinfo
            else found.link.expires_at.strftime("%Y-%m-%d %H:%M"),
        },
        status_code=status_code,
    )


@router.get("/{token}", response_class=HTMLResponse)
async def rating_page(
    request: Request, token: str, engine: EngineDep, settings: SettingsDep
) -> HTMLResponse:
    """The rating form of the link ``token``."""
    wait = await _throttled(request, engine, settings)
    if wait:
        return _too_many(request, wait)
    try:
        found = await run_in_threadpool(resolve, engine, settings, token)
    except Refused as refusal:
        return await _refused(request, engine, refusal)
    return _form(request, token, found)


@router.post("/{token}", response_class=HTMLResponse)
async def submit_rating(
    request: Request,
    token: str,
    engine: EngineDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> HTMLResponse:
    """Store the rating (once); a bad one opens a complaint."""
    wait = await _throttled(request, engine, settings)
    if wait:
        return _too_many(request, wait)
    if not _same_origin(request, settings):
        return await _refused(request, engine, Refused(403, "cross_origin"))
    try:
        found = await run_in_threadpool(resolve, engine, settings, token)
    except Refused as refusal:
        if refusal.reason == "used" and refusal.link is not None:
            # A bad rating whose complaint did not start (Temporal did not answer):
            # start it now; the answer stays "already rated".
            unstarted = await run_in_threadpool(pending_complaint, engine, refusal.link)
            if unstarted is not None:
                try:
                    await open_complaint(
                        engine, temporal, settings, refusal.link, unstarted
                    )
                except HTTPException as exc:
                    if exc.status_code != 503:
                        raise
                    return _unavailable(request, refusal, exc)
        return await _refused(request, engine, refusal)
    form = await request.form()
    grade = str(form.get("grade") or "")
    comment = str(form.get("comment") or "").strip().replace("\r\n", "\n")
    errors: dict[str, str] = {}
    if grade not in GRADES:
        errors["grade"] = "missing"
    if len(comment) > MAX_COMMENT:
        errors["comment"] = "too_long"
    if errors:
        return _form(
            request,
            token,
            found,
            grade=grade,
            comment=comment,
            errors=errors,
            status_code=422,
        )
    try:
        rating = await run_in_threadpool(
            record_rating, engine, found.link, grade, comment
        )
    except Refused as refusal:  # another post of this link won
        refusal.station = found.station
        return await _refused(request, engine, refusal)
    bad = grade in BAD_GRADES
    if bad:
        try:
            await open_complaint(engine, temporal, settings, found.link, rating)
        except HTTPException as exc:
            if exc.status_code != 503:
                raise
            return _unavailable(
                request, Refused(503, "unavailable", found.link, found.station), exc
            )
    return _page(
        request,
        "self/rated.html",
        {"found": found, "bad": bad, "label": GRADE_LABELS[grade]},
    )


def _unavailable(
    request: Request, refusal: Refused, exc: HTTPException
) -> HTMLResponse:
    """The rating is stored, its complaint not yet started: ask for one more post."""
    return _page(
        request,
        "self/rating_refused.html",
        {"status": 503, "reason": "unavailable", "station": refusal.station},
        status_code=503,
        headers=dict(exc.headers or {}),
    )
