"""A bad rating becomes a complaint in the handling unit's inbox, in Chromium (003
§9.1.3, §9.2.1): 张伟 opens the rating link of his home visit (done by ``village``,
吴信息员, at 东关村) on a phone-sized screen, picks 非常不满意 with a comment and
submits; the station's other clerk (``village2``, not the rated one) finds 问题核实 in
the inbox, opens it, and the case page shows the complaint — the grade, the comment,
the rated step — without the rater's name, phone or ID number."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from models.settings import Settings
from models.tables import Veteran
from tests.support import rating_link

COMMENT = "约好的走访日期一再推迟，电话也没人回复"
PHONE = {"width": 390, "height": 844}


def _link(engine: Engine, settings: Settings) -> tuple[str, Veteran]:
    """A rating link as the home visit of 张伟's return-home case issues it."""
    _, token, vet = rating_link(engine, settings, expires_in=timedelta(days=30))
    return token, vet


async def test_a_bad_rating_reaches_the_stations_inbox(
    browser, server, open_session, settings, seeded_engine
) -> None:
    token, vet = _link(seeded_engine, settings)

    # The veteran, on a phone: the rating page, 非常不满意 and why.
    ctx = await browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True)
    try:
        page = await ctx.new_page()
        await page.goto(f"{server}/rate/{token}")
        assert "入户走访" in await page.inner_text("#rated")
        await page.check("#grade-very_dissatisfied")
        await page.fill("#comment", COMMENT)
        await page.click("#submit")
        await page.wait_for_selector("#rated[data-bad=yes]")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]  # nothing wider than the phone
    finally:
        await ctx.close()

    # The station's other clerk: 问题核实 waits to be claimed; the case page shows the
    # complaint, never who rated.
    clerk = await open_session("village2")
    page = clerk.page
    task_link = page.locator("#inbox-table a.task-link", has_text="问题核实")
    for _ in range(60):  # the complaint starts when the rating is posted
        await page.goto(f"{server}/inbox?tab=claimable")
        if await task_link.count():
            break
        await page.wait_for_timeout(500)
    await task_link.first.click()
    await page.wait_for_url("**/tasks/**")
    context = await page.inner_text("#task-context")
    assert "非常不满意" in context and COMMENT in context and "入户走访" in context
    case_id = page.url.split("/tasks/")[1].split(".verify")[0]
    await page.goto(f"{server}/cases/{case_id}")
    facts = await page.inner_text("#complaint-facts")
    assert "差评" in facts and "非常不满意" in facts
    party = await page.inner_text("#complaint-party")
    assert "张*" in party
    body = await page.content()
    for secret in (vet.name, vet.phone, vet.id_number):
        assert secret not in body, secret
    # Only on request (显示完整信息, audited) does the station see who rated.
    assert await page.locator("#reveal-party-button").count() == 1
    await clerk.shot("complaint-case-village2")
