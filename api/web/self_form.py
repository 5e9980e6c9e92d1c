"""The veteran's annual report (AnnualReportForm, 001 第九条) as a plain HTML form:
the values as typed (kept when the page comes back with errors), the form data they
make, and the errors by field, in Chinese.

Field names, stable for the browser tests: ``party_life``, ``associations`` (one per
line), ``travel_abroad-<i>-departed_on`` / ``-returned_on`` / ``-destination`` /
``-purpose`` (rows 0…n-1; an all-blank row is left out), ``rewards_punishments``,
``declaration`` (checkbox, ``on``), and the buttons ``action=submit`` /
``action=more_rows``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from api.web.forms import ERROR_TYPES
from models.processes.annual_review import AnnualReportForm

TRAVEL = "travel_abroad"
TRAVEL_FIELDS = ("departed_on", "returned_on", "destination", "purpose")
BLANK_ROWS = 5
MORE_ROWS = 5
# AnnualReportForm allows 50 journeys and 20 associations.
MAX_ROWS = 50
_ROW_FIELD = re.compile(rf"^{TRAVEL}-(\d{{1,2}})-([a-z_]+)$")

_MESSAGES = {
    **ERROR_TYPES,
    "missing": "此项为必填项",
    "too_long": "条目过多",
    "string_too_long": "内容过长",
    "date_from_datetime_inexact": "日期格式不正确，应为 年-月-日",
    "int_parsing": "格式不正确",
}
DECLARATION_REQUIRED = "须承诺所填信息真实"
_CJK = re.compile(r"[\u4e00-\u9fff]")
_ENGLISH_TAIL = re.compile(r"\s*\([A-Za-z][^()]*\)\s*$")


@dataclass
class ReportValues:
    """What the veteran typed, as text (the page shows it back unchanged)."""

    party_life: str = ""
    associations: str = ""
    rewards_punishments: str = ""
    declaration: bool = False
    travel: list[dict[str, str]] = field(default_factory=list)

    def padded(self, blank: int = BLANK_ROWS) -> list[dict[str, str]]:
        """The travel rows to show: those typed (blank ones included) and blank
        rows up to ``blank`` empty ones, at most MAX_ROWS."""
        rows = [dict(r) for r in self.travel]
        empty = sum(1 for r in rows if not any(r.values()))
        rows += [dict.fromkeys(TRAVEL_FIELDS, "") for _ in range(blank - empty)]
        return rows[:MAX_ROWS]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def values_from_form(form: FormData) -> ReportValues:
    """The typed values of a submitted page."""
    rows = 0
    for key in form:
        m = _ROW_FIELD.match(key)
        if m and m.group(2) in TRAVEL_FIELDS:
            rows = max(rows, int(m.group(1)) + 1)
    return ReportValues(
        party_life=_text(form, "party_life"),
        associations=_text(form, "associations"),
        rewards_punishments=_text(form, "rewards_punishments"),
        declaration=form.get("declaration") in ("on", "true", "1"),
        travel=[
            {f: _text(form, f"{TRAVEL}-{i}-{f}") for f in TRAVEL_FIELDS}
            for i in range(min(rows, MAX_ROWS))
        ],
    )


def values_from_report(data: dict[str, Any]) -> ReportValues:
    """The values of an earlier report (a correction round starts from it); the
    declaration is given anew."""
    return ReportValues(
        party_life=str(data.get("party_life", "")),
        associations="\n".join(str(a) for a in data.get("associations", [])),
        rewards_punishments=str(data.get("rewards_punishments", "")),
        travel=[
            {f: str(t.get(f) or "") for f in TRAVEL_FIELDS}
            for t in data.get(TRAVEL, [])
            if isinstance(t, dict)
        ],
    )


def report_data(values: ReportValues) -> tuple[dict[str, Any], list[int]]:
    """The form data the values make (blank rows left out), and for each journey
    the row of the page it came from."""
    data: dict[str, Any] = {"declaration": values.declaration}
    if values.party_life:
        data["party_life"] = values.party_life
    if values.rewards_punishments:
        data["rewards_punishments"] = values.rewards_punishments
    data["associations"] = [
        line.strip() for line in values.associations.splitlines() if line.strip()
    ]
    journeys, rows = [], []
    for i, row in enumerate(values.travel):
        if not any(row.values()):
            continue
        journey = {"destination": row["destination"], "purpose": row["purpose"]}
        for day in ("departed_on", "returned_on"):
            if row[day]:
                journey[day] = row[day]
        journeys.append(journey)
        rows.append(i)
    data[TRAVEL] = journeys
    return data, rows


def message_of(err: dict[str, Any]) -> str:
    """A field error in Chinese (our messages carry an English gloss: dropped)."""
    known = _MESSAGES.get(str(err.get("type", "")))
    if known:
        return known
    text = str(err.get("msg", "")).removeprefix("Value error, ")
    text = _ENGLISH_TAIL.sub("", text)
    return text if _CJK.search(text) else "填写有误，请检查"


def errors_by_field(
    errors: list[dict[str, Any]], rows: list[int], values: ReportValues
) -> tuple[dict[str, str], list[str]]:
    """Errors keyed by the page's field names (``loc`` relative to the form data;
    a leading ``body``/``data`` is skipped), and those about the whole form."""
    by_field: dict[str, str] = {}
    general: list[str] = []
    for err in errors:
        loc = list(err.get("loc", []))
        while loc and loc[0] in ("body", "data"):
            loc = loc[1:]
        text = message_of(err)
        name: str | None = None
        if not loc:
            name = None if values.declaration else "declaration"
        elif loc[0] == TRAVEL and len(loc) >= 2 and isinstance(loc[1], int):
            row = rows[loc[1]] if loc[1] < len(rows) else loc[1]
            name = f"{TRAVEL}-{row}-{loc[2]}" if len(loc) >= 3 else f"{TRAVEL}-{row}"
        elif loc[0] in ("party_life", "associations", "rewards_punishments"):
            name = str(loc[0])
        elif loc[0] == "declaration":
            name = "declaration"
        if name is None:
            general.append(text)
        else:
            by_field.setdefault(name, text)
    return by_field, general


def check_report(
    values: ReportValues,
) -> tuple[dict[str, Any] | None, dict[str, str], list[str]]:
    """(the report as the form dumps it, no errors) or (None, field errors, general
    errors): the same check the workflow's validator makes."""
    data, rows = report_data(values)
    try:
        report = AnnualReportForm.model_validate(data, context={"outcome": "submitted"})
    except ValidationError as e:
        errors = [
            {"loc": list(x["loc"]), "msg": x["msg"], "type": x["type"]}
            for x in e.errors(
                include_url=False, include_context=False, include_input=False
            )
        ]
        by_field, general = errors_by_field(errors, rows, values)
        if not values.declaration:
            # The form checks the declaration only once every field is valid: say
            # it now, so one round of corrections is enough.
            by_field.setdefault("declaration", DECLARATION_REQUIRED)
        return None, by_field, general
    return report.model_dump(mode="json"), {}, []
