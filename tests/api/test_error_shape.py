"""One error shape for the whole API, documented in OpenAPI (issue 7, item 6): every
422 is FastAPI's ``{"detail": [{"loc", "msg", "type"}]}``, the workflow's refusals
included; every other error is ``{"detail": str | {"type", "message", ...}}``; each
route declares them."""

from __future__ import annotations

import pytest_asyncio
from pydantic import TypeAdapter
from sqlmodel import Session, select

from api.errors import ErrorResponse, ValidationErrorResponse
from api.update_errors import validation_items
from models.tables import HumanTask, Veteran
from tests.return_home_forms import RECEIPT
from tests.support import open_task
from worker import build_worker

ERRORS = {"400", "401", "403", "404", "409", "413", "422", "429", "503"}


@pytest_asyncio.fixture
async def running_worker(client, settings, seeded_engine):
    async with build_worker(client, settings, seeded_engine) as w:
        yield w


def _ref(response: dict) -> str:
    return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]


async def test_openapi_documents_the_error_shape_on_every_route(http):
    spec = (await http.get("/openapi.json")).json()
    operations = [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
    ]
    assert len(operations) > 20
    for path, method, op in operations:
        responses = op["responses"]
        assert ERRORS <= set(responses), (method, path, sorted(responses))
        assert _ref(responses["422"]) == "ValidationErrorResponse", (method, path)
        for code in ERRORS - {"422"}:
            assert _ref(responses[code]) == "ErrorResponse", (method, path, code)
    detail = spec["components"]["schemas"]["ErrorResponse"]["properties"]["detail"]
    assert {"type": "string"} in detail["anyOf"]


def test_workflow_refusals_become_fastapi_items():
    items = validation_items(
        "InvalidForm",
        "表单数据有误",
        [
            {
                "loc": ["data", "note"],
                "msg": "String too long",
                "type": "string_too_long",
            }
        ],
    )
    assert items == [
        {
            "loc": ["body", "data", "note"],
            "msg": "String too long",
            "type": "string_too_long",
        }
    ]
    (item,) = validation_items(
        "InvalidInput", "某某 不在岗", [{"loc": ["username"], "msg": "absent"}]
    )
    assert item == {
        "loc": ["body", "username"],
        "msg": "某某 不在岗 (absent)",
        "type": "InvalidInput",
    }
    assert validation_items("InvalidInput", "转派须说明原因", None) == [
        {"loc": ["body"], "msg": "转派须说明原因", "type": "InvalidInput"}
    ]


async def test_every_answer_has_the_documented_shape(
    http, auth, seeded_engine, running_worker
):
    county, county2, manager, auditor = (
        await auth("county"),
        await auth("county2"),
        await auth("manager"),
        await auth("auditor"),
    )
    errors = TypeAdapter(ErrorResponse)
    invalid = TypeAdapter(ValidationErrorResponse)
    with Session(seeded_engine) as s:
        vid = s.exec(
            select(Veteran.id)
            .where(Veteran.category != "军休干部")
            .order_by(Veteran.id)
        ).first()
    r = await http.post(
        "/api/cases", json={"process": "return_home", "veteran_id": vid}, headers=county
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    task = await open_task(seeded_engine, case_id, "file_receipt")

    # 401, 403, 404: a message.
    for r, code in (
        (await http.get("/api/tasks"), 401),
        (await http.get("/api/incidents", headers=county), 403),
        (await http.get("/api/tasks/nope", headers=county), 404),
    ):
        assert r.status_code == code, r.text
        assert isinstance(errors.validate_python(r.json()).detail, str)

    # 409 from the workflow: a refusal with its type and the holder.
    r = await http.post(f"/api/tasks/{task.id}/claim", headers=county)
    assert r.status_code == 200, r.text
    r = await http.post(f"/api/tasks/{task.id}/claim", headers=county2)
    assert r.status_code == 409, r.text
    refusal = errors.validate_python(r.json()).detail
    assert not isinstance(refusal, str)
    assert (refusal.type, refusal.holder) == ("ClaimedByOther", "county")

    # 422 from the workflow's validator (the target is away): FastAPI's items.
    r = await http.put("/api/me/availability", json={"absent": True}, headers=county2)
    assert r.status_code == 200, r.text
    r = await http.post(
        f"/api/tasks/{task.id}/reassign",
        json={"username": "county2", "reason": "调整"},
        headers=manager,
    )
    assert r.status_code == 422, r.text
    (item,) = invalid.validate_python(r.json()).detail
    assert item.loc == ["body", "username"] and item.type == "InvalidInput"
    assert "不在岗" in item.msg

    # 422 from the API's own check of the form, the same shape.
    r = await http.post(
        f"/api/tasks/{task.id}/complete",
        json={"outcome": "received", "data": {**RECEIPT, "surprise": 1}},
        headers=county,
    )
    assert r.status_code == 422, r.text
    (item,) = invalid.validate_python(r.json()).detail
    assert item.loc == ["body", "data", "surprise"]

    # 403 before the workflow: shaped like the workflow's refusal.
    r = await http.post(
        f"/api/tasks/{task.id}/complete",
        json={"outcome": "received", "data": RECEIPT},
        headers=auditor,
    )
    assert r.status_code == 403
    refusal = errors.validate_python(r.json()).detail
    assert not isinstance(refusal, str) and refusal.type == "NotAuthorized"

    # And the task is still the holder's to complete.
    r = await http.post(
        f"/api/tasks/{task.id}/complete",
        json={"outcome": "received", "data": RECEIPT},
        headers=county,
    )
    assert r.status_code == 200, r.text

    # A row the case's workflow does not know (yet): the row of an opening whose
    # workflow task a killed worker never completed, as the scale-out test met it.
    # Open, it asks the clerk to try again (503, Retry-After); not open, it is 404.
    with Session(seeded_engine) as s:
        row = s.get(HumanTask, task.id)
        assert row is not None
        ahead = HumanTask(
            **{
                **row.model_dump(),
                "id": f"{case_id}.file_receipt.9",
                "status": "open",
                "assignee": None,
            }
        )
        s.add(ahead)
        s.commit()
    r = await http.post(
        f"/api/tasks/{case_id}.file_receipt.9/complete",
        json={"outcome": "received", "data": RECEIPT},
        headers=county,
    )
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "2"
    refusal = errors.validate_python(r.json()).detail
    assert not isinstance(refusal, str) and refusal.type == "CaseCatchingUp"
    with Session(seeded_engine) as s:
        ahead = s.get(HumanTask, f"{case_id}.file_receipt.9")
        assert ahead is not None
        ahead.status = "cancelled"
        s.add(ahead)
        s.commit()
    r = await http.post(f"/api/tasks/{case_id}.file_receipt.9/claim", headers=county)
    assert r.status_code == 404, r.text
    refusal = errors.validate_python(r.json()).detail
    assert not isinstance(refusal, str) and refusal.type == "TaskNotFound"
