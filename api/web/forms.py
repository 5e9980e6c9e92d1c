"""Step forms in the browser: fields from the form's JSON Schema, submitted values back
into the form's data, and validation errors in the clerk's language next to each field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from api.web.i18n import Translator

# 一次性告知 checklist (003 §6.1.2 a–h; 001 第七条 and [R:安置] materials of the return home).
STANDARD_MATERIALS = (
    "身份证",
    "户口簿",
    "退出现役证件",
    "行政介绍信",
    "党组织关系介绍信",
    "近期免冠照片",
    "学历证明",
    "立功受奖证件",
    "伤残证件",
    "养老保险关系转移接续信息表",
)
CHECKLIST_FIELDS = {"missing_materials", "defective_materials", "received_materials"}

ERROR_TYPES = {
    "missing": "此项为必填项",
    "string_too_short": "内容过短，请填写完整",
    "string_too_long": "内容过长",
    "too_short": "至少填写一项",
    "date_from_datetime_parsing": "日期格式不正确，应为 年-月-日",
    "date_parsing": "日期格式不正确，应为 年-月-日",
    "date_type": "日期格式不正确，应为 年-月-日",
    "bool_parsing": "应为“是”或“否”",
    "extra_forbidden": "不允许填写此项",
    "list_type": "格式不正确",
    "string_type": "格式不正确",
}


# Blank rows offered below a list of objects' filled rows (a trip abroad, a payroll
# line); a row left blank is dropped when the form comes back.
BLANK_ROWS = 2


@dataclass
class Field:
    name: str
    title: str
    # text | textarea | number | date | bool | list | checklist | select | rows
    kind: str
    required: bool
    value: Any = None
    options: list[str] = field(default_factory=list)
    # kind "rows" (a list of objects): the fields of one row, and the rows shown (the
    # values given, then blank rows up to the list's maximum).
    columns: list[Field] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    # A select's options in words (code → label, translated when shown); an option
    # without one shows as it is.
    labels: dict[str, str] = field(default_factory=dict)


def _resolved(
    prop: dict[str, Any], root: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The property with an Optional's ``anyOf`` (value or null) folded in: the non-null
    branch's type, format and enum, the property's own title, default and hints; and a
    ``$ref`` into the schema's ``$defs`` (a row's object) resolved."""
    branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        prop = {**branches[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
    ref = prop.get("$ref")
    if root is not None and isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
        prop = {**target, **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop


def _row_schema(prop: dict[str, Any], root: dict[str, Any]) -> dict[str, Any] | None:
    """The object schema of a list-of-objects property, or None."""
    if prop.get("type") != "array" or not isinstance(prop.get("items"), dict):
        return None
    items = _resolved(prop["items"], root)
    return items if items.get("properties") else None


def _checklist_options(
    name: str, prop: dict[str, Any], context: dict[str, Any]
) -> list[str] | None:
    """The boxes of a list field, or None for a plain list (one item per line)."""
    requested = context.get("requested_materials") or []
    if name == "received_materials" and requested:
        return [str(m) for m in requested]  # what the one-time notice asked for
    if isinstance(prop.get("x-options"), list):
        return [str(o) for o in prop["x-options"]]  # the form's own checklist
    if name in CHECKLIST_FIELDS:
        return list(STANDARD_MATERIALS)  # version-1 forms carry no x-options
    return None


def _kind(prop: dict[str, Any]) -> tuple[str, list[str]]:
    """The input a scalar property becomes, and a select's options."""
    if prop.get("type") == "boolean":
        return "bool", []
    if isinstance(prop.get("enum"), list):
        return "select", [str(v) for v in prop["enum"]]
    if prop.get("format") == "date":
        return "date", []
    if prop.get("type") in ("integer", "number"):
        return "number", []
    if (prop.get("maxLength") or 0) > 500:
        return "textarea", []
    return "text", []


def _scalar_fields(
    schema: dict[str, Any], root: dict[str, Any], values: dict[str, Any]
) -> list[Field]:
    required = set(schema.get("required", []))
    out = []
    for name, raw in schema.get("properties", {}).items():
        prop = _resolved(raw, root)
        kind, options = _kind(prop)
        out.append(
            Field(
                name,
                prop.get("title", name),
                kind,
                name in required,
                values.get(name, prop.get("default")),
                options,
                description=str(prop.get("description", "")),
            )
        )
    return out


def fields_of(
    schema: dict[str, Any], values: dict[str, Any], context: dict[str, Any]
) -> list[Field]:
    required = set(schema.get("required", []))
    out: list[Field] = []
    for name, raw in schema.get("properties", {}).items():
        prop = _resolved(raw, schema)
        kind, options = _kind(prop)
        columns: list[Field] = []
        rows: list[dict[str, Any]] = []
        value = values.get(name, prop.get("default"))
        row_schema = _row_schema(prop, schema)
        if row_schema is not None:
            kind, options = "rows", []
            columns = _scalar_fields(row_schema, schema, {})
            given = [v for v in value or [] if isinstance(v, dict)]
            most = int(prop.get("maxItems") or len(given) + BLANK_ROWS)
            rows = [*given, *[{}] * max(0, min(BLANK_ROWS, most - len(given)))]
        elif prop.get("type") == "array":
            kind = "list"
            boxes = _checklist_options(name, prop, context)
            if boxes is not None:
                kind, options = "checklist", boxes
        out.append(
            Field(
                name,
                prop.get("title", name),
                kind,
                name in required,
                value,
                options,
                columns,
                rows,
                description=str(prop.get("description", "")),
            )
        )
    return out


def _scalar_from_form(prop: dict[str, Any], key: str, form: FormData) -> Any:
    """One submitted scalar: a checkbox's state, else the text (None when empty)."""
    if prop.get("type") == "boolean":
        return form.get(key) in ("on", "true", "1")
    value = form.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _rows_from_form(
    name: str, row_schema: dict[str, Any], root: dict[str, Any], form: FormData
) -> list[dict[str, Any]]:
    """The rows of a list of objects (inputs ``<name>__<i>__<field>``), in order; a
    row with nothing filled in is dropped (an unticked box alone fills nothing)."""
    prefix = f"{name}__"
    indices = sorted(
        {
            int(parts[0])
            for key in form
            if key.startswith(prefix)
            and (parts := key.removeprefix(prefix).split("__", 1))[0].isdigit()
        }
    )
    rows = []
    for i in indices:
        row: dict[str, Any] = {}
        filled = False
        for sub, raw in row_schema.get("properties", {}).items():
            prop = _resolved(raw, root)
            value = _scalar_from_form(prop, f"{prefix}{i}__{sub}", form)
            if prop.get("type") == "boolean":
                row[sub] = value
                filled = filled or bool(value)
            elif value is not None:
                row[sub] = value
                filled = True
        if filled:
            rows.append(row)
    return rows


def data_from_form(schema: dict[str, Any], form: FormData) -> dict[str, Any]:
    """The step data from a submitted HTML form (lists: checked boxes plus one per line;
    lists of objects: the filled rows; selects and text: the value, left out when empty
    so "required" reads clearer)."""
    data: dict[str, Any] = {}
    for name, raw in schema.get("properties", {}).items():
        prop = _resolved(raw, schema)
        row_schema = _row_schema(prop, schema)
        if row_schema is not None:
            rows = _rows_from_form(name, row_schema, schema, form)
            if rows:
                data[name] = rows
        elif prop.get("type") == "array":
            checked = [
                v.strip()
                for v in form.getlist(name)
                if isinstance(v, str) and v.strip()
            ]
            extra = form.get(f"{name}__other")
            lines = (
                [ln.strip() for ln in extra.splitlines() if ln.strip()]
                if isinstance(extra, str)
                else []
            )
            items = [*checked, *[ln for ln in lines if ln not in checked]]
            if items:
                data[name] = items
        else:  # bool, text, textarea, number, date and select
            value = _scalar_from_form(prop, name, form)
            if value is not None:
                data[name] = value
    return data


def field_errors(
    errors: list[dict[str, Any]], tr: Translator
) -> tuple[dict[str, str], list[str]]:
    """Errors by field name, and the errors about the whole form, in the user's language."""
    by_field: dict[str, str] = {}
    general: list[str] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", [])]
        msg = ERROR_TYPES.get(str(err.get("type")), "")
        if not msg:
            raw = str(err.get("msg", ""))
            msg = raw.removeprefix("Value error, ")
        text = tr.gettext(msg)
        if loc[:1] == ["data"] and len(loc) >= 2:
            if len(loc) >= 3 and loc[2].isdigit():  # a row of a list of objects
                text = tr.gettext("第{n}行", n=int(loc[2]) + 1) + ": " + text
            by_field.setdefault(loc[1], text)
        elif loc[:1] == ["outcome"]:
            general.append(text)
        else:
            general.append(text)
    return by_field, general
