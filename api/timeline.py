"""A case's timeline in words, read from its Temporal history (live or archived).

Auditors see who did what and when: the history is the source of truth, so the
timeline is built from its events, not from the projection tables.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from pydantic import BaseModel

from models.contracts import PROJECT, PROJECT_ALL
from models.process_spec import OUTCOME_LABELS, ProcessSpec
from models.processes import PROCESSES

UPDATE_VERBS = {
    "complete_task": "办结",
    "claim_task": "认领",
    "unclaim_task": "退回待认领",
    "reassign_task": "转派",
}
OUTCOME_WORDS = {
    "approve": "通过",
    "return_for_correction": "退回补正",
    "return": "退回",
    "submitted": "已提交",
    "done": "已办结",
    "not_applicable": "不适用",
}
# The core SDK's marker of a local activity (activities.projection has the same).
LOCAL_ACTIVITY_MARKER = "core_local_activity"
# How a step the veteran holds was completed (TimelineEntry.via).
ONLINE, ON_BEHALF = "online", "on_behalf"
VETERAN_PREFIX = "veteran:"


def _outcome_words(outcome: str | None) -> str:
    if not outcome:
        return ""
    return OUTCOME_WORDS.get(outcome) or OUTCOME_LABELS.get(outcome, outcome)


class TimelineEntry(BaseModel):
    at: str
    event_id: int
    kind: str
    step: str | None = None
    step_title: str | None = None
    actor: str | None = None
    outcome: str | None = None
    text: str
    comment: str | None = None
    # A step the veteran holds: ``online`` (the veteran through the self-service
    # link) or ``on_behalf`` (a clerk for them, 帮办代报); None for other steps.
    via: str | None = None


def _payloads(holder: dict[str, Any] | None) -> list[Any]:
    out: list[Any] = []
    for p in (holder or {}).get("payloads", []):
        try:
            out.append(json.loads(base64.b64decode(p.get("data", "")).decode("utf-8")))
        except (ValueError, UnicodeDecodeError):
            out.append(None)
    return out


def _first(holder: dict[str, Any] | None) -> Any:
    values = _payloads(holder)
    return values[0] if values else None


def _step_of(task_id: str) -> str:
    parts = task_id.rsplit(".", 2)
    return parts[-2] if len(parts) == 3 else task_id


def build_timeline(history: dict[str, Any], process: str) -> list[TimelineEntry]:
    """Turn an exported history (``WorkflowHistory.to_json`` as a dict) into entries."""
    spec = PROCESSES.get(process)
    held = _veteran_steps(spec)

    def title(step: str | None) -> str | None:
        if step is None or spec is None:
            return step
        try:
            return spec.step(step).title
        except KeyError:
            return step

    entries: list[TimelineEntry] = []
    for ev in history.get("events", []):
        at = ev.get("eventTime", "")
        eid = int(ev.get("eventId", 0))
        etype = ev.get("eventType", "")
        for entry in _described(etype, ev, title):
            if entry.get("kind") == "task_completed":
                entry = _by_whom(entry, held)
            elif entry.get("kind") == "status":
                entry["text"] = f"案件状态: {_status_words(spec, entry.pop('status'))}"
            entries.append(TimelineEntry(at=at, event_id=eid, **entry))
    return entries


def _described(etype: str, ev: dict[str, Any], title: Any) -> list[dict[str, Any]]:
    """The entries one event gives: none, one, or (engine 0.10's ``project_all``
    marker) one for each write it records, in their order."""
    if etype == "EVENT_TYPE_MARKER_RECORDED":
        attrs = ev.get("markerRecordedEventAttributes", {})
        details = attrs.get("details", {})
        if (
            attrs.get("markerName") == LOCAL_ACTIVITY_MARKER
            and (_first(details.get("data")) or {}).get("activity_type") == PROJECT_ALL
        ):
            batch = _first(details.get("result")) or {}
            found = [
                _describe_activity(
                    str(record.get("activity", "")),
                    record.get("input") or {},
                    title,
                    record.get("result"),
                )
                for record in batch.get("records", [])
                if isinstance(record, dict)
            ]
            return [entry for entry in found if entry is not None]
    entry = _describe(etype, ev, title)
    return [] if entry is None else [entry]


def _describe(etype: str, ev: dict[str, Any], title: Any) -> dict[str, Any] | None:
    if etype == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED":
        inp = _first(ev["workflowExecutionStartedEventAttributes"].get("input")) or {}
        return {
            "kind": "started",
            "actor": inp.get("started_by"),
            "text": "案件受理，流程开始",
        }
    if etype == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED":
        attrs = ev["activityTaskScheduledEventAttributes"]
        name = attrs.get("activityType", {}).get("name", "")
        inp = _first(attrs.get("input")) or {}
        return _describe_activity(name, inp, title)
    if etype == "EVENT_TYPE_MARKER_RECORDED":
        # A projection write run as a local activity (cases started after the patch
        # local-projection): its result records the write's name and input.
        attrs = ev.get("markerRecordedEventAttributes", {})
        if attrs.get("markerName") != LOCAL_ACTIVITY_MARKER:
            return None
        details = attrs.get("details", {})
        meta = _first(details.get("data")) or {}
        record = _first(details.get("result")) or {}
        if meta.get("activity_type") != PROJECT or not isinstance(record, dict):
            return None
        return _describe_activity(
            str(record.get("activity", "")),
            record.get("input") or {},
            title,
            record.get("result"),
        )
    if etype == "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED":
        attrs = ev["workflowExecutionUpdateAcceptedEventAttributes"]
        req = attrs.get("acceptedRequest", {}).get("input", {})
        name = req.get("name", "")
        inp = _first(req.get("args")) or {}
        return _describe_update(name, inp, title)
    if etype == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED":
        return {"kind": "closed", "text": "流程办结"}
    if etype == "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED":
        reason = ev.get("workflowExecutionTerminatedEventAttributes", {}).get(
            "reason", ""
        )
        return {"kind": "terminated", "text": f"流程被终止: {reason}"}
    if etype == "EVENT_TYPE_WORKFLOW_EXECUTION_FAILED":
        return {"kind": "failed", "text": "流程异常结束"}
    return None


def _describe_activity(
    name: str, inp: dict[str, Any], title: Any, result: Any = None
) -> dict[str, Any] | None:
    if name == "open_task":
        step = inp.get("step")
        rnd = inp.get("round", 1)
        suffix = f"(第{rnd}轮)" if rnd and rnd > 1 else ""
        # Engine 0.9: the opening also queued the holder's notice.
        told = result.get("announced") if isinstance(result, dict) else None
        return {
            "kind": "task_opened",
            "step": step,
            "step_title": title(step),
            "text": f"待办生成: {title(step)}{suffix}"
            + (f"，通知 {told}" if told else ""),
        }
    if name == "record_skipped_step":
        step = inp.get("task", {}).get("step")
        return {
            "kind": "step_skipped",
            "step": step,
            "step_title": title(step),
            "text": f"环节跳过: {title(step)} — {inp.get('reason', '')}",
        }
    if name == "escalate_task":
        step = _step_of(inp.get("task_id", ""))
        return {
            "kind": "overdue",
            "step": step,
            "step_title": title(step),
            "text": f"超期: {title(step)}，已通知上级",
        }
    if name == "queue_notice":  # the outbox (engine notice-outbox)
        inp = inp.get("notice") or {}
        name = "send_notice"
    if name == "send_notice":
        who = (
            "退役军人"
            if inp.get("recipient_type") == "veteran"
            else inp.get("recipient")
        )
        return {"kind": "notice", "text": f"发送通知({inp.get('kind')}) 至 {who}"}
    if name == "set_case_status":
        status = inp.get("status")
        return {"kind": "status", "status": status, "text": f"案件状态: {status}"}
    if name == "close_task" and inp.get("status") == "withdrawn":
        step = _step_of(inp.get("task_id", ""))
        return {
            "kind": "task_withdrawn",
            "step": step,
            "step_title": title(step),
            "text": f"待办撤回: {title(step)}(无需再办)",
        }
    if name == "recompute_due" and inp.get("moved"):
        step = _step_of(inp.get("task_id", ""))
        return {
            "kind": "deadline_moved",
            "step": step,
            "step_title": title(step),
            "text": f"时限调整: {title(step)}",
        }
    return None


def _veteran_steps(spec: ProcessSpec | None) -> set[str]:
    return {s.key for s in spec.steps if s.holder == "veteran"} if spec else set()


def _status_words(spec: ProcessSpec | None, status: str | None) -> str:
    if status == "closed":
        return "已办结"
    if spec is not None and status in spec.status_labels:
        return spec.status_labels[status]
    return str(status)


def _by_whom(entry: dict[str, Any], held: set[str]) -> dict[str, Any]:
    """A step the veteran holds says who did it: the veteran online, or a clerk for
    them (帮办代报)."""
    if entry.get("step") not in held:
        return entry
    actor = str(entry.get("actor") or "")
    words = _outcome_words(entry.get("outcome"))
    if actor.startswith(VETERAN_PREFIX):
        text = f"退役军人本人在线报送 {entry['step_title']}: {words}"
        return {**entry, "via": ONLINE, "text": text}
    text = f"{actor} 帮办代报 {entry['step_title']}: {words}"
    return {**entry, "via": ON_BEHALF, "text": text}


def _describe_update(
    name: str, inp: dict[str, Any], title: Any
) -> dict[str, Any] | None:
    verb = UPDATE_VERBS.get(name)
    if verb is None:
        return None
    step = _step_of(inp.get("task_id", ""))
    actor = (inp.get("actor") or {}).get("username")
    if name == "complete_task":
        outcome = inp.get("outcome")
        return {
            "kind": "task_completed",
            "step": step,
            "step_title": title(step),
            "actor": actor,
            "outcome": outcome,
            "comment": inp.get("comment") or None,
            "text": f"{actor} 办理 {title(step)}: {_outcome_words(outcome)}",
        }
    if name == "reassign_task":
        target = (inp.get("target") or {}).get("username")
        return {
            "kind": "task_reassigned",
            "step": step,
            "step_title": title(step),
            "actor": actor,
            "comment": inp.get("reason") or None,
            "text": f"{actor} 将 {title(step)} 转派给 {target}，原因: {inp.get('reason', '')}",
        }
    return {
        "kind": f"task_{name.removesuffix('_task')}",
        "step": step,
        "step_title": title(step),
        "actor": actor,
        "text": f"{actor} {verb} {title(step)}",
    }
