"""The release of return-home version 2 under running cases, on the real dev server.

A case is started by release 0.2.0's worker (its workflow code frozen in
``release_0_2_0.py``), on the only definition that release had, version 1, and stops
at a task. The worker is replaced by today's: the old case finishes on the path and the
forms of version 1, without non-determinism; a new case takes version 2. Both
histories replay on today's code.
"""

from __future__ import annotations

import pytest
from temporalio.worker import Replayer

from models.contracts import CaseState, StartCaseInput
from models.processes.return_home import ONE_STOP_DESKS, SPEC, SPEC_V2
from tests.support import complete, desk_clerk, open_task, tasks
from tests.workflows.conftest import FAST, veteran_id
from tests.workflows.release_0_2_0 import RELEASE_0_2_0
from worker import build_worker
from workflows.registry import ALL_WORKFLOWS
from workflows.return_home import ReturnHomeWorkflow


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
async def test_case_opened_on_version_1_finishes_on_it_after_the_release(
    client, settings, demo_engine, adapter
):
    e = demo_engine
    vid_old = veteran_id(e, party_member=False)
    # Release 0.2.0 in production: the API started every case on version 1.
    async with build_worker(
        client, settings, e, adapter=adapter, workflows=RELEASE_0_2_0
    ):
        old = await start(client, settings, vid_old, version=1)
        await complete(old, e, "archive_review", "county", "approve", {})
        info = {"hukou_address": "示范县城关镇东关村1号", "education": "高中"}
        await complete(old, e, "information_collection", "village", "submitted", info)
        await open_task(e, old.id, "township_review")

    # The release: the old worker is gone, today's worker takes over.
    async with build_worker(client, settings, e, adapter=adapter):
        await complete(old, e, "township_review", "township", "approve", {})
        await complete(old, e, "county_review", "county", "approve", {})
        # Version 1's order: registration right after the level review; its forms.
        registration = {"registration_number": "BD-1", "reported_on": "2026-11-20"}
        await complete(old, e, "registration", "county", "done", registration)
        for key, _title, role in ONE_STOP_DESKS:
            await complete(old, e, key, desk_clerk(role), "done", {"reference": "R-1"})
        visit = {"visited_on": "2026-11-20", "contact_card_number": "C-1"}
        await complete(old, e, "home_visit", "village", "done", visit)
        state = await old.result()
        assert state.status == "closed" and state.spec_version == 1
        v1_only = {s.key for s in SPEC.steps}
        assert {t.step for t in tasks(e, old.id)} <= v1_only
        assert "file_receipt" not in state.completed_steps

        # A new case takes version 2: the personnel file is received first.
        new = await start(client, settings, veteran_id(e, party_member=True), version=2)
        first = await open_task(e, new.id, SPEC_V2.first)
        assert first.step == "file_receipt"
        assert (await new.query(ReturnHomeWorkflow.get_state)).spec_version == 2
        await new.terminate("test over")

    # Both histories replay on today's code, and the old one on 0.2.0's code too.
    for workflows, handles in ((ALL_WORKFLOWS, (old, new)), (RELEASE_0_2_0, (old,))):
        replayer = Replayer(workflows=workflows, data_converter=client.data_converter)
        for handle in handles:
            result = await replayer.replay_workflow(
                await handle.fetch_history(), raise_on_replay_failure=False
            )
            assert result.replay_failure is None, result.replay_failure
