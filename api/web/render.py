"""Render a page with the user, the CSRF token and the user's language."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.web.i18n import Translator, negotiate
from models.process_spec import OUTCOME_LABELS

TEMPLATES = Jinja2Templates(
    directory=Path(__file__).resolve().parent.parent / "templates"
)
TEMPLATES.env.filters["json_zh"] = lambda value: json.dumps(value, ensure_ascii=False)
TEMPLATES.env.globals["OUTCOME_LABELS"] = OUTCOME_LABELS


def translator(request: Request) -> Translator:
    user = getattr(request.state, "user", None)
    return Translator(
        negotiate(request.headers.get("accept-language"), user.locale if user else None)
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    tr = translator(request)
    user = getattr(request.state, "user", None)
    ctx = {
        **tr.functions(),
        "lang": tr.locale,
        "user": user,
        "csrf": getattr(request.state, "csrf", ""),
        "is_manager": bool(user and user.has_role("manager", "admin")),
        "is_auditor": bool(user and user.has_role("auditor", "admin")),
        **(context or {}),
    }
    return TEMPLATES.TemplateResponse(request, template, ctx, status_code=status_code)
