"""Chinese first, English second: message catalogs (Babel .po files under api/locale)
and locale-aware dates and numbers.

Message ids are the Chinese texts themselves, so zh-CN needs no catalog; English comes
from api/locale/en/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent

from models.workdays import TZ

LOCALES = ("zh-CN", "en")
# Patterns of digits only, the same in every locale, written without Babel (~12 µs a
# date, 50 dates on an inbox page) as Babel writes them: an ISO date and time, the
# time to the minute or second (pattern -> isoformat's timespec and length).
NUMERIC_PATTERNS = {
    "yyyy-MM-dd HH:mm": ("minutes", 16),
    "yyyy-MM-dd HH:mm:ss": ("seconds", 19),
}
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


@cache
def _catalog(locale: str) -> dict[str, str]:
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as f:
        catalog = read_po(f)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


@cache
def _babel_locale(name: str) -> Locale:
    """One parsed Locale per name: parsing one per formatted date cost ~70 µs, 100 on
    an inbox page."""
    return Locale.parse(name)


def negotiate(accept_language: str | None, account_locale: str | None = None) -> str:
    """The account's choice, else the browser's preference between zh-CN and en."""
    if account_locale in LOCALES:
        return str(account_locale)
    if accept_language:
        best = Locale.negotiate(
            [
                p.split(";")[0].strip().replace("-", "_")
                for p in accept_language.split(",")
            ],
            ["zh_CN", "en"],
            sep="_",
        )
        if best is not None and best.language == "en":
            return "en"
    return "zh-CN"


class Translator:
    """``_()`` in templates and code, plus dates and numbers in the user's locale."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in LOCALES else "zh-CN"
        self.babel_locale = _babel_locale("en" if self.locale == "en" else "zh_CN")
        self._messages = _catalog(self.locale) if self.locale != "zh-CN" else {}

    def gettext(self, message: str, **params: Any) -> str:
        text = self._messages.get(message, message)
        return text.format(**params) if params else text

    def datetime(self, value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
        if value is None:
            return "—"
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        numeric = NUMERIC_PATTERNS.get(fmt)
        if numeric is not None:
            timespec, length = numeric
            return value.astimezone(TZ).isoformat(" ", timespec)[:length]
        return format_datetime(value, fmt, tzinfo=TZ, locale=self.babel_locale)

    def iso(self, value: str) -> str:
        """An RFC 3339 time from a Temporal history, in Beijing time."""
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return self.datetime(parsed, "yyyy-MM-dd HH:mm:ss")

    def number(self, value: float | int) -> str:
        return format_decimal(value, locale=self.babel_locale)

    def percent(self, value: float | None) -> str:
        return (
            "—"
            if value is None
            else format_percent(value, "#,##0.0%", locale=self.babel_locale)
        )

    def functions(self) -> dict[str, Callable[..., str]]:
        return {
            "_": self.gettext,
            "fmt_dt": self.datetime,
            "fmt_iso": self.iso,
            "fmt_num": self.number,
            "fmt_pct": self.percent,
        }
