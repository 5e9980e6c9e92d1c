"""What every page a veteran opens from a notice shares (issue 14, 适老化 and WCAG 2.1
AA): the large-text mode, the draft key and, for the Chinese-only pages, the language.

Large text is switched by the toggle at the top of each page. With script it is kept
in the browser (``localStorage``, self-service.js) and the page is not reloaded; without
script the toggle is a GET form that reloads the page with ``?text=large``, and the
page's own form and links carry that query on, so the choice holds for the next page.
No cookie either way: the link pages set none (their authority is the token in the
URL alone).

The draft key names the browser's saved copy of what the veteran typed on one link
(self-service.js). It is a hash of the token, never the token: the browser's storage
keeps no credential.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta, timezone
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from api.web.i18n import Translator
from api.web.render import render

LARGE = "large"
# Times on these pages are Beijing time.
CHINA_TIME = timezone(timedelta(hours=8), "CST")
# The pages hold a credential in their URL and personal data: never cached, never
# indexed.
NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def draft_key(token: str) -> str:
    """The storage key of the draft typed on the link ``token`` (one-way)."""
    return hashlib.sha256(f"vetflow-draft:{token}".encode()).hexdigest()[:24]


def citizen_context(request: Request, *, zh_only: bool = False) -> dict[str, Any]:
    """Template values of a citizen page: ``large`` (the no-script large-text
    choice), ``text_query`` (to carry it on), ``draft_key`` (from the URL's token);
    ``zh_only`` pages are drawn in Chinese whatever the browser asks."""
    large = request.query_params.get("text") == LARGE
    token = request.path_params.get("token")
    ctx: dict[str, Any] = {
        "large": large,
        "text_query": f"?text={LARGE}" if large else "",
        "draft_key": draft_key(token) if isinstance(token, str) and token else "",
    }
    if zh_only:
        ctx.update(Translator("zh-CN").functions(), lang="zh-CN")
    return ctx


def citizen_page(
    request: Request,
    template: str,
    ctx: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    *,
    zh_only: bool = False,
) -> HTMLResponse:
    """A citizen page drawn with ``citizen_context``, never cached."""
    full = {**citizen_context(request, zh_only=zh_only), **ctx}
    page = render(request, template, full, status_code=status_code)
    page.headers.update({**NO_STORE, **(headers or {})})
    return page
