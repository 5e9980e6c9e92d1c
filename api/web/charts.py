"""Server-rendered SVG bar charts (no chart library, nothing fetched from outside).

Each chart is an image with a name and a table behind it (WCAG 2.1 SC 1.1.1 non-text
content, SC 1.3.1; GB/T 37668-2019 §7.1.1): the ``<svg>`` has ``role="img"``, its
``<title>`` names it (``aria-labelledby``) and ``aria-describedby`` points at a table
with the same figures — the page's own table when it has one (``described_by``), else
one drawn here in a ``<details>`` under the chart (open when its rows are links). The bars are not links (an image's
content is not operable, and a link inside one is an interactive element nested in
another, axe ``nested-interactive``): where a bar leads to the list behind it, the
link is in the table's row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape


@dataclass
class Bar:
    label: str
    value: float
    colour: str = "#2b6cb0"
    href: str | None = None


def bar_chart(
    bars: list[Bar],
    *,
    title: str,
    chart_id: str,
    gettext: Callable[[str], str] = str,
    item_header: str = "",
    value_header: str = "",
    described_by: str | None = None,
    width: int = 520,
    unit: str = "",
    label_width: int = 170,
) -> str:
    """Horizontal bars, one per row, and the table with the same figures (unless
    ``described_by`` names a table on the page that has them)."""
    row_h, gap = 22, 6
    height = max(1, len(bars)) * (row_h + gap) + gap
    top = max((b.value for b in bars), default=0) or 1
    span = width - label_width - 60
    table_id = described_by or f"{chart_id}-data"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" viewBox="0 0 {width} {height}"'
        f' style="width:100%;max-width:{width}px;height:auto" role="img"'
        f' aria-labelledby="{chart_id}-title" aria-describedby="{table_id}">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
    ]
    for i, b in enumerate(bars):
        y = gap + i * (row_h + gap)
        w = max(2, int(span * b.value / top)) if b.value else 0
        value = f"{b.value:g}{unit}"
        out.append(
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end" font-size="12" fill="#1d2733">{escape(b.label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{w}" height="{row_h}" rx="3" fill="{b.colour}"/>'
            f'<text x="{label_width + w + 6}" y="{y + 15}" font-size="12" fill="#1d2733">{escape(value)}</text>'
        )
    out.append("</svg>")
    if described_by is None:
        out.append(
            _table(bars, table_id, title, item_header, value_header, unit, gettext)
        )
    return "".join(out)


def _table(
    bars: list[Bar],
    table_id: str,
    title: str,
    item_header: str,
    value_header: str,
    unit: str,
    gettext: Callable[[str], str],
) -> str:
    rows = "".join(
        '<tr><th scope="row">'
        + (
            f'<a href="{escape(b.href)}">{escape(b.label)}</a>'
            if b.href
            else escape(b.label)
        )
        + f"</th><td>{escape(f'{b.value:g}{unit}')}</td></tr>"
        for b in bars
    )
    opened = " open" if any(b.href for b in bars) else ""
    show = escape(gettext("数据表"))
    opened = " open" if any(b.href for b in bars) else ""
    show = escape(gettext("数据表"))
    return (
        f'<details class="chart-data"{opened}>'
        f"<summary>{show}</summary>"
        f'<table id="{table_id}"><caption>{escape(title)}</caption>'
        f'<thead><tr><th scope="col">{escape(item_header)}</th>'
        f'<th scope="col">{escape(value_header)}</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></details>"
    )
