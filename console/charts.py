"""Charts as SVG drawn on the server: no JavaScript, no CDN, nothing for the
Content-Security-Policy to allow. Colours come from console.css through the series' classes;
every bar and point has a <title>, which browsers show on hover.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 520, 210
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 12, 26
GRID_LINES = 4
LABEL_EVERY = 3  # an x label every third slot


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    css: str  # series-a, series-b, ...: the colour in console.css


def nice_ceiling(value: float) -> float:
    """The next 1, 2, 2.5 or 5 times a power of ten at or above `value` (the axis top)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _frame(
    *, chart_id: str, title: str, top: float, labels: Sequence[str], fmt: Callable[[float], str]
) -> list[str]:
    parts = [
        f'<svg class="chart" data-chart="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    plot_height = HEIGHT - TOP - BOTTOM
    for index in range(GRID_LINES + 1):
        value = top * index / GRID_LINES
        y = TOP + plot_height * (1 - index / GRID_LINES)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(value))}</text>"
        )
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    for index, label in enumerate(labels):
        if index % LABEL_EVERY == 0 or index == len(labels) - 1:
            x = LEFT + slot * (index + 0.5)
            parts.append(
                f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    return parts


def _legend(series: Sequence[Series]) -> str:
    items = "".join(
        str(
            format_html(
                '<span class="legend-item"><i class="swatch {}"></i>{}</span>', s.css, s.name
            )
        )
        for s in series
    )
    return f'<div class="legend">{items}</div>'


def _y(value: float, top: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - min(value, top) / top)


def bar_chart(
    *,
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
) -> SafeString:
    """Grouped bars: one group per label, one bar per series."""
    top = nice_ceiling(max((v or 0 for s in series for v in s.values), default=0))
    parts = _frame(chart_id=chart_id, title=title, top=top, labels=labels, fmt=fmt)
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    bar = slot * 0.8 / max(1, len(series))
    for s_index, s in enumerate(series):
        for index, value in enumerate(s.values):
            value = value or 0
            x = LEFT + slot * index + slot * 0.1 + bar * s_index
            y = _y(value, top)
            parts.append(
                f'<rect class="bar {s.css}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{HEIGHT - BOTTOM - y:.1f}"><title>{escape(labels[index])}: '
                f"{escape(fmt(value))} {escape(s.name.lower())}</title></rect>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts) + _legend(series))


def line_chart(
    *,
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
) -> SafeString:
    """Lines with a dot per known value; a missing value (None) breaks the line."""
    top = nice_ceiling(max((v for s in series for v in s.values if v is not None), default=0))
    parts = _frame(chart_id=chart_id, title=title, top=top, labels=labels, fmt=fmt)
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    for s in series:
        path: list[str] = []
        pen_down = False
        dots = []
        for index, value in enumerate(s.values):
            if value is None:
                pen_down = False
                continue
            x, y = LEFT + slot * (index + 0.5), _y(value, top)
            path.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
            pen_down = True
            dots.append(
                f'<circle class="dot {s.css}" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                f"<title>{escape(labels[index])}: {escape(fmt(value))} "
                f"({escape(s.name)})</title></circle>"
            )
        if path:
            parts.append(f'<path class="line {s.css}" d="{" ".join(path)}"/>')
        parts.extend(dots)
    parts.append("</svg>")
    return mark_safe("".join(parts) + _legend(series))


def duration(seconds: float) -> str:
    """Short human durations for axes and labels: 850 ms, 12 s, 4.5 min, 2.1 h, 3.0 d."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
