"""One correction round of the annual registration review in Chromium (001 第九条):
the veteran reports on the phone through the link, the county clerk sends it back
with every defect listed at once, the veteran corrects it through the new link, the
clerk passes it; the used link is refused and the case page tells who reported."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from models.contracts import StartCaseInput
from models.processes import annual_review, policy_for
from models.tables import Veteran
from tests.support import notices, open_task, wait_for

LINK = re.compile(r"/self/annual-review/[A-Za-z0-9_\-.]+")


async def start_review(client, settings, engine) -> tuple[str, int]:
    with Session(engine) as s:
        vid = s.exec(select(Veteran).where(Veteran.name == "刘洋")).one().id or 0
    case_id = annual_review.review_case_id(2030, vid, settings.case_id_prefix)
    window_end = datetime.now(UTC) + timedelta(hours=1)
    await client.start_workflow(
        "AnnualReviewWorkflow",
        StartCaseInput(
            case_id=case_id,
            process="annual_review",
            veteran_id=vid,
            started_by="manager",
            data={"year": 2030, "window_end": window_end.isoformat()},
            policy=policy_for("annual_review", "fast"),
        ),
        id=case_id,
        task_queue=settings.task_queue,
    )
    return case_id, vid


async def link_of(engine, case_id: str, kind: str) -> str:
    sent = await wait_for(lambda: notices(engine, case_id, kind), timeout=30)
    found = LINK.search(sent[-1].body)
    assert found, sent[-1].body
    return found.group(0)


async def veteran_reports(browser, server: str, path: str, *, more: str = "") -> None:
    ctx = await browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True
    )
    page = await ctx.new_page()
    r = await page.goto(f"{server}{path}")
    assert r is not None and r.status == 200
    await page.fill("textarea[name=party_life]", "按时参加社区党支部组织生活")
    await page.fill("textarea[name=associations]", "示范县退役军人志愿者协会")
    await page.fill("input[name='travel_abroad-0-departed_on']", "2029-05-01")
    await page.fill("input[name='travel_abroad-0-returned_on']", "2029-05-08")
    await page.fill("input[name='travel_abroad-0-destination']", "泰国")
    await page.fill("textarea[name=rewards_punishments]", "无" + more)
    await page.check("input[name=declaration]")
    await page.click("#submit")
    await page.wait_for_selector("#submitted")
    await ctx.close()


async def test_one_correction_round_with_the_veterans_own_page(
    server, browser, open_session, client, settings, seeded_engine
):
    engine = seeded_engine
    case_id, _ = await start_review(client, settings, engine)
    first = await link_of(engine, case_id, "annual_review_link")
    await veteran_reports(browser, server, first)

    # The county clerk reads the report and sends it back, every defect at once.
    clerk = await open_session("county")
    page = clerk.page
    review = await open_task(engine, case_id, "county_review", timeout=30)
    await page.goto(f"{server}/tasks/{review.id}")
    assert "年度登记审核" in await page.locator("h1").inner_text()
    await page.fill(
        "textarea[name=defects__other]",
        "出入境记录缺少返回日期的证明\n奖惩情况须写明年度",
    )
    await page.click("#outcome-correct")
    await page.wait_for_url("**/inbox**")

    # The veteran's second link lists both defects; the first link is used up.
    second = await link_of(engine, case_id, "annual_review_correction")
    assert second != first
    ctx = await browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}
    )
    vpage = await ctx.new_page()
    r = await vpage.goto(f"{server}{first}")
    assert r is not None and r.status == 410
    await vpage.goto(f"{server}{second}")
    body = await vpage.locator("body").inner_text()
    assert "出入境记录缺少返回日期的证明" in body and "奖惩情况须写明年度" in body
    await ctx.close()
    await veteran_reports(browser, server, second, more="(2029年度)")

    # The clerk passes the corrected report; the case tells who reported, and how.
    review = await open_task(engine, case_id, "county_review", timeout=30)
    assert review.round == 2
    await page.goto(f"{server}/tasks/{review.id}")
    await page.click("#outcome-pass")
    await page.wait_for_url("**/inbox**")
    await page.goto(f"{server}/cases/{case_id}")
    await wait_for(lambda: True)
    text = await page.locator("body").inner_text()
    assert "本人在线报送" in text
    await clerk.shot("annual-review-case")
