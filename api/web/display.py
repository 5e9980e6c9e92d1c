"""Task data and context in words, for the task and case pages, driven by the step
definitions: a field's title comes from the step's form schema, a context value's
from the same-named field of a form of the process (or the same-named step).
Sensitive values arrive masked already (api/task_reads.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.process_spec import ProcessSpec, StepSpec
from models.processes import spec_of
from models.sensitive import mask_named, sensitive_names


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
    # The payroll's list and counts (monthly_pay)
    "veterans": _("本月发放名单"),
    "count": _("名单人数"),
    "paid_count": _("发放人数"),
    "held_count": _("暂缓人数"),
    "name": _("姓名"),
    "station": _("服务站"),
    "id_number_masked": _("身份证号"),
    "review_label": _("年度登记审核"),
    "review_case_id": _("审核案件"),
    "approved_by": _("批准人"),
    "prepared_by": _("编制人"),
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


def _table(
    value: list[dict[str, Any]],
    sub: dict[str, Any],
    titles: dict[str, str],
) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of a list of objects: the row form's fields first, in its
    order and titles, then any other key the rows carry (titled by ``titles``)."""
    keys = list(sub)
    for row in value:
        keys += [k for k in row if k not in keys]
    # A state that comes with its words (``review_state`` and ``review_label``):
    # the words only.
    keys = [
        k for k in keys if not k.endswith("_state") or f"{k[:-6]}_label" not in keys
    ]
    columns = [sub[k].get("title", k) if k in sub else titles.get(k, k) for k in keys]
    return columns, [[words(row.get(k)) for k in keys] for row in value]


def _shown(
    schema: dict[str, Any],
    name: str,
    title: str,
    prop: dict[str, Any],
    value: Any,
    titles: dict[str, str] | None = None,
) -> Shown:
    items = _resolve(schema, prop.get("items", {})) if "items" in prop else {}
    sub = items.get("properties") or {}
    rows = isinstance(value, list) and all(isinstance(v, dict) for v in value)
    if rows and (sub or value):
        columns, cells = _table(value, sub, titles or {})
        return Shown(
            name, title, text="" if value else "—", columns=columns, rows=cells
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


def _titles(
    spec: ProcessSpec | None,
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Every field of the process's forms (steps, start, and the objects of their
    rows) by name, with its schema: what titles a context value of that name."""
    fields: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    forms = [s.form for s in _forms(spec)] + ([spec.start_form] if spec else [])
    for form in forms:
        schema = form.model_json_schema()
        for obj in [schema, *schema.get("$defs", {}).values()]:
            for n, p in obj.get("properties", {}).items():
                fields.setdefault(n, (schema, _resolve(schema, p)))
    return fields


def context_shown(spec: ProcessSpec | None, context: dict[str, Any]) -> list[Shown]:
    """What the step is told (its context), each value titled by the same-named field
    of a form of the process, or by the same-named step (whose form then titles the
    value's fields); a field any form of the process marks sensitive is masked."""
    steps = {s.key: s for s in _forms(spec)}
    fields = _titles(spec)
    titles = {n: str(p.get("title", n)) for n, (_, p) in fields.items()}
    titles = {**CONTEXT_LABELS, **titles}
    names = frozenset(
        n
        for step in steps.values()
        for n in sensitive_names(step.form.model_json_schema())
    )
    context = mask_named(context, names, [])
    out: list[Shown] = []
    for name, value in context.items():
        if name in OWN_LINES or value is None or value == "" or value == []:
            continue
        if name in steps and isinstance(value, dict):
            schema = steps[name].form.model_json_schema()
            shown = data_shown(schema, value)
            text = "；".join(f"{s.title}: {s.text}" for s in shown)
            out.append(Shown(name, steps[name].title, text=text))
        elif name.endswith("_by") and isinstance(value, str):
            out.append(Shown(name, titles.get(name, name), text=value, actor=value))
        elif name.endswith("_task") and isinstance(value, str):
            out.append(Shown(name, titles.get(name, name), text=value, link=value))
        elif name in fields:
            schema, prop = fields[name]
            out.append(_shown(schema, name, titles[name], prop, value, titles))
        else:
            out.append(_shown({}, name, titles.get(name, name), {}, value, titles))
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
