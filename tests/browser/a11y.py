"""axe-core in Chromium: WCAG 2.1 AA (GB/T 37668-2019 is aligned with it) on the page as
it stands, failing with a list a person can act on — rule, impact, the elements'
selectors, the page's URL and language.

axe-core comes bundled with ``axe-playwright-python``; it is injected once per document
and run once per call, with the rules tagged ``wcag2a``, ``wcag2aa``, ``wcag21a`` and
``wcag21aa`` plus any rule named in ``rules_extra`` (axe's best-practice rules, such as
``heading-order``, carry no WCAG tag: naming one turns it on).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, Route

WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
# What the issue asks beyond the tagged rules: headings in order (no skipped level)
# and landmarks told apart (a second <nav> needs its own label).
ORDER_RULES = ("heading-order", "landmark-unique")


@cache
def _axe_source() -> str:
    return str(Axe().axe_script)


async def browse_in(page: Page, lang: str) -> None:
    """Ask for ``lang`` on every request of ``page`` (its Accept-Language; the context's
    locale would win over extra headers): the pages follow the browser's preference
    when the account chose no language (api/web/i18n.negotiate)."""
    await page.unroute("**/*")

    async def with_language(route: Route) -> None:
        headers = {**route.request.headers, "accept-language": lang}
        await route.continue_(headers=headers)

    await page.route("**/*", with_language)


async def axe_violations(
    page: Page, rules_extra: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """axe's violations on ``page`` (WCAG 2.1 A/AA plus ``rules_extra``)."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.evaluate(_axe_source())
    options = {
        "runOnly": {"type": "tag", "values": list(WCAG_TAGS)},
        "rules": {rule: {"enabled": True} for rule in rules_extra},
        "resultTypes": ["violations"],
    }
    result: dict[str, Any] = await page.evaluate(
        "options => axe.run(document, options)", options
    )
    return list(result["violations"])


def describe(violations: list[dict[str, Any]], url: str, lang: str) -> str:
    """One line per rule, then the selectors of (at most eight of) its elements."""
    lines = [f"{len(violations)} axe violation(s) on {url} [lang={lang}]:"]
    for v in violations:
        nodes = v.get("nodes", [])
        lines.append(
            f"- {v['id']} ({v.get('impact')}): {v.get('help')} — {len(nodes)} element(s)"
        )
        for node in nodes[:8]:
            target = " ".join(str(t) for t in node.get("target", []))
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    {target}  {summary[:200]}")
    return "\n".join(lines)


async def accessibility_report(
    page: Page, *, rules_extra: Iterable[str] = (), label: str = ""
) -> str | None:
    """None when axe finds nothing, else the readable list of what it found."""
    violations = await axe_violations(page, rules_extra)
    if not violations:
        return None
    lang = await page.evaluate("document.documentElement.lang")
    where = f"{label} {page.url}".strip()
    return describe(violations, where, lang or "(none)")


async def assert_accessible(
    page: Page, *, rules_extra: Iterable[str] = (), label: str = ""
) -> None:
    """Fail when axe-core finds a WCAG 2.1 A/AA violation (or one of ``rules_extra``)."""
    report = await accessibility_report(page, rules_extra=rules_extra, label=label)
    assert report is None, report
