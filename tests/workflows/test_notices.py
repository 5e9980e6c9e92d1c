"""Notices never hold a case (issue: notices off the critical path), on the real dev
server with a real local SMS gateway behind the webhook adapter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from activities.notify_adapters import WebhookAdapter
from models.contracts import CompleteTaskInput, ProcessPolicy, TaskPolicy
from models.settings import Settings
from models.tables import HumanTask, Notice, Veteran
from tests.conftest import DB_BACKENDS
from tests.support import actor, complete, notices, open_task, record_history, wait_for
from tests.workflows.conftest import RecordingAdapter, start_case, veteran_id
from tests.workflows.journeys import Journeys, Registry
from worker import build_worker
from workflows.notice_delivery import DeliverNoticeWorkflow

# The cases of the tests with a worker of their own run as journeys
# (tests/workflows/journeys.py): all of them start with the module, side by side, each
# with its own database (on each backend), settings and worker, and each test awaits its
# own. The gateway tests need the gateway fixture, which a journey has not: they stay
# tests of their own, with the journeys started beside the first of them.
journey = Registry()


journeys = journey.fixture()


SECRET = "gateway-secret"
RETURN = {"missing_materials": ["户口簿"], "defective_materials": []}


def phone_of(engine, vid: int) -> str:
    with Session(engine) as s:
        return s.get(Veteran, vid).phone


def notice_task(engine, case_id: str) -> list[HumanTask]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(HumanTask).where(
                    HumanTask.case_id == case_id,
                    HumanTask.process == "notice",
                    HumanTask.status == "open",
                )
            ).all()
        )


def row(engine, key: str) -> Notice:
    with Session(engine) as s:
        return s.exec(select(Notice).where(Notice.key == key)).one()


@pytest.mark.usefixtures("journeys")
async def test_an_invalid_number_becomes_work_and_the_case_goes_on(
    client, settings, demo_engine, sms_gateway
):
    e = demo_engine
    vid = veteran_id(e, party_member=True)
    sms_gateway.invalid.add(phone_of(e, vid))
    adapter = WebhookAdapter(sms_gateway.url, SECRET)
    async with build_worker(client, settings, e, adapter=adapter):
        handle = await start_case(client, settings, vid)
        await complete(
            handle, e, "archive_review", "county", "return_for_correction", RETURN
        )
        # The case went on at once: the station records the supplement meanwhile.
        await open_task(e, handle.id, "supplement_materials")
        (item,) = await wait_for(lambda: notice_task(e, handle.id))
        key = item.context["notice_key"]
        assert item.step == "notice_failed" and item.candidate_role == "village_staff"
        assert item.context["error_type"] == "NoticeRejected"
        failed = row(e, key)
        assert failed.status == "failed" and "400" in (failed.error or "")
        # The gateway was asked once: a 4xx is not retried.
        assert [k for k, _ in sms_gateway.requests].count(key) == 1

        # The village clerk corrects the number and resends.
        notice_wf = client.get_workflow_handle(item.workflow_id)
        await notice_wf.execute_update(
            DeliverNoticeWorkflow.complete_task,
            CompleteTaskInput(
                task_id=item.id,
                actor=actor(e, "village"),
                outcome="resend",
                data={"address": "13912345678", "note": ""},
            ),
        )
        await notice_wf.result()
        sent = row(e, key)
        assert sent.status == "sent" and sent.address == "13912345678"
        assert sms_gateway.sent[key] == "13912345678"
        await record_history(notice_wf, "DeliverNoticeWorkflow", "rejected_then_resent")
        await handle.terminate("test over")


@pytest.mark.usefixtures("journeys")
async def test_a_gateway_down_for_good_ends_in_a_recorded_other_way(
    client, settings, demo_engine, sms_gateway
):
    e = demo_engine
    sms_gateway.down = True
    policy = ProcessPolicy(
        name="test",
        default=TaskPolicy(duration=timedelta(minutes=10)),
        notice_attempts=2,
        notice_max_interval=timedelta(seconds=1),
    )
    adapter = WebhookAdapter(sms_gateway.url, SECRET)
    async with build_worker(client, settings, e, adapter=adapter):
        handle = await start_case(
            client, settings, veteran_id(e, party_member=True), policy=policy
        )
        await complete(
            handle, e, "archive_review", "county", "return_for_correction", RETURN
        )
        items = await wait_for(lambda: notice_task(e, handle.id), timeout=30)
        veteran_item = next(i for i in items if i.step == "notice_failed")
        key = veteran_item.context["notice_key"]
        # Bounded: two attempts, then the item; the case never waited for them.
        assert [k for k, _ in sms_gateway.requests].count(key) == 2
        assert row(e, key).status == "failed"
        await open_task(e, handle.id, "supplement_materials")
        notice_wf = client.get_workflow_handle(veteran_item.workflow_id)
        await notice_wf.execute_update(
            DeliverNoticeWorkflow.complete_task,
            CompleteTaskInput(
                task_id=veteran_item.id,
                actor=actor(e, "village"),
                outcome="informed_otherwise",
                data={"address": "", "note": "已电话告知本人，材料清单当面交付"},
            ),
        )
        await notice_wf.result()
        settled = row(e, key)
        assert settled.status == "resolved" and "电话告知" in (settled.error or "")
        await handle.terminate("test over")


@journey()
async def one_time_notification_names_the_station_and_the_clerk(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    handle = await start_case(client, settings, veteran_id(e, party_member=True))
    await complete(
        handle, e, "archive_review", "county", "return_for_correction", RETURN
    )
    (notice,) = await wait_for(lambda: notices(e, handle.id, "correction_request"))
    assert "东关村退役军人服务站" in notice.body
    assert "示范县城关镇东关村村委会" in notice.body and "0531-8000 2100" in notice.body
    assert "赵科员" in notice.body  # the clerk's name, not the username
    # ... and the office phone of the 联系服务卡 (003 §7.8.2): the unit's number and
    # the clerk's extension, never a private mobile.
    assert "赵科员(电话 0531-8000 1000-" in notice.body
    assert "county" not in notice.body.replace("county_", "")
    assert "DB3702/T 41—2024 第7.6条" in notice.body
    assert "{{" not in notice.body and "您所在的" not in notice.body
    await handle.terminate("test over")


@journey()
async def task_assigned_and_review_returned_are_sent_where_they_happen(
    client: Client, settings: Settings, e: Engine, adapter: RecordingAdapter
) -> None:
    handle = await start_case(client, settings, veteran_id(e, party_member=True))
    await complete(handle, e, "archive_review", "county", "approve", {})
    info = {"hukou_address": "示范县城关镇东关村1号", "education": "高中"}
    await complete(handle, e, "information_collection", "village", "submitted", info)
    await complete(
        handle,
        e,
        "township_review",
        "township",
        "return",
        {"reasons": ["学历证明缺失"]},
    )
    # The step goes back to the clerk who first handled it, who is told why.
    returned = await wait_for(lambda: notices(e, handle.id, "review_returned"))
    assert [n.recipient for n in returned] == ["village"]
    assert "学历证明缺失" in returned[0].body
    await complete(handle, e, "information_collection", "village", "submitted", info)
    # The township review reopens with its first handler, who hears it is theirs.
    assigned = await wait_for(
        lambda: [
            n
            for n in notices(e, handle.id, "task_assigned")
            if n.task_id.endswith("township_review.2")
        ]
    )
    assert assigned[0].recipient == "township"
    # Engine notice-outbox: every notice went through the outbox and the worker's
    # dispatcher, sent once; no workflow was started for any of them. The last one
    # (the township's) may still be on its way: wait until none is pending.

    def settled() -> list[Notice]:
        with Session(e) as s:
            rows = s.exec(select(Notice).where(Notice.case_id == handle.id)).all()
        return list(rows) if all(n.status != "pending" for n in rows) else []

    rows = await wait_for(settled)
    assert rows and {(n.dispatch, n.status, n.attempts) for n in rows} == {
        ("outbox", "sent", 1)
    }
    started = [
        wf.id
        async for wf in client.list_workflows(
            f'WorkflowType = "DeliverNoticeWorkflow" AND TaskQueue = "{settings.task_queue}"'
        )
    ]
    assert started == []
    await handle.terminate("test over")


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_one_time_notification_names_the_station_and_the_clerk(
    journeys: Journeys, backend: str
) -> None:
    await journeys(one_time_notification_names_the_station_and_the_clerk, backend)


@pytest.mark.parametrize("backend", DB_BACKENDS)
async def test_task_assigned_and_review_returned_are_sent_where_they_happen(
    journeys: Journeys, backend: str
) -> None:
    await journeys(
        task_assigned_and_review_returned_are_sent_where_they_happen, backend
    )
