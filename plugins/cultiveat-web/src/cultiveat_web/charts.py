"""Bar charts as SVG markup rendered on the server (no chart library, no script).

Every label goes through ``escape``; the numbers are ints we format ourselves, so the
assembled markup is trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

from markupsafe import Markup, escape

WIDTH, BAR_HEIGHT, GAP, LABEL_WIDTH = 420, 22, 8, 120
_ids = count(1)


def _open(title: str, height: int, data: Sequence[tuple[str, int]]) -> list[str]:
    chart_id = f"chart-{next(_ids)}"
    summary = "; ".join(f"{label}: {value}" for label, value in data)
    return [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}">',
        f'<title id="{chart_id}">{escape(title)}</title>',
        f"<desc>{escape(summary)}</desc>",
    ]


def _text(x: float, y: float, text: object, css: str, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{css}">{escape(text)}</text>'
    )


def horizontal_bars(title: str, data: Sequence[tuple[str, int]]) -> Markup:
    """A labelled horizontal bar chart; ``title`` and ``desc`` speak to screen readers."""
    peak = max((value for _, value in data), default=0) or 1
    parts = _open(title, len(data) * (BAR_HEIGHT + GAP) + GAP, data)
    span = WIDTH - LABEL_WIDTH - 60
    for index, (label, value) in enumerate(data):
        y = GAP + index * (BAR_HEIGHT + GAP)
        bar = max(2, round(span * value / peak)) if value else 0
        parts.append(_text(LABEL_WIDTH - 8, y + 16, label[:18], "chart-label", "end"))
        parts.append(
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{bar}" height="{BAR_HEIGHT}" rx="4" '
            'class="chart-bar"/>'
        )
        parts.append(_text(LABEL_WIDTH + bar + 6, y + 16, value, "chart-value"))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped or numeric


def column_bars(title: str, data: Sequence[tuple[str, int]]) -> Markup:
    """Vertical bars (e.g. new contacts per month)."""
    height, bottom = 180, 24
    peak = max((value for _, value in data), default=0) or 1
    slot = WIDTH / max(1, len(data))
    parts = _open(title, height, data)
    for index, (label, value) in enumerate(data):
        bar = round((height - bottom - 20) * value / peak)
        x = index * slot + slot * 0.2
        middle = x + slot * 0.3
        parts.append(
            f'<rect x="{x:.1f}" y="{height - bottom - bar}" width="{slot * 0.6:.1f}" '
            f'height="{bar}" rx="3" class="chart-bar"/>'
        )
        parts.append(_text(middle, height - bottom - bar - 4, value, "chart-value", "middle"))
        parts.append(_text(middle, height - 6, label, "chart-label", "middle"))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped or numeric
