"""Version 2 of the return-home process (true to the standards) on a real Temporal dev
server: the order of 003 §6.2.2, returns to the first handler (003 §7.8.3), file gaps
requested from the sending unit (003 §6.9.2.2), the one-time notification of 003 §7.6
a–f, level-by-level review up to the city (003 §6.1.4) and a truthful case summary."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from models.contracts import CompleteTaskInput
from models.forms import COLLECTION_MATERIALS
from models.processes.return_home import ONE_STOP_DESKS_V2
from models.settings import Settings
from tests.conftest import DB_BACKENDS
from tests.return_home_forms import INFO, PARTY, RECEIPT, REGISTRATION, VISIT
from tests.support import (
    actor,
    complete,
    desk_clerk,
    notices,
    open_task,
    record_history,
    tasks,
    wait_for,
)
from tests.workflows.conftest import RecordingAdapter, start_case, veteran_id
from tests.workflows.journeys import Journeys, Registry
from workflows.return_home import ReturnHomeWorkflow

# Each test's case runs as a journey of its own (tests/workflows/journeys.py): all of
# them start with the module, side by side, each with its own database (on each
# backend), settings and worker, and each test awaits its own.
journey = Registry()


journeys = journey.fixture()


def open_steps(engine: Any, case_id: str) -> set[str]:
    return {t.step for t in tasks(engine, case_id, status="open")}


async def finish_desks(handle: WorkflowHandle, e: Any, *, subsidy: bool) -> None:
    for key, _title, role, _clause in ONE_STOP_DESKS_V2:
        if key == "subsidy_preregistration" and not subsidy:
            continue
        outcome, data = (
            ("not_applicable", {"reason": "本人选择一次性领取公积金"})
            if key == "housing_fund"
            else ("done", {"reference": f"R-{key}"})
        )
        await complete(handle, e, key, desk_clerk(role), outcome, data)


@journey()
async def new_order_first_handler_and_truthful_summary(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    handle = await start_case(
        client, settings, veteran_id(e, party_member=True), version=2
    )
    # The personnel file is received first, by the clerk who then handles the case.
    await open_task(e, handle.id, "file_receipt")
    assert open_steps(e, handle.id) == {"file_receipt"}
    await complete(handle, e, "file_receipt", "county", "received", RECEIPT)

    # A return names everything at once: the veteran's materials and the file's gaps.
    await complete(
        handle,
        e,
        "archive_review",
        "county",
        "return_for_correction",
        {
            "missing_materials": ["户口本"],
            "defective_materials": ["近期免冠照片"],
            "file_gaps": ["入伍登记表"],
        },
    )
    supplement = await open_task(e, handle.id, "supplement_materials")
    # 003 §7.8.3: back to the clerk who first handled the case, not to the village.
    assert supplement.assignee == "county"
    assert supplement.candidate_role == "county_staff"
    # 003 §6.9.2.2: the file's gaps are asked of the sending unit, not the veteran.
    gap = await open_task(e, handle.id, "file_gap_request")
    assert gap.context["requested_materials"] == ["入伍登记表"]
    assert gap.context["sending_unit"] == "某部政治工作部"
    assert supplement.context["requested_materials"] == ["户口本", "近期免冠照片"]

    told = (await wait_for(lambda: notices(e, handle.id, "correction_request")))[0]
    body = told.body
    # 003 §7.6 a–e in one notice, with the first handler's name and office phone.
    assert "属于示范县退役军人服务中心的职权范围" in body
    assert all(m in body for m in COLLECTION_MATERIALS)
    assert "10分钟内补交" in body  # the supplement step's time limit (fast policy)
    assert "需要补交的材料" in body and "户口本" in body
    assert "需要补正的材料" in body and "近期免冠照片" in body
    assert "入伍登记表" in body and "无需您本人携带" in body
    assert "赵科员" in body and "0531-8000 1000-" in body
    assert "DB3702/T 41—2024 第7.6条" in body
    assert "county" not in body.replace("case", "")  # a name, never a username

    received = {"received_materials": ["户口本", "近期免冠照片"]}
    await complete(handle, e, "supplement_materials", "county", "submitted", received)
    assert "archive_review" not in open_steps(e, handle.id)  # the file gap is pending
    gap_answer = {
        "sending_unit": "某部政治工作部",
        "requested_on": "2026-11-03",
        "received_materials": ["入伍登记表"],
        "transfer_means": "机要交通",
        "received_on": "2026-11-06",
    }
    await complete(handle, e, "file_gap_request", "county", "received", gap_answer)
    second = await open_task(e, handle.id, "archive_review")
    assert second.round == 2 and second.assignee == "county"
    assert second.context["received_materials"] == [
        "户口本",
        "近期免冠照片",
        "入伍登记表",
    ]
    await complete(handle, e, "archive_review", "county", "approve", {})

    # Approved: the welcome, the home visit and the filing open at once, beside the
    # party transfer; registration waits for the transfer (001 第七条); information
    # collection waits for registration (003 §6.2.2).
    await wait_for(
        lambda: (
            {"welcome", "home_visit", "file_filing", "party_transfer"}
            <= open_steps(e, handle.id)
        )
    )
    assert not {"registration", "information_collection"} & open_steps(e, handle.id)
    await complete(handle, e, "home_visit", "village", "done", VISIT)
    await complete(handle, e, "party_transfer", desk_clerk("desk_party"), "done", PARTY)
    await complete(handle, e, "registration", "county", "done", REGISTRATION)

    # The desks and the adaptive training run in parallel; the subsidy desk is there
    # because 张伟 is 自主就业.
    desks = {k for k, *_ in ONE_STOP_DESKS_V2}
    await wait_for(lambda: desks | {"adaptive_training"} <= open_steps(e, handle.id))
    assert "information_collection" not in open_steps(e, handle.id)
    await finish_desks(handle, e, subsidy=True)
    await complete(
        handle,
        e,
        "adaptive_training",
        "county",
        "declined",
        {"offered_on": "2026-11-21", "reason": "已在外地就业，无法参加"},
    )

    # Information collection, reviewed level by level up to the city and reported.
    await complete(handle, e, "information_collection", "village", "submitted", INFO)
    await complete(
        handle, e, "township_review", "township", "return", {"reasons": ["军衔有误"]}
    )
    again = await open_task(e, handle.id, "information_collection")
    assert again.context["returned_reasons"] == ["军衔有误"]
    await complete(
        handle,
        e,
        "information_collection",
        "village",
        "submitted",
        {**INFO, "rank": "上士"},
    )
    await complete(handle, e, "township_review", "township", "approve", {})
    await complete(handle, e, "county_review", "county", "approve", {})
    await complete(handle, e, "city_review", "city", "approve", {})
    report = {"reported_on": "2026-11-25", "channel": "退役军人信息管理系统"}
    await complete(handle, e, "report_to_province", "city", "reported", report)
    await complete(
        handle,
        e,
        "welcome",
        "county",
        "done",
        {"welcomed_on": "2026-11-02", "activities": ["佩戴红花", "集中欢迎仪式"]},
    )
    filing = {
        "filed_on": "2026-11-10",
        "storage_location": "档案室A-3",
        "digital_copy_made": True,
    }
    await complete(handle, e, "file_filing", "county", "done", filing)

    state = await handle.result()
    assert state.status == "closed" and state.spec_version == 2
    summary = (await wait_for(lambda: notices(e, handle.id, "case_summary")))[0].body
    lines = [ln for ln in summary.splitlines() if ln.startswith("- ")]
    titles = [ln[2:].split("：")[0] for ln in lines]
    # One line per step, however often it was returned.
    assert len(titles) == len(set(titles))
    assert "- 档案审核：已办结，其间退回补正或重报 1 次" in lines
    assert "- 信息采集：已办结，其间退回补正或重报 1 次" in lines
    assert "- 住房公积金转接：不适用(本人选择一次性领取公积金)" in lines
    assert "- 适应性培训：未办理(已在外地就业，无法参加)" in lines
    assert "- 团组织关系转接" not in summary  # not this veteran's step at all
    assert "- 上报省退役军人服务中心：已办结" in lines
    await record_history(handle, "ReturnHomeWorkflow", "v2_full_case_with_returns")


@journey()
async def non_member_without_subsidy_is_told_why(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    """刘洋 receives monthly retirement pay and is no party member: no organisation
    transfer and no 一次性经济补助, each recorded with its reason."""
    handle = await start_case(
        client, settings, veteran_id(e, party_member=False), version=2
    )
    await complete(handle, e, "file_receipt", "county", "received", RECEIPT)
    await complete(handle, e, "archive_review", "county", "approve", {})
    await open_task(e, handle.id, "registration")
    skipped = tasks(e, handle.id, step="party_transfer")
    reason = skipped[0].comment or ""
    assert skipped[0].status == "skipped" and "DB3702/T 41—2024 第6.2.2条" in reason
    await complete(handle, e, "registration", "county", "done", REGISTRATION)
    await open_task(e, handle.id, "bank_account")
    subsidy = await wait_for(
        lambda: tasks(e, handle.id, step="subsidy_preregistration")
    )
    assert subsidy[0].status == "skipped"
    assert "自主就业" in (subsidy[0].comment or "")
    await record_history(handle, "ReturnHomeWorkflow", "v2_non_member_no_subsidy")
    await handle.terminate("test over")


@journey()
async def league_member_goes_to_the_youth_league_desk(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    handle = await start_case(
        client,
        settings,
        veteran_id(e, party_member=False),
        data={"political_status": "共青团员"},
        version=2,
    )
    await complete(handle, e, "file_receipt", "county", "received", RECEIPT)
    await complete(handle, e, "archive_review", "county", "approve", {})
    league = await open_task(e, handle.id, "league_transfer")
    assert league.candidate_role == "desk_league"
    assert tasks(e, handle.id, step="party_transfer") == []
    await complete(
        handle, e, "league_transfer", desk_clerk("desk_league"), "done", PARTY
    )
    await open_task(e, handle.id, "registration")
    await handle.terminate("test over")


# Each refusal's form and the texts its notice must carry (003 §7.6).
REFUSALS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "not_ours": (
        {
            "competent_authority": "户籍所在地区(市)退役军人事务局",
            "refusal_reason": "安置地不在本县",
        },
        [
            "不属于示范县退役军人服务中心的职权范围",
            "户籍所在地区(市)退役军人事务局",
        ],
    ),
    "refuse": (
        {"refusal_reason": "已按转业军官接收安置，不重复报到"},
        ["不予办理的理由：已按转业军官接收安置"],
    ),
}


@journey()
async def refused_or_not_ours_ends_with_the_reasons(
    client: Client,
    settings: Settings,
    e: Engine,
    adapter: RecordingAdapter,
    *,
    outcome: str,
) -> None:
    data, expected = REFUSALS[outcome]
    handle = await start_case(
        client, settings, veteran_id(e, party_member=True), version=2
    )
    await complete(handle, e, "file_receipt", "county", "received", RECEIPT)
    task = await open_task(e, handle.id, "archive_review")
    # Each decision needs what 003 §7.6 requires it to tell.
    with pytest.raises(WorkflowUpdateFailedError) as bare:
        await handle.execute_update(
            ReturnHomeWorkflow.complete_task,
            CompleteTaskInput(
                task_id=task.id, actor=actor(e, "county"), outcome=outcome, data={}
            ),
        )
    assert bare.value.cause.type == "InvalidForm"
    await complete(handle, e, "archive_review", "county", outcome, data)
    state = await handle.result()
    assert state.status == "closed"
    told = (await wait_for(lambda: notices(e, handle.id, "refusal")))[0].body
    assert all(text in told for text in expected)
    assert "DB3702/T 41—2024 第7.6条" in told
    assert open_steps(e, handle.id) == set()
    assert tasks(e, handle.id, step="registration") == []
    await record_history(handle, "ReturnHomeWorkflow", f"v2_{outcome}")


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_new_order_first_handler_and_truthful_summary(
    journeys: Journeys, backend: str
) -> None:
    await journeys(new_order_first_handler_and_truthful_summary, backend)


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_non_member_without_subsidy_is_told_why(
    journeys: Journeys, backend: str
) -> None:
    await journeys(non_member_without_subsidy_is_told_why, backend)


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_league_member_goes_to_the_youth_league_desk(
    journeys: Journeys, backend: str
) -> None:
    await journeys(league_member_goes_to_the_youth_league_desk, backend)


@pytest.mark.parametrize("outcome", list(REFUSALS))
@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_refused_or_not_ours_ends_with_the_reasons(
    journeys: Journeys, backend: str, outcome: str
) -> None:
    await journeys(refused_or_not_ours_ends_with_the_reasons, backend, outcome=outcome)
