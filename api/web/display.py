"""Task data and context in words, for the task and case pages, driven by the step
definitions: a field's title comes from the step's form schema, a context value's
from the same-named field of a form of the process (or the same-named step).
Sensitive values arrive masked already (api/task_reads.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.process_spec import ProcessSpec, StepSpec
from models.processes import spec_of
from models.sensitive import mask_data


def _(text: str) -> str:
    """Marks a text for the English catalog; the page translates it when shown."""
    return text


# Context keys the engine writes itself (not form fields of any step).
CONTEXT_LABELS = {
    "year": _("年度"),
    "round": _("轮次"),
    "submitted_by": _("报送人"),
    "due_at": _("原定时限"),
    "report_task": _("报送内容"),
    "travel_abroad_count": _("出入境记录条数"),
}
# Shown by the task page's own lines (return home): not repeated in the generic list.
OWN_LINES = {
    "sending_unit",
    "requested_materials",
    "returned_reasons",
    "received_materials",
}
YES, NO = "是", "否"


@dataclass
class Shown:
    """One value in words: plain text, a table (a list of objects), or a link."""

    name: str
    title: str
    text: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    link: str = ""  # a task id: links to its page
    actor: str = ""  # a user name or `veteran:<id>`: shown as who did it


def _resolve(schema: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        prop = {**branches[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
        prop = {**target, **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop


def words(value: Any) -> str:
    """A scalar or a list of scalars in words."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, list):
        return "、".join(words(v) for v in value) if value else "—"
    if isinstance(value, dict):
        return "；".join(f"{k}: {words(v)}" for k, v in value.items())
    return str(value)


def _shown(
    schema: dict[str, Any], name: str, title: str, prop: dict[str, Any], value: Any
) -> Shown:
    items = _resolve(schema, prop.get("items", {})) if "items" in prop else {}
    sub = items.get("properties") if isinstance(items, dict) else None
    if isinstance(value, list) and sub and all(isinstance(v, dict) for v in value):
        keys = list(sub)
        return Shown(
            name,
            title,
            text="" if value else "—",
            columns=[sub[k].get("title", k) for k in keys],
            rows=[[words(v.get(k)) for k in keys] for v in value],
        )
    return Shown(name, title, text=words(value))


def data_shown(schema: dict[str, Any], data: dict[str, Any]) -> list[Shown]:
    """A step's submitted data, field by field in the form's order and titles."""
    props = schema.get("properties", {})
    out = [
        _shown(
            schema, n, _resolve(schema, p).get("title", n), _resolve(schema, p), data[n]
        )
        for n, p in props.items()
        if n in data
    ]
    out += [Shown(n, n, text=words(v)) for n, v in data.items() if n not in props]
    return out


def _forms(spec: ProcessSpec | None) -> list[StepSpec]:
    return list(spec.steps) if spec else []


def context_shown(spec: ProcessSpec | None, context: dict[str, Any]) -> list[Shown]:
    """What the step is told (its context), each value titled by the same-named field
    of a form of the process, or by the same-named step (whose form then titles the
    value's fields); a field a form marks sensitive is masked here too."""
    steps = {s.key: s for s in _forms(spec)}
    fields: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for step in steps.values():
        schema = step.form.model_json_schema()
        for n, p in schema.get("properties", {}).items():
            fields.setdefault(n, (schema, _resolve(schema, p)))
    out: list[Shown] = []
    for name, value in context.items():
        if name in OWN_LINES or value is None or value == "" or value == []:
            continue
        if name in steps and isinstance(value, dict):
            schema = steps[name].form.model_json_schema()
            masked, _ = mask_data(schema, value)
            shown = data_shown(schema, masked)
            text = "；".join(f"{s.title}: {s.text}" for s in shown)
            out.append(Shown(name, steps[name].title, text=text))
        elif name in fields:
            schema, prop = fields[name]
            if prop.get("sensitive"):
                masked, _ = mask_data(schema, {name: value})
                value = masked[name]
            out.append(_shown(schema, name, prop.get("title", name), prop, value))
        elif name.endswith("_by") and isinstance(value, str):
            title = CONTEXT_LABELS.get(name, name)
            out.append(Shown(name, title, text=value, actor=value))
        elif name.endswith("_task") and isinstance(value, str):
            out.append(
                Shown(name, CONTEXT_LABELS.get(name, name), text=value, link=value)
            )
        else:
            out.append(Shown(name, CONTEXT_LABELS.get(name, name), text=words(value)))
    return out


def is_veteran_actor(username: str | None) -> bool:
    """The veteran themselves (through the self-service link), not a clerk."""
    return bool(username) and str(username).startswith("veteran:")


def case_status(process: str, status: str, version: int | None = None) -> str:
    """A case's status in words: 办理中 / 已办结, or the process's own word for a status
    it keeps while running (the annual review's 补正中)."""
    if status == "closed":
        return "已办结"
    spec = spec_of(process, version)
    if spec is not None and status in spec.status_labels:
        return spec.status_labels[status]
    return "办理中"
