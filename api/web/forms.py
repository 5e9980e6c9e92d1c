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


@dataclass
class Field:
    name: str
    title: str
    kind: str  # text | textarea | date | bool | list | checklist | select
    required: bool
    value: Any = None
    options: list[str] = field(default_factory=list)


def _resolved(prop: dict[str, Any]) -> dict[str, Any]:
    """The property with an Optional's ``anyOf`` (value or null) folded in: the non-null
    branch's type, format and enum, the property's own title, default and hints."""
    branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) != 1:
        return prop
    return {**branches[0], **{k: v for k, v in prop.items() if k != "anyOf"}}


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


def fields_of(
    schema: dict[str, Any], values: dict[str, Any], context: dict[str, Any]
) -> list[Field]:
    required = set(schema.get("required", []))
    out: list[Field] = []
    for name, raw in schema.get("properties", {}).items():
        prop = _resolved(raw)
        kind = "text"
        options: list[str] = []
        if prop.get("type") == "boolean":
            kind = "bool"
        elif prop.get("type") == "array":
            kind = "list"
            boxes = _checklist_options(name, prop, context)
            if boxes is not None:
                kind, options = "checklist", boxes
        elif isinstance(prop.get("enum"), list):
            kind, options = "select", [str(v) for v in prop["enum"]]
        elif prop.get("format") == "date":
            kind = "date"
        elif (prop.get("maxLength") or 0) > 500:
            kind = "textarea"
        out.append(
            Field(
                name,
                prop.get("title", name),
                kind,
                name in required,
                values.get(name, prop.get("default")),
                options,
            )
        )
    return out


def data_from_form(schema: dict[str, Any], form: FormData) -> dict[str, Any]:
    """The step data from a submitted HTML form (lists: checked boxes plus one per line;
    selects and text: the value, left out when empty so "required" reads clearer)."""
    data: dict[str, Any] = {}
    for name, raw in schema.get("properties", {}).items():
        prop = _resolved(raw)
        if prop.get("type") == "array":
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
        elif prop.get("type") == "boolean":
            data[name] = form.get(name) in ("on", "true", "1")
        else:  # text, textarea, date and select
            value = form.get(name)
            if isinstance(value, str) and value.strip():
                data[name] = value.strip()
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
            by_field.setdefault(loc[1], text)
        elif loc[:1] == ["outcome"]:
            general.append(text)
        else:
            general.append(text)
    return by_field, general
