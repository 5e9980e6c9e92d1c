"""The pages a veteran opens from a notice, elderly-friendly (适老化, issue 14), in
Chromium at a phone's viewport (360 × 780, device scale 2, touch): the rating page
(好差评, both languages) and the annual-review page (Chinese only by design).

Each page: no axe-core violation at WCAG 2.1 AA plus ``color-contrast-enhanced`` (7:1,
WCAG 1.4.6), headings in order and landmarks told apart (tests/browser/a11y.py);
every interactive element (a radio's or checkbox's label for the radio or
checkbox) 44 px or more each way; no
horizontal scrolling at 360 px nor at 200 % zoom, taken as a 180-px-wide CSS viewport
(what a 360-px screen shows at 200 %). The large-text toggle takes the body text to
18 px or more in one tap and is kept on the next page (the browser's storage); without
script, ``?text=large`` does it. What was typed is restored after a reload, cleared
after a successful rating, and shown on the page that refuses an expired link.

The links are rows and signed tokens, as the workflows issue them: no Temporal journey
(the annual review's open round is its task row; its POST is only checked for errors,
which Temporal never sees)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.web.citizen_page import draft_key
from models.processes import annual_review
from models.self_link import sign_link, task_id_of
from models.settings import Settings
from models.tables import Case, HumanTask, OrgUnit, Veteran
from tests.browser.a11y import ORDER_RULES, assert_accessible
from tests.support import rating_link

PHONE = {"width": 360, "height": 780}
ZOOM_200 = {"width": 180, "height": 390}  # 360 px at 200 % zoom, in CSS px
RULES = (*ORDER_RULES, "color-contrast-enhanced")
COMMENT = "办事很快，工作人员耐心"
PARTY_LIFE = "按时参加社区党支部组织生活"

# Every element a finger has to hit; a radio or checkbox is hit through its label.
TARGETS_JS = """() => {
  const small = [];
  for (const el of document.querySelectorAll(
      'a[href], button, input:not([type=hidden]), select, textarea, [role=button]')) {
    let box = el.getBoundingClientRect();
    if (!box.width && !box.height) continue;  // not shown
    const label = el.closest('label');
    if ((el.type === 'radio' || el.type === 'checkbox') && label) {
      box = label.getBoundingClientRect();
    }
    if (box.width < 44 || box.height < 44) {
      small.push(`${el.tagName}#${el.id || el.name || ''} ${box.width}x${box.height}`);
    }
  }
  return small;
}"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """One phone opens these pages many times a minute here: lift the per-address
    limit (its 429 is tested in tests/api)."""
    return settings.model_copy(update={"self_link_requests_per_minute": 500})


def _rating_link(engine: Engine, settings: Settings, *, expired: bool = False) -> str:
    expires_in = timedelta(seconds=-1) if expired else timedelta(days=7)
    return rating_link(engine, settings, expires_in=expires_in)[1]


def _review_link(engine: Engine, settings: Settings) -> str:
    """An open first round of 刘洋's annual review: its case and task rows (what the
    workflow's activities write) and the link the notice carries."""
    year = datetime.now(annual_review.TZ).year
    with Session(engine, expire_on_commit=False) as s:
        vet = s.exec(select(Veteran).where(Veteran.name == "刘洋")).one()
        unit = s.get(OrgUnit, vet.org_unit_id)
        assert unit is not None and vet.id is not None
        case_id = annual_review.review_case_id(year, vet.id, settings.case_id_prefix)
        s.add(
            Case(
                id=case_id,
                workflow_id=case_id,
                process=annual_review.PROCESS_KEY,
                veteran_id=vet.id,
                org_unit_id=unit.id or 0,
                org_path=unit.path,
                data={"year": year},
            )
        )
        s.flush()
        s.add(
            HumanTask(
                id=task_id_of(case_id, 1),
                case_id=case_id,
                workflow_id=case_id,
                process=annual_review.PROCESS_KEY,
                step="submit_report",
                title="年度登记信息报送",
                candidate_role="veteran",
                org_unit_id=unit.id or 0,
                org_path=unit.path,
            )
        )
        s.commit()
    return sign_link(
        settings.secret_key,
        case_id=case_id,
        round=1,
        veteran_id=vet.id,
        expires_at=datetime.now(UTC) + timedelta(days=7),
    )


async def _phone(browser: Browser, locale: str, **extra: Any) -> BrowserContext:
    return await browser.new_context(
        locale=locale,
        viewport=PHONE,
        device_scale_factor=2,
        has_touch=True,
        is_mobile=True,
        **extra,
    )


async def _body_px(page: Page) -> float:
    size = await page.evaluate("getComputedStyle(document.body).fontSize")
    return float(str(size).removesuffix("px"))


async def _fits(page: Page, label: str) -> None:
    """No horizontal scrolling at the phone's width and at 200 % zoom; every target
    44 px or more at both."""
    for viewport in (PHONE, ZOOM_200):
        await page.set_viewport_size(viewport)
        width = await page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert width[0] <= width[1], (label, viewport, width)
        assert await page.evaluate(TARGETS_JS) == [], (label, viewport)
    await page.set_viewport_size(PHONE)


async def _check(page: Page, label: str) -> None:
    await assert_accessible(page, rules_extra=RULES, label=label)
    await _fits(page, label)


async def test_citizen_pages_on_a_phone(
    browser: Browser, server: str, settings: Settings, seeded_engine: Engine
) -> None:
    rate = _rating_link(seeded_engine, settings)
    review = _review_link(seeded_engine, settings)
    expired = _rating_link(seeded_engine, settings, expired=True)
    ctx = await _phone(browser, "zh-CN")
    try:
        page = await ctx.new_page()
        # The rating page, normal size: comfortable already; axe, targets, width.
        await page.goto(f"{server}/rate/{rate}")
        assert await page.evaluate("document.documentElement.lang") == "zh-CN"
        assert 16 <= await _body_px(page) < 18
        toggle = page.locator("#text-size")
        assert await toggle.get_attribute("aria-pressed") == "false"
        assert await toggle.inner_text() == "大字模式"
        await _check(page, "rating zh")

        # A comment without a grade: the error announced, focus on the first grade.
        await page.fill("#comment", COMMENT)
        await page.tap("#submit")
        await page.wait_for_selector("#form-errors[role=alert]")
        assert await page.get_attribute("#grade", "aria-invalid") == "true"
        assert (
            await page.evaluate("document.activeElement.id") == "grade-very_satisfied"
        )
        await _check(page, "rating zh, error")

        # Large text in one tap, no reload; a grade picked; the link opened again
        # keeps both and what was typed.
        await toggle.tap()
        await page.wait_for_function(
            "document.getElementById('text-size').getAttribute('aria-pressed') === 'true'"
        )
        assert await _body_px(page) >= 18
        await page.tap("label[for=grade-satisfied]")
        await page.goto(f"{server}/rate/{rate}")
        assert await _body_px(page) >= 18
        assert await page.input_value("#comment") == COMMENT
        assert await page.is_checked("#grade-satisfied")
        assert await page.inner_text("#draft-restored") != ""
        await _check(page, "rating zh, large text, draft restored")

        # Submitted: the thank-you page, still large; the draft is gone.
        await page.tap("#submit")
        await page.wait_for_selector("#rated[data-bad=no]")
        assert await _body_px(page) >= 18
        key = f"vetflow-draft:{draft_key(rate)}"
        assert await page.evaluate("k => localStorage.getItem(k)", key) is None
        await _check(page, "rated zh")
        # The used link (410) and an expired one that had a draft: kept and shown.
        r = await page.goto(f"{server}/rate/{rate}")
        assert r is not None and r.status == 410
        await _check(page, "rating used zh")
        kept = {
            "t": datetime.now(UTC).timestamp() * 1000,
            "fields": {"comment": COMMENT},
            "labels": {"comment": "意见或建议"},
        }
        await page.evaluate(
            "([k, v]) => localStorage.setItem(k, JSON.stringify(v))",
            [f"vetflow-draft:{draft_key(expired)}", kept],
        )
        r = await page.goto(f"{server}/rate/{expired}")
        assert r is not None and r.status == 410
        assert COMMENT in await page.inner_text("#draft-kept")
        await _check(page, "rating expired zh, draft shown")

        # The annual review (Chinese only): large text kept from the rating pages.
        await page.goto(f"{server}/self/annual-review/{review}")
        assert await _body_px(page) >= 18
        assert await page.get_attribute("#text-size", "aria-pressed") == "true"
        await _check(page, "annual review, large text")
        await page.fill("#party_life", PARTY_LIFE)
        await page.fill("#travel_abroad-0-destination", "泰国")
        await page.reload()
        assert await page.input_value("#party_life") == PARTY_LIFE
        assert await page.input_value("#travel_abroad-0-destination") == "泰国"
        # Sent unfinished (a journey without dates, no 奖惩, no promise): the errors
        # announced, each field marked, focus on the first one in the page.
        await page.tap("#submit")
        await page.wait_for_selector("#form-errors[role=alert]")
        assert (
            await page.get_attribute("#rewards_punishments", "aria-invalid") == "true"
        )
        focused = await page.evaluate("document.activeElement.id")
        assert focused == "travel_abroad-0-departed_on"
        await _check(page, "annual review, errors")
        # Normal size again in one tap, kept on the next load.
        await page.tap("#text-size")
        await page.goto(f"{server}/self/annual-review/{review}")
        assert await _body_px(page) < 18
        await _check(page, "annual review, normal size")
    finally:
        await ctx.close()

    # English (the rating page has it): lang, wording, the same checks.
    en_rate = _rating_link(seeded_engine, settings)
    ctx = await _phone(browser, "en")
    try:
        page = await ctx.new_page()
        await page.goto(f"{server}/rate/{en_rate}")
        assert await page.evaluate("document.documentElement.lang") == "en"
        assert await page.inner_text("#text-size") == "Large text"
        await _check(page, "rating en")
        await page.tap("#text-size")
        assert await _body_px(page) >= 18
        await _check(page, "rating en, large text")
    finally:
        await ctx.close()

    # Without script the toggle reloads with ?text=large, and the form carries it on.
    ctx = await _phone(browser, "zh-CN", java_script_enabled=False)
    try:
        page = await ctx.new_page()
        await page.goto(f"{server}/rate/{en_rate}")
        await page.tap("#text-size")
        await page.wait_for_url("**?text=large")
        assert await page.get_attribute("#text-size", "aria-pressed") == "true"
        action = await page.get_attribute("#rating-form", "action")
        assert action is not None and action.endswith("?text=large")
    finally:
        await ctx.close()
