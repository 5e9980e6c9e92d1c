"""Sensitive form fields: masked wherever task data is read, like the ID number.

A step form marks a field ``json_schema_extra={"sensitive": True}`` (出入境 of the annual
report: a trace of whereabouts, 个人信息保护法 第二十八条). The task row keeps the form's
JSON Schema, so whoever reads a task's data masks it from that schema alone: no list
of field names anywhere. Readers whose role may see full ID numbers
(``Settings.unmask_role_set``) see these too, and each such read is audited.
"""

from __future__ import annotations

from typing import Any

MASK = "已隐藏"


def masked_value(value: Any) -> str:
    """What a reader without the role sees: `已隐藏(3条)` for a list, `已隐藏` else."""
    if isinstance(value, list | tuple):
        return f"{MASK}({len(value)}条)"
    return MASK


def _resolve(schema: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    """``prop`` with a ``$ref`` into ``$defs`` and an Optional's ``anyOf`` folded in."""
    branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        prop = {**branches[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
        prop = {**target, **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop


def _mask_object(
    schema: dict[str, Any],
    obj_schema: dict[str, Any],
    data: dict[str, Any],
    path: str,
    found: list[str],
) -> dict[str, Any]:
    out = dict(data)
    for name, raw in obj_schema.get("properties", {}).items():
        if name not in data:
            continue
        prop = _resolve(schema, raw)
        here = f"{path}{name}"
        if prop.get("sensitive"):
            out[name] = masked_value(data[name])
            found.append(here)
            continue
        value = data[name]
        items = _resolve(schema, prop.get("items", {})) if "items" in prop else {}
        if isinstance(value, dict) and prop.get("properties"):
            out[name] = _mask_object(schema, prop, value, f"{here}.", found)
        elif isinstance(value, list) and items.get("properties"):
            out[name] = [
                _mask_object(schema, items, v, f"{here}[{i}].", found)
                if isinstance(v, dict)
                else v
                for i, v in enumerate(value)
            ]
    return out


def mask_data(
    schema: dict[str, Any], data: dict[str, Any] | None
) -> tuple[dict[str, Any], list[str]]:
    """``data`` with every field the form schema marks sensitive masked, and the paths
    of the fields masked (``travel_abroad``, ``rows[0].note``). A field the data does
    not carry is not listed."""
    found: list[str] = []
    if not data:
        return dict(data or {}), found
    return _mask_object(schema, schema, data, "", found), found


def has_sensitive(schema: dict[str, Any]) -> bool:
    """Whether the form has any sensitive field (at any depth)."""

    def walk(node: Any) -> bool:
        if isinstance(node, dict):
            return node.get("sensitive") is True or any(walk(v) for v in node.values())
        if isinstance(node, list):
            return any(walk(v) for v in node)
        return False

    return walk(schema)


def sensitive_names(schema: dict[str, Any]) -> frozenset[str]:
    """The names of the fields the schema marks sensitive, at any depth (its own
    properties and those of the objects in its ``$defs``)."""
    names: set[str] = set()
    for obj in [schema, *schema.get("$defs", {}).values()]:
        for name, prop in obj.get("properties", {}).items():
            if _resolve(schema, prop).get("sensitive") is True:
                names.add(name)
    return frozenset(names)


def mask_named(value: Any, names: frozenset[str], found: list[str]) -> Any:
    """``value`` with every dict entry named in ``names`` masked, at any depth, for data
    no schema describes any more (a history's payloads, a step's context); the names
    masked are added to ``found``."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in names:
                out[k] = masked_value(v)
                found.append(k)
            else:
                out[k] = mask_named(v, names, found)
        return out
    if isinstance(value, list):
        return [mask_named(v, names, found) for v in value]
    return value
