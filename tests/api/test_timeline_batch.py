"""The timeline reads engine 0.10's ``project_all`` marker as the writes it records:
one entry for each, in their order, under the marker's event."""

from __future__ import annotations

import base64
import json
from typing import Any

from api.timeline import LOCAL_ACTIVITY_MARKER, build_timeline
from models.contracts import PROJECT_ALL


def payloads(value: Any) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(value).encode()).decode()
    return {"payloads": [{"metadata": {}, "data": data}]}


def marker(event_id: int, activity_type: str, result: Any) -> dict[str, Any]:
    return {
        "eventId": str(event_id),
        "eventTime": "2026-11-30T02:00:00Z",
        "eventType": "EVENT_TYPE_MARKER_RECORDED",
        "markerRecordedEventAttributes": {
            "markerName": LOCAL_ACTIVITY_MARKER,
            "details": {
                "data": payloads({"activity_type": activity_type, "seq": 1}),
                "result": payloads(result),
            },
        },
    }


def opening(step: str, announced: str | None = None) -> dict[str, Any]:
    return {
        "activity": "open_task",
        "input": {"step": step, "round": 1},
        "result": {"announced": announced},
    }


def test_a_batch_marker_gives_an_entry_for_each_write() -> None:
    batch = {
        "records": [
            {
                "activity": "record_skipped_step",
                "input": {"task": {"step": "party_transfer"}, "reason": "非党员"},
            },
            opening("registration", "county"),
            opening("welcome"),
        ]
    }
    history = {
        "events": [
            marker(7, "project", opening("archive_review", "county")),
            marker(12, PROJECT_ALL, batch),
        ]
    }
    entries = build_timeline(history, "return_home")
    assert [(e.event_id, e.kind, e.step) for e in entries] == [
        (7, "task_opened", "archive_review"),
        (12, "step_skipped", "party_transfer"),
        (12, "task_opened", "registration"),
        (12, "task_opened", "welcome"),
    ]
    assert entries[2].text.endswith("，通知 county")
