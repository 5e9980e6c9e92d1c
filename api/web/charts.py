"""Server-rendered SVG bar charts (no chart library, nothing fetched from outside)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass
class Bar:
    label: str
    value: float
    colour: str = "#2b6cb0"
    href: str | None = None


def bar_chart(
    bars: list[Bar], *, width: int = 520, unit: str = "", label_width: int = 170
) -> str:
    """Horizontal bars, one per row, each optionally a link to the list behind it."""
    row_h, gap = 22, 6
    height = max(1, len(bars)) * (row_h + gap) + gap
    top = max((b.value for b in bars), default=0) or 1
    span = width - label_width - 60
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" style="width:100%;max-width:{width}px;height:auto" role="img">'
    ]
    for i, b in enumerate(bars):
        y = gap + i * (row_h + gap)
        w = max(2, int(span * b.value / top)) if b.value else 0
        value = f"{b.value:g}{unit}"
        bar = (
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end" font-size="12" fill="#1d2733">{escape(b.label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{w}" height="{row_h}" rx="3" fill="{b.colour}"/>'
            f'<text x="{label_width + w + 6}" y="{y + 15}" font-size="12" fill="#1d2733">{escape(value)}</text>'
        )
        out.append(f'<a href="{escape(b.href)}">{bar}</a>' if b.href else bar)
    out.append("</svg>")
    return "".join(out)
