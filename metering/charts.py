"""Small SVG charts rendered on the server: the admin needs no JavaScript library
and no CDN."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

# The viewBox is about as wide as the chart is drawn (a card of the admin's pages),
# so that the SVG scales little and its 13-unit labels read as 11–14 px text.
WIDTH, HEIGHT = 560, 230
LABELS = 6  # day labels under the bars; more would touch at the narrowest card


def _short(label: str) -> str:
    """"2026-11-30" → "Nov 30"; other labels as they are."""
    try:
        day = dt.date.fromisoformat(label)
    except ValueError:
        return label
    return f"{day:%b} {day.day}"


def bar_chart(
    points: Sequence[tuple[str, float]],
    title: str,
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
    colour: str = "#417690",
) -> SafeString:
    """Vertical bars, one per point; each bar has a tooltip with its label and value."""
    # The peak's value is written above the plot, left-aligned: however long it is,
    # it never runs off the SVG's left edge.
    pad_left, pad_right, pad_bottom, pad_top = 30, 12, 36, 34
    plot_w, plot_h = WIDTH - pad_left - pad_right, HEIGHT - pad_bottom - pad_top
    top = max((value for _, value in points), default=0)
    peak = top or 1  # the scale of an all-zero chart
    step = plot_w / max(len(points), 1)
    bars = []
    for i, (label, value) in enumerate(points):
        bar_h = plot_h * max(value, 0) / peak
        x = pad_left + i * step
        y = pad_top + plot_h - bar_h
        bars.append(
            f'<rect x="{x + step * 0.1:.1f}" y="{y:.1f}" width="{max(step * 0.8, 1):.1f}" height="{bar_h:.1f}" '
            f'fill="{colour}"><title>{escape(label)}: {escape(fmt(value))}</title></rect>'
        )
    labels = []
    if points:
        every = max(1, -(-len(points) // LABELS))
        for n, i in enumerate(range(0, len(points), every)):
            x = pad_left + i * step + step / 2
            # Every other label is minor: a narrow screen hides it and enlarges the rest.
            minor = ' class="chart-label-minor"' if n % 2 else ""
            labels.append(
                f'<text{minor} x="{x:.1f}" y="{HEIGHT - 6}" font-size="13" text-anchor="middle">'
                f"{escape(_short(points[i][0]))}</text>"
            )
    axis = (
        f'<text x="{pad_left}" y="{pad_top - 10}" font-size="13" text-anchor="start">{escape(fmt(top))}</text>'
        f'<line x1="{pad_left}" y1="{pad_top}" x2="{WIDTH - pad_right}" y2="{pad_top}" stroke="#ccc" '
        f'stroke-dasharray="4 4"/>'
        f'<text x="{pad_left - 8}" y="{pad_top + plot_h - 4}" font-size="13" text-anchor="end">0</text>'
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{WIDTH - pad_right}" y2="{pad_top + plot_h}" '
        f'stroke="#999"/>'
    )
    body = "".join(bars) + "".join(labels) + axis
    return format_html(
        '<svg class="usage-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" '
        'style="width: 100%; height: auto; display: block" fill="currentColor" '
        'xmlns="http://www.w3.org/2000/svg">{}</svg>',
        title,
        WIDTH,
        HEIGHT,
        mark_safe(body),  # noqa: S308 - every interpolated label above is escaped
    )
