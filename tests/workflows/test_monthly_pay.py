"""The monthly payroll on the real Temporal dev server: the opener opens one case per
county and month however often it runs; a month's cycle prepare → approve (by
another person) → confirm; a rejection opens a new round; the held list is checked
against the month's list; every history replays."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import SearchAttributeKey
from temporalio.worker import Replayer

from models.contracts import SA_ORG_UNIT, SA_PROCESS, SA_STATUS
from models.processes import monthly_pay
from models.settings import Settings
from models.tables import AuditEvent, Case
from tests.conftest import DB_BACKENDS
from tests.monthly_pay_support import (
    DEMO_COUNTY,
    add_account,
    add_county,
    open_month,
    unit_named,
    veteran_named,
)
from tests.support import complete, open_task, record_history, wait_for
from tests.workflows.conftest import RecordingAdapter
from tests.workflows.journeys import Journeys, Registry
from workflows.monthly_pay import MonthlyPayWorkflow
from workflows.registry import ALL_WORKFLOWS

# Each test's month runs as a journey of its own (tests/workflows/journeys.py): all of
# them start with the module, side by side, each with its own database (on each
# backend), settings and worker, and each test awaits its own.
journey = Registry()


journeys = journey.fixture()


HELD_REASON = "年度登记未提交，待核实"


def statuses(engine, case_id: str) -> list[str]:
    with Session(engine) as s:
        rows = s.exec(
            select(AuditEvent)
            .where(AuditEvent.case_id == case_id, AuditEvent.action == "case_status")
            .order_by(col(AuditEvent.id))
        ).all()
    return [r.after["status"] for r in rows if r.after]


async def refused(handle, engine, step, username, outcome, data) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await complete(handle, engine, step, username, outcome, data)
    return err.value.cause.type


async def replays(client, handle) -> None:
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter)
    await replayer.replay_workflow(await handle.fetch_history())


@journey()
async def the_opener_opens_one_case_per_county_and_month(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    second = add_county(e, "efx", "二号县退役军人服务中心", veteran="周强")
    add_county(e, "sfx3", "三号县退役军人服务中心", veteran=None)
    demo = unit_named(e, DEMO_COUNTY).id
    first = await open_month(client, settings, scenario="two_counties")
    expected = [
        monthly_pay.case_id(unit, 2026, 5, settings.case_id_prefix)
        for unit in (demo, second)
    ]
    # 10 May 2026 is a Sunday; Saturday the 9th is worked in lieu (调休).
    assert (first.year, first.month, first.pay_date) == (2026, 5, "2026-05-09")
    assert sorted(first.opened) == sorted(expected) and first.already_open == []
    assert expected[0].endswith(f"monthly_pay-{demo}-2026-05")
    again = await open_month(client, settings, scenario="already_open")
    assert again.opened == [] and sorted(again.already_open) == sorted(expected)

    def rows() -> list[Case]:
        with Session(e) as s:
            found = s.exec(select(Case).where(Case.process == "monthly_pay")).all()
            return list(found) if len(found) == 2 else []

    cases = {c.org_unit_id: c for c in await wait_for(rows)}
    assert set(cases) == {demo, second}  # none for the county without veterans
    assert all(c.veteran_id is None for c in cases.values())
    assert cases[demo].data["pay_date"] == "2026-05-09"
    assert cases[demo].started_by == "schedule"
    described = await client.get_workflow_handle(expected[0]).describe()
    attrs = described.typed_search_attributes
    assert attrs.get(SearchAttributeKey.for_keyword(SA_PROCESS)) == "monthly_pay"
    assert (
        attrs.get(SearchAttributeKey.for_keyword(SA_ORG_UNIT))
        == unit_named(e, DEMO_COUNTY).path
    )
    for case_id in expected:
        await client.get_workflow_handle(case_id).terminate("test done")


@journey()
async def a_month_prepared_approved_and_confirmed(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    opened = await open_month(client, settings)
    (case_id,) = opened.opened
    handle = client.get_workflow_handle_for(MonthlyPayWorkflow.run, case_id)
    liu, zhang = veteran_named(e, "刘洋"), veteran_named(e, "张伟")
    task = await open_task(e, case_id, "prepare_payroll")
    assert task.candidate_role == "finance_staff"
    (line,) = task.context["veterans"]  # 张伟 is not on monthly pay
    assert (line["veteran_id"], line["name"]) == (liu.id, "刘洋")
    assert "*" in line["id_number_masked"] and liu.id_number not in str(task.context)
    assert line["station"] == "东关村退役军人服务站"
    assert (line["review_state"], line["review_label"]) == ("none", "未开展")
    assert task.context["pay_date"] == "2026-05-09"
    # The held list: only veterans on the month's list, each with a reason.
    not_listed = {"held": [{"veteran_id": zhang.id, "reason": "x"}]}
    no_reason = {"held": [{"veteran_id": liu.id, "reason": "  "}]}
    for data in (not_listed, no_reason, {"held": [{"veteran_id": liu.id}]}):
        assert (
            await refused(handle, e, "prepare_payroll", "finance", "prepared", data)
            == "InvalidForm"
        )
    held = {"held": [{"veteran_id": liu.id, "reason": HELD_REASON}]}
    await complete(handle, e, "prepare_payroll", "finance", "prepared", held)
    approve = await open_task(e, case_id, "approve_payroll")
    assert approve.context["held"] == [
        {
            "veteran_id": liu.id,
            "name": "刘洋",
            "station": "东关村退役军人服务站",
            "reason": HELD_REASON,
        }
    ]
    assert approve.context["prepared_by"] == "finance"
    assert approve.context["paid_count"] == 0
    await complete(handle, e, "approve_payroll", "leader", "approved", {})
    confirm = await open_task(e, case_id, "confirm_payment")
    assert confirm.assignee == "finance"  # 首办负责: the preparer confirms
    await complete(
        handle,
        e,
        "confirm_payment",
        "finance",
        "paid",
        {"paid_on": "2026-05-09", "bank_batch": "DF202605-01"},
    )
    state = await handle.result()
    assert state.status == "closed"
    assert state.completed_steps == [
        "prepare_payroll",
        "approve_payroll",
        "confirm_payment",
    ]
    assert statuses(e, case_id) == [
        "preparing",
        "awaiting_approval",
        "approved",
        "paid",
        "closed",
    ]
    described = await handle.describe()
    status_key = SearchAttributeKey.for_keyword(SA_STATUS)
    assert described.typed_search_attributes.get(status_key) == "closed"
    # A closed month is not opened again.
    again = await open_month(client, settings)
    assert again.opened == [] and again.already_open == [case_id]
    await replays(client, handle)
    await record_history(handle, "MonthlyPayWorkflow", "prepare_approve_confirm")


@journey()
async def the_preparer_cannot_approve_and_a_rejection_is_a_new_round(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    add_account(e, "finlead", ["finance_staff", "leader"])
    (case_id,) = (await open_month(client, settings, 2026, 10)).opened
    handle = client.get_workflow_handle_for(MonthlyPayWorkflow.run, case_id)
    liu = veteran_named(e, "刘洋")
    await complete(handle, e, "prepare_payroll", "finlead", "prepared", {"held": []})
    # 双人复核: the one who prepared the list may not approve it.
    assert (
        await refused(handle, e, "approve_payroll", "finlead", "approved", {})
        == "FourEyes"
    )
    # Rejecting needs its reasons; then the list goes back as round 2.
    assert (
        await refused(handle, e, "approve_payroll", "leader", "rejected", {})
        == "InvalidForm"
    )
    reasons = ["刘洋年度登记未通过，请核实是否暂缓"]
    await complete(
        handle,
        e,
        "approve_payroll",
        "leader",
        "rejected",
        {"reasons": reasons},
    )
    again = await open_task(e, case_id, "prepare_payroll")
    assert again.round == 2 and again.context["returned_reasons"] == reasons
    assert again.assignee == "finlead"  # back to the one who prepared it
    with Session(e) as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == "returned"
    held = {"held": [{"veteran_id": liu.id, "reason": HELD_REASON}]}
    await complete(handle, e, "prepare_payroll", "finlead", "prepared", held)
    assert (
        await refused(handle, e, "approve_payroll", "finlead", "approved", {})
        == "FourEyes"
    )
    await complete(handle, e, "approve_payroll", "leader", "approved", {})
    await complete(
        handle,
        e,
        "confirm_payment",
        "finlead",
        "paid",
        {"paid_on": "2026-10-10"},
    )
    state = await handle.result()
    assert state.rounds == {
        "prepare_payroll": 2,
        "approve_payroll": 2,
        "confirm_payment": 1,
    }
    # A status met again (awaiting_approval of round 2) is audited again.
    assert statuses(e, case_id) == [
        "preparing",
        "awaiting_approval",
        "returned",
        "awaiting_approval",
        "approved",
        "paid",
        "closed",
    ]
    with Session(e) as s:
        case = s.get(Case, case_id)
        assert case is not None and case.data["pay_date"] == "2026-10-10"
    await replays(client, handle)
    await record_history(handle, "MonthlyPayWorkflow", "four_eyes_rejected_round")


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_the_opener_opens_one_case_per_county_and_month(
    journeys: Journeys, backend: str
) -> None:
    await journeys(the_opener_opens_one_case_per_county_and_month, backend)


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_a_month_prepared_approved_and_confirmed(
    journeys: Journeys, backend: str
) -> None:
    await journeys(a_month_prepared_approved_and_confirmed, backend)


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_the_preparer_cannot_approve_and_a_rejection_is_a_new_round(
    journeys: Journeys, backend: str
) -> None:
    await journeys(the_preparer_cannot_approve_and_a_rejection_is_a_new_round, backend)
