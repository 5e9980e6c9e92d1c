"""The journeys of issue 3, in real headless Chromium."""

from __future__ import annotations

import asyncio

import httpx

from models.demo import DEMO_PASSWORD
from models.processes.return_home import ONE_STOP_DESKS_V2
from tests.browser.conftest import Session
from tests.return_home_forms import PARTY, RECEIPT
from tests.support import desk_clerk


class Api:
    """The demo accounts on the HTTP API, to bring a case to the step a journey needs."""

    def __init__(self, c: httpx.AsyncClient) -> None:
        self.c = c
        self.tokens: dict[str, str] = {}

    async def headers(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            r = await self.c.post(
                "/api/auth/token",
                data={"username": username, "password": DEMO_PASSWORD},
            )
            assert r.status_code == 200, r.text
            self.tokens[username] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    async def open_task(self, case_id: str, step: str, username: str) -> dict:
        h = await self.headers(username)
        for _ in range(200):
            r = await self.c.get(
                "/api/tasks", params={"case_id": case_id, "status": "open"}, headers=h
            )
            found = [t for t in r.json()["data"] if t["step"] == step]
            if found:
                return found[-1]
            await asyncio.sleep(0.1)
        raise AssertionError(f"{step} of {case_id} never opened")

    async def complete(
        self, case_id: str, step: str, username: str, outcome: str, data: dict
    ) -> None:
        task = await self.open_task(case_id, step, username)
        r = await self.c.post(
            f"/api/tasks/{task['id']}/complete",
            json={"outcome": outcome, "data": data},
            headers=await self.headers(username),
        )
        assert r.status_code == 200, r.text


async def start_case(base: str, veteran_name: str = "张伟") -> str:
    """A county clerk starts a return-home case (version 2) through the API, receives
    the personnel file and approves the archive review; returns the case id. The
    welcome, the home visit and the filing are open then, beside the organisation
    transfer or the registration."""
    async with httpx.AsyncClient(base_url=base) as c:
        api = Api(c)
        h = await api.headers("county")
        vets = (
            await c.get("/api/veterans", params={"q": veteran_name}, headers=h)
        ).json()["data"]
        r = await c.post(
            "/api/cases",
            json={"process": "return_home", "veteran_id": vets[0]["id"]},
            headers=h,
        )
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
        await api.complete(case_id, "file_receipt", "county", "received", RECEIPT)
        await api.complete(case_id, "archive_review", "county", "approve", {})
        return case_id


async def bring_to_information_collection(base: str, case_id: str) -> None:
    """张伟's case after the archive review: the 组织部 desk transfers his party
    membership, the county registers him, each one-stop desk's own clerk does its item
    and the adaptive training is offered; then the village collects the information."""
    async with httpx.AsyncClient(base_url=base) as c:
        api = Api(c)
        await api.complete(
            case_id, "party_transfer", desk_clerk("desk_party"), "done", PARTY
        )
        await api.complete(
            case_id,
            "registration",
            "county",
            "done",
            {"registration_number": "BD-1", "reported_on": "2026-11-21"},
        )
        for key, _title, role, _clause in ONE_STOP_DESKS_V2:
            await api.complete(
                case_id, key, desk_clerk(role), "done", {"reference": f"R-{key}"}
            )
        await api.complete(
            case_id,
            "adaptive_training",
            "county",
            "enrolled",
            {"offered_on": "2026-11-21", "session": "2026年第4期"},
        )


async def test_village_clerk_claims_fixes_an_error_and_completes(server, open_session):
    case_id = await start_case(server)
    await bring_to_information_collection(server, case_id)
    clerk = await open_session("village")
    page = clerk.page
    # 待认领 shows the information-collection task of the case.
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
    # Submit with an error: the hukou address is missing. The political status is a
    # choice among the form's values, the materials a checklist of 003 §6.1.2.
    await page.select_option("select[name=political_status]", "中共党员")
    await page.fill("input[name=enlisted_on]", "2021-09-01")
    await page.fill("input[name=discharged_on]", "2026-09-01")
    await page.fill("input[name=rank]", "中士")
    await page.fill("input[name=placement]", "自主就业")
    await page.fill("input[name=employment]", "待业，有创业意向")
    await page.fill("input[name=education]", "高中")
    for material in ("身份证", "户口本"):
        await page.check(f"input[name=materials_checked][value='{material}']")
    await page.click("#outcome-submitted")
    error = page.locator("#error-hukou_address")
    assert "必填" in await error.inner_text()
    await clerk.shot("task-form-error")
    # What was entered survives the error.
    assert (
        await page.locator("select[name=political_status]").input_value() == "中共党员"
    )
    assert await page.locator(
        "input[name=materials_checked][value='户口本']"
    ).is_checked()
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


async def start_overdue_case(client, settings, engine) -> str:
    """A case whose first step has a one-second deadline, so it is overdue at once."""
    import uuid
    from datetime import timedelta

    from sqlmodel import Session, select

    from models.contracts import ProcessPolicy, StartCaseInput, TaskPolicy
    from models.tables import Veteran
    from tests.support import wait_for
    from workflows.return_home import ReturnHomeWorkflow

    with Session(engine) as s:
        vid = s.exec(select(Veteran).where(Veteran.name == "陈静")).one().id
    case_id = f"return_home-{uuid.uuid4().hex[:12]}"
    policy = ProcessPolicy(
        name="test", default=TaskPolicy(duration=timedelta(seconds=1))
    )
    await client.start_workflow(
        ReturnHomeWorkflow.run,
        StartCaseInput(
            case_id=case_id,
            process="return_home",
            veteran_id=vid,
            started_by="county",
            policy=policy,
            spec_version=2,
        ),
        id=case_id,
        task_queue=settings.task_queue,
    )
    from tests.support import tasks

    await wait_for(lambda: tasks(engine, case_id, overdue=True), timeout=20)
    return case_id


async def test_manager_sees_counts_and_overdue_and_reassigns(
    server, open_session, client, settings, seeded_engine
):
    normal = await start_case(server, "张伟")
    late = await start_overdue_case(client, settings, seeded_engine)
    manager = await open_session("manager")
    page = manager.page
    await page.goto(f"{server}/dashboard")
    assert int(await page.locator("#kpi-open-cases .v").inner_text()) == 2
    assert int(await page.locator("#kpi-overdue .v").inner_text()) >= 1
    assert await page.locator("svg.chart").count() >= 4
    await manager.shot("dashboard")
    await page.click("#kpi-overdue")
    row = page.locator(f"#dashboard-tasks tr[data-task='{late}.file_receipt.1']")
    assert await row.get_attribute("class") == "overdue"
    colour = await row.locator(".badge").evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    assert colour == "rgb(197, 48, 48)"  # --late
    await manager.shot("dashboard-overdue")
    # Bulk reassign needs a reason; with one it moves the task and is audited.
    await row.locator("input[type=checkbox]").check()
    await page.select_option("select[name=username]", "county2")
    await page.fill("input[name=reason]", "county 休假，AB角补位")
    await page.click("#bulk-reassign")
    assert "已转派 1 项" in await page.locator(".flash").inner_text()
    await page.goto(f"{server}/dashboard/tasks?assignee=county2")
    assert await page.locator(f"tr[data-task='{late}.file_receipt.1']").count() == 1
    assert normal != late


async def test_auditor_replays_and_downloads_the_evidence_pack(
    server, open_session, tmp_path
):
    import json
    import zipfile

    case_id = await start_case(server, "刘洋")
    auditor = await open_session("auditor")
    page = auditor.page
    await page.goto(f"{server}/audit")
    await page.fill("input[name=number]", case_id[-6:])
    await page.click("#audit-search button")
    await page.click(f"a[href='/audit/cases/{case_id}']")
    assert "档案审核" in await page.locator("#timeline").inner_text()
    assert (
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
        in await page.locator("#raw-events").inner_text()
    )
    await page.click("#replay")
    verdict = page.locator("#verdict-text")
    await verdict.wait_for()
    assert "回放通过" in await verdict.inner_text()
    await auditor.shot("audit-case")
    async with page.expect_download() as info:
        await page.click("#evidence")
    download = await info.value
    path = tmp_path / "evidence.zip"
    await download.save_as(path)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("manifest.json"))
        forms = json.loads(z.read("forms.json"))
        import hashlib

        assert (
            hashlib.sha256(z.read("history.json")).hexdigest()
            == manifest["history_sha256"]
        )
    assert {
        "manifest.json",
        "timeline.json",
        "timeline.txt",
        "forms.json",
        "history.json",
        "history.sha256",
    } <= names
    assert manifest["case_id"] == case_id and manifest["workflow_build_ids"]
    assert any(
        f["step"] == "file_receipt" and f["outcome"] == "received" for f in forms
    )
    assert any(
        f["step"] == "archive_review" and f["outcome"] == "approve" for f in forms
    )
    # The audit trail shows the replay and the export, and exports as CSV.
    await page.goto(f"{server}/audit/trail?case_id={case_id}")
    trail = await page.locator("#trail").inner_text()
    assert "replay_history" in trail and "evidence_exported" in trail
    async with page.expect_download() as info:
        await page.click("#trail-csv")
    csv_path = tmp_path / "trail.csv"
    await (await info.value).save_as(csv_path)
    assert "evidence_exported" in csv_path.read_text(encoding="utf-8-sig")
    await auditor.shot("audit-trail")
    # The case page and the veteran's page, as staff see them.
    await page.goto(f"{server}/cases/{case_id}")
    assert "档案审核" in await page.locator("#timeline").inner_text()
    assert await page.locator("svg.diagram g.step.done").count() >= 1
    await auditor.shot("case")
    await page.click("a[href^='/veterans/']")
    assert case_id in await page.locator("#veteran-cases").inner_text()
    await auditor.shot("veteran")


async def test_english_is_the_second_language(server, open_session):
    clerk = await open_session("village", locale="en-US")
    await clerk.page.goto(f"{server}/inbox")
    assert "My tasks" in await clerk.page.locator("#tabs").inner_text()
    assert "To claim" in await clerk.page.locator("#tabs").inner_text()


async def test_filters_survive_a_visit_to_a_task_and_can_be_saved(server, open_session):
    case_a = await start_case(server, "张伟")
    case_b = await start_case(server, "陈静")
    clerk = await open_session("village")
    page = clerk.page
    await page.goto(f"{server}/inbox?tab=claimable")
    await page.fill("input[name=q]", "陈静")
    await page.click("#filters button.primary")
    table = page.locator("#inbox-table")
    for _ in range(50):
        if case_b in await table.inner_text():
            break
        await page.wait_for_timeout(200)
        await page.reload()
    assert case_b in await table.inner_text() and case_a not in await table.inner_text()
    # The list refreshes itself (htmx polling of /inbox/list with the same filters).
    poll = await page.locator("#inbox-list").get_attribute("hx-get")
    assert (
        poll is not None
        and "q=" in poll
        and await page.locator("#inbox-list").get_attribute("hx-trigger") == "every 15s"
    )
    await page.locator("a.task-link").first.click()
    await page.click("text=返回工作台")
    assert await page.locator("input[name=q]").input_value() == "陈静"
    assert case_a not in await table.inner_text()
    # Save the filter, shared with the station; a colleague of the same station sees it.
    await page.fill("#save-filter input[name=name]", "陈静的案件")
    await page.check("#save-filter input[name=shared]")
    await page.click("#save-filter button")
    assert await page.locator("a.saved-filter", has_text="陈静的案件").count() == 1
    colleague = await open_session("village2")
    await colleague.page.goto(f"{server}/inbox")
    await colleague.page.click("a.saved-filter:has-text('陈静的案件')")
    assert await colleague.page.locator("input[name=q]").input_value() == "陈静"
    # A clerk elsewhere does not get it.
    stranger = await open_session("nvillage")
    assert await stranger.page.locator("a.saved-filter").count() == 0


async def test_login_logout_csrf_and_session(server, browser):
    ctx = await browser.new_context(locale="zh-CN")
    page = await ctx.new_page()
    # The Content-Security-Policy blocks nothing the pages use (htmx included).
    refused: list[str] = []
    page.on(
        "console",
        lambda m: (
            refused.append(m.text) if "Content Security Policy" in m.text else None
        ),
    )
    r = await page.goto(f"{server}/inbox")
    assert r is not None and "/login" in page.url
    assert r.headers["x-frame-options"] == "DENY"
    await page.fill("input[name=username]", "village")
    await page.fill("input[name=password]", "wrong")
    await page.click("button[type=submit]")
    assert "用户名或密码错误" in await page.locator(".error").inner_text()
    await Session(page, server).shot("login-error")
    await page.fill("input[name=password]", DEMO_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/inbox**")
    assert await page.evaluate("typeof htmx") == "object"
    assert refused == []
    cookie = next(c for c in await ctx.cookies() if c["name"] == "vetflow_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    # A form post without the CSRF token is refused.
    resp = await page.request.post(
        f"{server}/inbox/filters", form={"name": "x", "query": "tab=mine"}
    )
    assert resp.status == 403
    await page.click("#logout")
    await page.wait_for_url("**/login**")
    r = await page.goto(f"{server}/inbox")
    assert "/login" in page.url
    await ctx.close()


async def test_taking_over_a_colleagues_task_asks_first(server, open_session):
    case_id = await start_case(server, "张伟")
    first = await open_session("village")
    # The home visit is the village's first task of a version-2 case.
    task_url = f"{server}/tasks/{case_id}.home_visit.1"
    for _ in range(50):
        r = await first.page.goto(task_url)
        if r is not None and r.status == 200:
            break
        await first.page.wait_for_timeout(200)
    await first.page.click("#claim")
    second = await open_session("village2")
    await second.page.goto(task_url)
    await second.page.click("#claim")
    box = second.page.locator("#confirm-takeover")
    assert "village" in await box.inner_text() and "确认" in await box.inner_text()
    assert (
        await second.page.locator("#assignee").inner_text() == "village"
    )  # nothing taken silently
    await second.page.click("#confirm-takeover-button")
    assert await second.page.locator("#assignee").inner_text() == "village2"


async def test_county_clerk_starts_a_case_from_the_veteran_page(server, open_session):
    clerk = await open_session("county")
    page = clerk.page
    await page.click("nav a[href='/veterans']")
    await page.fill("input[name=q]", "黄建国")
    await page.click("form.filters button")
    await page.click("#veterans a")
    assert "*" in await page.locator("h1 .muted").inner_text()  # masked on the page
    # A retired cadre is received by the 军休 institution, not by this process: his
    # page offers no start and says where he is served instead (004 §6.1.2.4).
    assert await page.locator("#start-return_home").count() == 0
    assert "DB51/T 2839" in await page.locator("#not-served-return_home").inner_text()
    await clerk.shot("case-refused-retired-cadre")
    # A start posted anyway (a stale page) is refused with the readable reason.
    veteran_url = page.url
    await page.evaluate(
        """() => {
            const f = document.createElement('form');
            f.method = 'post';
            f.action = location.pathname + '/cases';
            for (const [k, v] of [['process', 'return_home'],
                    ['csrf_token', document.querySelector('input[name=csrf_token]').value]]) {
                const i = document.createElement('input');
                i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
            }
            document.body.appendChild(f);
            f.submit();
        }"""
    )
    await page.wait_for_url(veteran_url + "?flash=**")
    flash = await page.locator(".flash").inner_text()
    assert "DB51/T 2839" in flash and "'loc'" not in flash
    await page.click("nav a[href='/veterans']")
    await page.fill("input[name=q]", "杨磊")
    await page.click("form.filters button")
    await page.click("#veterans a")
    await page.click("#start-return_home")
    await page.wait_for_url("**/cases/**")
    assert "return_home-v" in page.url
    # A version-2 case opens on the receipt of the personnel file (003 §6.9.2.2).
    for _ in range(50):
        if "档案接收" in await page.locator("#case-tasks").inner_text():
            break
        await page.wait_for_timeout(200)
        await page.reload()
    assert "档案接收" in await page.locator("#case-tasks").inner_text()
    await clerk.shot("case-started")
    # Starting it again is refused: the button is gone, and a forged post says why.
    await page.go_back()
    await page.reload()
    assert await page.locator("#start-return_home").count() == 0


async def test_each_desk_clerk_does_their_own_desk(server, open_session):
    """The one-stop hall: the 组织部 clerk transfers the party membership in the
    browser; after registration the 派出所 clerk finds the 落户 item and nobody
    else's desk among the tasks to claim."""
    case_id = await start_case(server)
    zuzhi = await open_session(desk_clerk("desk_party"))
    page = zuzhi.page
    row = page.locator(f"#inbox-table tr[data-task='{case_id}.party_transfer.1']")
    for _ in range(50):
        await page.goto(f"{server}/inbox?tab=claimable")
        if await row.count():
            break
        await page.wait_for_timeout(200)
    assert await row.count() == 1
    assert (
        f"{case_id}.home_visit.1" not in await page.locator("#inbox-table").inner_html()
    )
    await row.locator("a.task-link").click()
    await page.click("#claim")
    assert await page.locator("#assignee").inner_text() == "zuzhi"
    await page.fill("input[name=receiving_organisation]", "东关村党支部")
    await page.fill("input[name=letter_number]", "D-7")
    await page.fill("input[name=transferred_on]", "2026-11-20")
    await page.click("#outcome-done")
    await page.wait_for_url("**/inbox**")
    assert "已办结" in await page.locator(".flash").inner_text()
    async with httpx.AsyncClient(base_url=server) as c:
        await Api(c).complete(
            case_id,
            "registration",
            "county",
            "done",
            {"registration_number": "BD-1", "reported_on": "2026-11-21"},
        )
    gongan = await open_session(desk_clerk("desk_hukou"))
    table = gongan.page.locator("#inbox-table")
    hukou = table.locator(f"tr[data-task='{case_id}.hukou.1']")
    for _ in range(50):
        await gongan.page.goto(f"{server}/inbox?tab=claimable")
        if await hukou.count():
            break
        await gongan.page.wait_for_timeout(200)
    assert await hukou.count() == 1
    assert "落户" in await hukou.inner_text()
    assert await table.locator("tr[data-task]").count() == 1  # no other desk's item
    await gongan.shot("desk-inbox")
