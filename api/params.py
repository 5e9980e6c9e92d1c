"""Bounds on everything a client sends: ids, offsets, dates and strings.

One module, so every route and page parses numbers, dates and text the same way and
bad input answers 422 (pages: their error page) instead of reaching the database
(SQLite and PostgreSQL refuse integers beyond 64 bits, PostgreSQL refuses NUL in
text, no encoder takes a lone surrogate) or the workflow engine.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator

# Database ids are 32-bit integers on PostgreSQL.
MAX_ID = 2**31 - 1
# Pagination: far beyond any list we hold, far below 64 bits.
MAX_OFFSET = 1_000_000_000
MAX_PAGE = 1_000_000
# Dates a client may filter by or enter: wide enough for every record, narrow enough
# that a day added or a time zone applied never leaves Python's date range.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2999, 12, 31)

_DIGITS = re.compile(r"[0-9]{1,18}")
# Control characters other than tab, newline and carriage return, and lone surrogates
# (UTF-16 halves that no UTF-8 encoder accepts).
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def bad_text_reason(value: str) -> str | None:
    """Why ``value`` cannot be stored (a control character or a lone surrogate), or
    None when it can."""
    found = _BAD_CHARS.search(value)
    if found is None:
        return None
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        return "文本含无效字符 (lone surrogate in text)"
    return f"文本含控制字符 (control character U+{ord(char):04X} in text)"


# Path and query parameters.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


def ascii_int(value: Any, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """``value`` as an int when it is plain ASCII digits within [low, high], else None.
    (``str.isdigit`` also accepts "²" and other digits ``int()`` refuses.)"""
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if low <= number <= high else None


def bounded_date(value: Any) -> date | None:
    """``value`` (YYYY-MM-DD) as a date within [MIN_DATE, MAX_DATE], else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return day if MIN_DATE <= day <= MAX_DATE else None


def check_date(value: date) -> date:
    """Validator for date fields of bodies and queries: within [MIN_DATE, MAX_DATE]."""
    if not MIN_DATE <= value <= MAX_DATE:
        raise ValueError(f"日期须在 {MIN_DATE} 至 {MAX_DATE} 之间 (date out of range)")
    return value


BoundedDate = Annotated[date, AfterValidator(check_date)]
