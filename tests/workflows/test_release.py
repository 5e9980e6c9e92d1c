"""A release under running cases, on the real dev server.

A case started on the current code stops at a task; the worker is replaced by the next
release, which (a) adds a required field to the registration form and (b) inserts a
step after the current one — shipped the way README "Releasing" says: a new version of
the process definition beside the old one. The old case finishes on the new worker on
the path of the version it started with, without non-determinism; a new case takes
the new path and must fill the new field.
"""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from models.contracts import CaseState, CompleteTaskInput, StartCaseInput
from models.processes.return_home import ONE_STOP_KEYS
from tests.support import actor, open_task, tasks
from tests.workflows.conftest import FAST, veteran_id
from tests.workflows.next_release import NEXT_RELEASE
from worker import build_worker
from workflows.return_home import ReturnHomeWorkflow

# --- driving a case --------------------------------------------------------------

REGISTRATION = {"registration_number": "BD-1", "reported_on": "2026-11-20"}


async def complete(handle, engine, step, username, outcome, data):
    task = await open_task(engine, handle.id, step)
    return await handle.execute_update(
        ReturnHomeWorkflow.complete_task,
        CompleteTaskInput(
            task_id=task.id, actor=actor(engine, username), outcome=outcome, data=data
        ),
    )


async def finish_after_archive_review(handle, e, registration: dict) -> None:
    info = {"hukou_address": "示范县城关镇东关村1号", "education": "高中"}
    await complete(handle, e, "information_collection", "village", "submitted", info)
    await complete(handle, e, "township_review", "township", "approve", {})
    await complete(handle, e, "county_review", "county", "approve", {})
    await complete(handle, e, "registration", "county", "done", registration)
    for key in ONE_STOP_KEYS:
        await complete(handle, e, key, "desk", "done", {"reference": "R-1"})
    visit = {"visited_on": "2026-11-20", "contact_card_number": "C-1"}
    await complete(handle, e, "home_visit", "village", "done", visit)


async def start(client, settings, vid: int, version: int):
    case_id = f"{settings.case_id_prefix}return_home-v{vid}"
    return await client.start_workflow(
        "ReturnHomeWorkflow",
        StartCaseInput(
            case_id=case_id,
            process="return_home",
            veteran_id=vid,
            started_by="county",
            policy=FAST,
            spec_version=version,
        ),
        id=case_id,
        task_queue=settings.task_queue,
        result_type=CaseState,
    )


@pytest.mark.timeout(240)
async def test_old_case_finishes_on_its_version_after_a_release(
    client, settings, demo_engine, adapter
):
    e = demo_engine
    vid_old = veteran_id(e, party_member=False)
    async with build_worker(client, settings, e, adapter=adapter):
        old = await start(client, settings, vid_old, version=1)
        await open_task(e, old.id, "archive_review")
    # The release: the old worker is gone, the next release's worker takes over.
    async with build_worker(
        client, settings, e, adapter=adapter, workflows=NEXT_RELEASE
    ):
        await complete(old, e, "archive_review", "county", "approve", {})
        # Version 1 has no welcome talk, and its registration form has no new field.
        await open_task(e, old.id, "information_collection")
        await finish_after_archive_review(old, e, REGISTRATION)
        state = await old.result()
        assert state.status == "closed" and state.spec_version == 1
        assert "welcome_talk" not in state.completed_steps

        # A new case takes the new version: the inserted step, the new field.
        vid_new = veteran_id(e, party_member=True)
        new = await start(client, settings, vid_new, version=2)
        await complete(new, e, "archive_review", "county", "approve", {})
        await complete(new, e, "welcome_talk", "county", "done", {})
        await complete(
            new,
            e,
            "information_collection",
            "village",
            "submitted",
            {"hukou_address": "示范县城关镇1号", "education": "高中"},
        )
        await complete(new, e, "township_review", "township", "approve", {})
        await complete(new, e, "county_review", "county", "approve", {})
        party = {
            "receiving_organisation": "东关村党支部",
            "letter_number": "L-1",
            "transferred_on": "2026-11-20",
        }
        await complete(new, e, "party_transfer", "desk", "done", party)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await complete(new, e, "registration", "county", "done", REGISTRATION)
        assert refused.value.cause.type == "InvalidForm"
        assert "reception_officer" in str(refused.value.cause.details)
        await complete(
            new,
            e,
            "registration",
            "county",
            "done",
            {**REGISTRATION, "reception_officer": "赵科员"},
        )
        steps = [t.step for t in tasks(e, new.id)]
        assert steps.index("welcome_talk") == steps.index("archive_review") + 1
        await new.terminate("test over")

    # Both histories replay on the next release's code; the old one on today's code too.
    replayer = Replayer(workflows=NEXT_RELEASE, data_converter=pydantic_data_converter)
    for handle in (old, new):
        result = await replayer.replay_workflow(
            await handle.fetch_history(), raise_on_replay_failure=False
        )
        assert result.replay_failure is None, result.replay_failure
