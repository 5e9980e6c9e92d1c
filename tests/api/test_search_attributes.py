"""Cases carry vetflow's search attributes, so `temporal workflow list --query` and the
Temporal UI filter them by process, org unit, veteran and status."""

from __future__ import annotations

import asyncio

import pytest_asyncio

from worker import build_worker


@pytest_asyncio.fixture
async def running_worker(client, settings, seeded_engine):
    async with build_worker(client, settings, seeded_engine) as w:
        yield w


async def test_cases_are_found_by_search_attributes(
    http, auth, client, settings, running_worker
):
    h = await auth("county")
    vet = (await http.get("/api/veterans", params={"q": "刘洋"}, headers=h)).json()[
        "data"
    ][0]
    case_id = (
        await http.post(
            "/api/cases",
            json={"process": "return_home", "veteran_id": vet["id"]},
            headers=h,
        )
    ).json()["id"]
    query = (
        f'TaskQueue = "{settings.task_queue}" AND VetflowProcess = "return_home" '
        f'AND VetflowVeteran = "{vet["id"]}" AND VetflowStatus = "running"'
    )
    for _ in range(100):
        found = [wf.id async for wf in client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [case_id]
    desc = await client.get_workflow_handle(case_id).describe()
    org_path = [
        v for k, v in desc.typed_search_attributes if k.name == "VetflowOrgUnit"
    ]
    assert org_path and org_path[0].startswith("/") and org_path[0].count("/") >= 4
