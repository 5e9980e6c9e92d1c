"""Keyboard only (issue 14; WCAG 2.1 SC 2.1.1 Keyboard, 2.1.2 No Keyboard Trap, 2.4.1
Bypass Blocks, 2.4.3 Focus Order, 2.4.7 Focus Visible, 3.3.1 Error Identification):
the village clerk logs in, finds the home visit in the inbox, claims it past a
colleague's claim, submits it wrong once, hears the errors and completes it — with Tab,
Shift+Tab, Enter, Space, Escape and typing alone. No click, no mouse: the page is only
read (the focused element, its ARIA and its computed focus ring)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Browser, Page

from models.demo import DEMO_PASSWORD
from tests.browser.a11y import accessibility_report
from tests.browser.test_journeys import Api, start_case

# The focused element, what it is, and whether its focus ring can be seen: an outline
# of 2 px or more, or a box-shadow (SC 2.4.7).
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2)
    || (s.boxShadow && s.boxShadow !== 'none');
  return {tag: el.tagName.toLowerCase(), id: el.id, name: el.getAttribute('name'),
          cls: el.className && String(el.className), href: el.getAttribute('href'),
          text: (el.innerText || el.value || '').trim().slice(0, 40), ring: !!ring};
}"""

# What a screen reader is told about a control: aria-invalid, and the text of the
# elements its aria-describedby names.
DESCRIBED = """el => ({
  invalid: el.getAttribute('aria-invalid'),
  required: el.required || el.getAttribute('aria-required') === 'true',
  description: (el.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean)
    .map(id => document.getElementById(id)).map(d => d ? d.textContent.trim() : '#missing')
})"""


# The poll htmx makes every 15 s on the inbox list (inbox/_list.html), made now, after
# marking the element ``selector`` names: a swap of the list would drop the mark.
POLL = """selector => { document.querySelector(selector).dataset.kept = '1';
  return htmx.ajax('GET', location.pathname + '/list' + location.search,
                   {source: '#inbox-list', target: '#inbox-list', swap: 'outerHTML'}); }"""


class Keys:
    """The keyboard, and every stop the focus made on the way (for the focus-ring check)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.stops: list[dict[str, Any]] = []

    async def focused(self) -> dict[str, Any] | None:
        info: dict[str, Any] | None = await self.page.evaluate(FOCUSED)
        return info

    async def press(self, key: str) -> dict[str, Any] | None:
        """Press ``key``; after Tab or Shift+Tab, the element that took the focus (a
        key that may navigate, Enter or Space, is not followed by a read)."""
        await self.page.keyboard.press(key)
        if key not in ("Tab", "Shift+Tab"):
            return None
        info = await self.focused()
        if info is not None:
            self.stops.append(info)
        return info

    async def tab_to(
        self, selector: str, *, back: bool = False, most: int = 80
    ) -> None:
        """Tab (or Shift+Tab) until the element ``selector`` names has the focus."""
        for _ in range(most):
            await self.press("Shift+Tab" if back else "Tab")
            if await self.page.evaluate(
                "s => document.activeElement && document.activeElement.matches(s)",
                selector,
            ):
                return
        raise AssertionError(
            f"{selector} never took the focus; stops: {self.stops[-8:]}"
        )

    async def type(self, text: str) -> None:
        await self.page.keyboard.type(text)

    async def active_is(self, selector: str) -> bool:
        found: bool = await self.page.evaluate(
            "s => !!document.activeElement && document.activeElement.matches(s)",
            selector,
        )
        return found


async def test_a_clerk_does_a_task_with_the_keyboard_alone(
    server: str, browser: Browser
) -> None:
    case_id = await start_case(server, "张伟")
    task_id = f"{case_id}.home_visit.1"
    on_task = re.compile(rf"/tasks/{re.escape(task_id)}\?")
    async with httpx.AsyncClient(base_url=server) as c:
        api = Api(c)
        await api.open_task(case_id, "home_visit", "village")  # listed before we look

        ctx = await browser.new_context(
            locale="zh-CN", viewport={"width": 1360, "height": 900}
        )
        page = await ctx.new_page()
        keys = Keys(page)
        try:
            await page.goto(f"{server}/login")
            # The skip link is the first stop of every page (SC 2.4.1).
            first = await keys.press("Tab")
            assert first and first["cls"] == "skip-link" and first["href"] == "#main"

            # A wrong password: announced, both fields marked, the focus on the form.
            await keys.tab_to("input[name=username]")
            await keys.type("village")
            await keys.press("Tab")
            await keys.type("wrong-password")
            await keys.press("Enter")
            await page.wait_for_selector("#login-error")
            assert await page.get_attribute("#login-error", "role") == "alert"
            await page.wait_for_function(
                "document.activeElement && document.activeElement.name === 'username'"
            )
            told = await page.eval_on_selector("input[name=username]", DESCRIBED)
            assert told["invalid"] == "true" and told["required"]
            assert told["description"] == ["用户名或密码错误"]
            report = await accessibility_report(page, label="login refused")
            assert report is None, report
            # The user name is kept: on to the password, and in with Enter.
            await keys.press("Tab")
            assert await keys.active_is("input[name=password]")
            await keys.type(DEMO_PASSWORD)
            await keys.press("Enter")
            await page.wait_for_url("**/inbox**")

            # The inbox (待认领): the skip link jumps over the header into <main>.
            await keys.press("Tab")
            assert await keys.active_is("a.skip-link")
            await keys.press("Enter")
            assert await keys.active_is("main#main")
            # A poll while the focus is outside the list replaces the list ...
            await page.evaluate(POLL, "#inbox-list")
            await page.wait_for_selector("#inbox-list:not([data-kept])")
            await keys.tab_to(f"a.task-link[href^='/tasks/{task_id}?']")
            # ... but waits while the focus is in it: a poll now neither replaces the
            # row nor moves the focus.
            await page.evaluate(POLL, ":focus")
            assert await keys.active_is(
                f"a.task-link[href^='/tasks/{task_id}?'][data-kept='1']"
            )
            # Shift+Tab steps back to the case link of the same row, Tab returns.
            await keys.press("Shift+Tab")
            assert await keys.active_is(f"a[href='/cases/{case_id}']")
            await keys.press("Tab")
            await keys.press("Enter")
            await page.wait_for_url(on_task)

            # A colleague claims it meanwhile: claiming asks first, with the focus on
            # the confirmation; Escape cancels, nothing is taken silently.
            r = await c.post(
                f"/api/tasks/{task_id}/claim",
                json={},
                headers=await api.headers("village2"),
            )
            assert r.status_code == 200, r.text
            await keys.tab_to("#claim")
            await keys.press("Enter")
            await page.wait_for_selector("#confirm-takeover")
            await page.wait_for_function(
                "document.activeElement && document.activeElement.id === 'confirm-takeover-button'"
            )
            await keys.press("Escape")
            await page.wait_for_url(on_task)
            assert await page.locator("#confirm-takeover").count() == 0
            assert await page.inner_text("#assignee") == "village2"
            # This time confirmed with Enter.
            await keys.tab_to("#claim")
            await keys.press("Enter")
            await page.wait_for_selector("#confirm-takeover")
            await page.wait_for_function(
                "document.activeElement && document.activeElement.id === 'confirm-takeover-button'"
            )
            await keys.press("Enter")
            await page.wait_for_url(on_task)
            assert await page.inner_text("#assignee") == "village"

            # Wrong once: a date that is no date, a talk too short, the policies left
            # out; submitted with Space on the outcome button.
            await keys.tab_to("#field-visited_on")
            await keys.type("2026-13-45")
            await keys.press("Tab")
            assert await keys.active_is("#field-talk_notes")
            await keys.type("好")
            await keys.tab_to("#outcome-done")
            await keys.press("Space")
            await page.wait_for_selector("#error-summary")

            # Announced: the focus on the summary's heading, each field in error marked
            # invalid and described by its message (and the date by its hint).
            await page.wait_for_function(
                "document.activeElement && document.activeElement.id === 'error-summary-title'"
            )
            heading = await keys.focused()
            assert heading and heading["ring"], heading
            links = page.locator("#error-summary a")
            assert await links.count() == 3
            for name in ("visited_on", "talk_notes", "policies_explained"):
                told = await page.eval_on_selector(f"#field-{name}", DESCRIBED)
                message = await page.inner_text(f"#error-{name}")
                assert told["invalid"] == "true" and told["required"], (name, told)
                assert message and told["description"][-1] == message, (name, told)
            told = await page.eval_on_selector("#field-visited_on", DESCRIBED)
            assert "年-月-日" in told["description"][0]
            report = await accessibility_report(page, label="task form with errors")
            assert report is None, report
            # What was typed is still there.
            assert await page.input_value("#field-talk_notes") == "好"
            assert (
                await page.get_attribute("#field-jobs_recommended", "aria-invalid")
                is None
            )

            # The summary's first link puts the focus in its field; corrected there.
            await keys.press("Tab")
            assert await keys.active_is("#error-summary a[href='#field-visited_on']")
            await keys.press("Enter")
            assert await keys.active_is("#field-visited_on")
            await page.keyboard.press("Control+A")
            await keys.type("2026-11-20")
            await keys.press("Tab")
            await page.keyboard.press("Control+A")
            await keys.type("谈了今后的打算")
            await keys.press("Tab")
            assert await keys.active_is("#field-policies_explained")
            await keys.type("讲解了优待证办理")
            await keys.tab_to("#field-contact_card_issued")
            await keys.press("Space")
            assert await page.is_checked("#field-contact_card_issued")
            await keys.tab_to("#outcome-done")
            await keys.press("Enter")
            await page.wait_for_url("**/inbox**")
            assert "已办结" in await page.inner_text(".flash")

            # Every stop Tab made showed its focus ring.
            unseen = [s for s in keys.stops if not s["ring"]]
            assert not unseen, unseen
            assert len(keys.stops) >= 20
        finally:
            await ctx.close()
