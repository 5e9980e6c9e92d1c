"""The journeys of issue 3, in real headless Chromium."""

from __future__ import annotations

import httpx

from models.demo import DEMO_PASSWORD


async def start_case(base: str, veteran_name: str = "张伟") -> str:
    """A county clerk starts a return-home case through the API; returns its id."""
    async with httpx.AsyncClient(base_url=base) as c:
        tok = (
            await c.post(
                "/api/auth/token",
                data={"username": "county", "password": DEMO_PASSWORD},
            )
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        vets = (
            await c.get("/api/veterans", params={"q": veteran_name}, headers=h)
        ).json()["data"]
        r = await c.post(
            "/api/cases",
            json={"process": "return_home", "veteran_id": vets[0]["id"]},
            headers=h,
        )
        case_id = r.json()["id"]
        for _ in range(100):
            tasks = (
                await c.get(
                    "/api/tasks",
                    params={"case_id": case_id, "status": "open"},
                    headers=h,
                )
            ).json()["data"]
            if tasks:
                await c.post(
                    f"/api/tasks/{tasks[0]['id']}/complete",
                    json={"outcome": "approve"},
                    headers=h,
                )
                break
            await __import__("asyncio").sleep(0.1)
        return case_id


async def test_village_clerk_claims_fixes_an_error_and_completes(server, open_session):
    case_id = await start_case(server)
    clerk = await open_session("village")
    page = clerk.page
    # 待认领 shows the information-collection task of the new case.
    row = page.locator(
        f"#inbox-table tr[data-task='{case_id}.information_collection.1']"
    )
    for _ in range(50):
        await page.goto(f"{server}/inbox?tab=claimable")
        if await row.count():
            break
        await page.wait_for_timeout(200)
    await clerk.shot("inbox-claimable")
    assert await row.count() == 1
    assert (
        "信息采集" in await row.inner_text()
        and "003 §6.1.2–6.1.4" in await row.inner_text()
    )
    await row.locator("a.task-link").click()
    await page.click("#claim")
    assert await page.locator("#assignee").inner_text() == "village"
    # Submit with an error: the hukou address is missing.
    await page.fill("input[name=education]", "高中")
    await page.click("#outcome-submitted")
    error = page.locator("#error-hukou_address")
    assert "必填" in await error.inner_text()
    await clerk.shot("task-form-error")
    await page.fill("input[name=hukou_address]", "示范县城关镇东关村6号")
    await page.click("#outcome-submitted")
    await page.wait_for_url("**/inbox**")
    assert "已办结" in await page.locator(".flash").inner_text()
    await page.goto(f"{server}/inbox?tab=claimable")
    assert (
        await page.locator(
            f"tr[data-task='{case_id}.information_collection.1']"
        ).count()
        == 0
    )
    await page.goto(f"{server}/inbox?tab=done")
    assert (
        await page.locator(
            f"tr[data-task='{case_id}.information_collection.1']"
        ).count()
        == 1
    )
    await clerk.shot("inbox-done")
    # A clerk of another township never sees it.
    other = await open_session("township2")
    await other.page.goto(f"{server}/inbox?tab=done")
    await other.page.goto(f"{server}/inbox?tab=claimable")
    assert case_id not in await other.page.locator("#inbox-table").inner_text()
    r = await other.page.goto(f"{server}/tasks/{case_id}.information_collection.1")
    assert r is not None and r.status == 404
