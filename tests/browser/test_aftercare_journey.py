"""A retired cadre's benefits approved in Chromium (军人抚恤优待条例 第十五–十六条;
004 §6.10): 黄建国, the demo's 军休干部, dies of illness; a real case is driven through
the Updates the API sends (the report to the bureau, the urgent branches in parallel —
the pension stopped and a month overpaid offset against the benefits, the visit, the
obituary approved, no flag covering requested, his wife and son as survivors — the
claim with a second-class merit, the review) under the fast profile, with the demo's
reference figures; then the reviewer, a leader too, is refused on the approval page
(双人复核), another leader reads the quote's components and approves, the payment
task opens, and the case page shows the quote, the branches and the survivors with
their ID numbers masked."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from models.contracts import CompleteTaskInput, StartCaseInput, TaskResult
from models.idnumber import make_id_number, mask_id_number
from models.processes import retiree_aftercare
from models.search_attributes import case_search_attributes
from models.settings import Settings
from models.tables import OrgUnit, Veteran
from tests.monthly_pay_support import add_account
from tests.support import actor as actor_of
from tests.support import open_task, tasks

PROCESS = retiree_aftercare.PROCESS_KEY
WIFE = make_id_number("370102", date(1953, 4, 2), "028")
SON = make_id_number("370102", date(1979, 10, 5), "013")
# By hand (death in 2025: the national income of 2024, 54,188.00 元; the demo's
# 丧葬费 20,000.00 元; pension and 护理费 10,000.00 元 paid for April, offset):
#   2 × 54,188.00 + 40 × 8,000.00 = 428,376.00; × 1.15 (二等功) = 492,632.40
#   492,632.40 + 20,000.00 − 10,000.00 = 502,632.40
AMOUNTS = {
    "income": "108,376.00",
    "base_pay": "320,000.00",
    "subtotal": "428,376.00",
    "increment": "64,256.40",
    "lump_sum": "492,632.40",
    "funeral_grant": "20,000.00",
    "overpayment_offset": "−10,000.00",
    "total": "502,632.40",
    "survivor_allowance": "1,500.00",
}


def _cadre(engine: Engine) -> tuple[int, str]:
    """黄建国 and the path of his unit."""
    with Session(engine) as s:
        v = s.exec(select(Veteran).where(Veteran.name == "黄建国")).one()
        unit = s.get(OrgUnit, v.org_unit_id)
        assert unit is not None and v.category == "军休干部"
        return v.id or 0, unit.path


async def _finish(
    client: Client,
    engine: Engine,
    case_id: str,
    step: str,
    username: str,
    outcome: str,
    data: dict[str, Any],
) -> TaskResult:
    """Complete the open task of ``step`` as the API does (the case's Update)."""
    task = await open_task(engine, case_id, step, timeout=60)
    result: TaskResult = await client.get_workflow_handle(
        task.workflow_id
    ).execute_update(
        "complete_task",
        CompleteTaskInput(
            task_id=task.id,
            actor=actor_of(engine, username),
            outcome=outcome,
            data=data,
        ),
        result_type=TaskResult,
    )
    return result


async def drive_to_approval(client: Client, settings: Settings, engine: Engine) -> str:
    """黄建国's death from the report to the benefits awaiting approval. The county's
    steps are worked by ``countylead`` (a county clerk who is a leader too), who
    reviews the benefits; the finance steps by ``finance``; the obituary is approved
    by ``leader``."""
    vid, path = _cadre(engine)
    case_id = f"{settings.case_id_prefix}{PROCESS}-v{vid}"
    report = retiree_aftercare.DeathReportForm.model_validate(
        {
            "died_on": "2025-03-10",
            "cause": "illness",
            "place": "示范县人民医院",
            "reported_by": "黄小明",
            "reporter_relation": "儿子",
            "cause_detail": "突发心肌梗死",
        }
    )
    await client.start_workflow(
        "RetireeAftercareWorkflow",
        StartCaseInput(
            case_id=case_id,
            process=PROCESS,
            veteran_id=vid,
            started_by="countylead",
            data=report.model_dump(mode="json"),
            policy=retiree_aftercare.FAST_POLICY,
            spec_version=retiree_aftercare.SPEC.version,
        ),
        id=case_id,
        task_queue=settings.task_queue,
        search_attributes=case_search_attributes(PROCESS, path, vid),
    )

    async def done(step: str, who: str, outcome: str, data: dict[str, Any]) -> None:
        await _finish(client, engine, case_id, step, who, outcome, data)

    await done(
        "report_to_bureau",
        "countylead",
        "reported",
        {"reported_on": "2025-03-10", "bureau": "示范县退役军人事务局"},
    )
    # The urgent branches, all open at once.
    await done(
        "stop_pension",
        "finance",
        "done",
        {
            "monthly_pension": "9500.00",
            "nursing_fee": "500.00",
            "paid_through": "2025-04-30",
            "stopped_on": "2025-03-12",
        },
    )
    await done("recover_overpayment", "finance", "offset", {})
    await done(
        "condolence_visit",
        "countylead",
        "done",
        {"visited_on": "2025-03-11", "visitors": "王主任、赵科员"},
    )
    await done(
        "obituary",
        "countylead",
        "submitted",
        {"obituary": "黄建国同志因病逝世", "life_summary": "1968年入伍……"},
    )
    await done("obituary_approval", "leader", "approve", {})
    await done(
        "survivor_determination",
        "countylead",
        "determined",
        {
            "survivors": [
                {
                    "name": "王秀英",
                    "id_number": WIFE,
                    "relation": "spouse",
                    "born_on": "1953-04-02",
                    "allowance_eligible": True,
                },
                {
                    "name": "黄小明",
                    "id_number": SON,
                    "relation": "child",
                    "born_on": "1979-10-05",
                },
            ]
        },
    )
    # The benefits: the claim and its review.
    await done(
        "benefit_claim",
        "countylead",
        "submitted",
        {
            "monthly_base_pay": "8000.00",
            "honours": ["third_class_war_merit_or_second_class_merit"],
            "applicant": "王秀英",
        },
    )
    await done("benefit_review", "countylead", "approve", {})
    return case_id


async def test_a_leader_approves_the_benefits_the_reviewer_may_not(
    server, open_session, client, settings, seeded_engine
):
    engine = seeded_engine
    add_account(engine, "countylead", ["county_staff", "leader"])
    case_id = await drive_to_approval(client, settings, engine)
    approval = await open_task(engine, case_id, "benefit_approval", timeout=60)

    # The reviewer, though a leader, is refused: the page says why.
    reviewer = await open_session("countylead")
    page = reviewer.page
    await page.goto(f"{server}/tasks/{approval.id}")
    await page.wait_for_selector("#task-benefit-quote")
    await page.click("#outcome-approved")
    await page.wait_for_selector("#form-errors")
    refusal = await page.locator("#form-errors").inner_text()
    assert "双人复核" in refusal and "抚恤待遇审核" in refusal, refusal
    assert [t.id for t in tasks(engine, case_id, status="open")] == [approval.id]
    await reviewer.shot("aftercare-four-eyes-refused")

    # Another leader reads the quote's components and approves.
    leader = await open_session("leader")
    page = leader.page
    await page.goto(f"{server}/tasks/{approval.id}")
    quote = page.locator("#task-benefit-quote")
    for line, amount in AMOUNTS.items():
        cell = quote.locator(f'tr[data-line="{line}"] .amount')
        assert await cell.inner_text() == amount, line
    text = await quote.inner_text()
    for words in (
        "上一年度(2024年)全国城镇居民人均可支配收入 × 2",
        "54,188.00 × 2",
        "8,000.00 × 40",
        "荣誉增发 15%",
        "立三等战功或二等功",
        "502,632.40 元",
        "国家统计局",
    ):
        assert words in text, words
    context = await page.locator("#task-context").inner_text()
    assert "审核人" in context and "测试 双岗" in context  # the reviewer, by name
    assert "病故" in context
    note = await page.locator("#four-eyes-note").inner_text()
    assert "抚恤待遇审核" in note and "测试 双岗" in note
    await leader.shot("aftercare-benefit-approval")
    await page.click("#outcome-approved")
    await page.wait_for_url("**/inbox**")

    # The case moves on: the benefits are to be paid.
    payment = await open_task(engine, case_id, "benefit_payment", timeout=60)
    assert payment.context.get("total") == "502632.40"
    await page.goto(f"{server}/tasks/{payment.id}")
    total = page.locator('#task-benefit-quote tr[data-line="total"] .amount')
    assert await total.inner_text() == "502,632.40"

    # The case page: the branches done, the quote, the survivors masked (a leader's
    # role does not unmask), the diagram's urgent branches.
    await page.goto(f"{server}/cases/{case_id}")
    branches = page.locator("#aftercare-branches tbody tr")
    states = {
        await r.get_attribute("data-branch"): await r.get_attribute("data-state")
        for r in await branches.all()
    }
    assert states == {
        "stop_pension": "done",
        "condolence_visit": "done",
        "obituary": "done",
        "flag_covering": "skipped",
        "survivor_determination": "done",
    }, states
    quote = page.locator("#case-benefit-quote")
    assert await quote.get_attribute("data-total") == "502,632.40"
    assert "492,632.40" in await quote.inner_text()
    rows = page.locator("#aftercare-survivors tbody tr")
    assert await rows.count() == 2
    numbers = await page.locator("#aftercare-survivors td.id-number").all_inner_texts()
    assert numbers == [mask_id_number(WIFE), mask_id_number(SON)]
    survivors = await page.locator("#aftercare-survivors").inner_text()
    assert "配偶" in survivors and "子女" in survivors and "不享受" in survivors
    html = await page.content()
    assert WIFE not in html and SON not in html and "心肌梗死" not in html
    death = await page.locator("#death-report").inner_text()
    assert "病故" in death and "已隐藏" in death and "10,000.00" in death
    frame = page.locator('svg.diagram rect.parallel[data-group="urgent"]')
    assert await frame.count() == 1
    text = await page.locator("#case-tasks").inner_text()
    assert re.search("抚恤待遇审批", text) and "发放抚恤待遇" in text
    await leader.shot("aftercare-case")
