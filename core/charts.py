"""Bar charts drawn on the server as SVG: no page needs JavaScript or a CDN.

`layout` places the bars of (label, value) points and picks the labels that fit;
`svg_bar_chart` draws the compact chart of the admin's pages from it. The developer
portal draws its accessible chart (with a table of the same numbers) from the same
layout: portal/templatetags/portal_ui.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

# The admin chart's viewBox is about as wide as the chart is drawn (a card of the
# admin's pages), so that the SVG scales little and its 13-unit labels read as 11–14 px.
WIDTH, HEIGHT = 560, 230
LABELS = 6  # day labels under the bars; more would touch at the narrowest card


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    x: float
    width: float
    y: float
    height: float
    centre: float  # where its label goes
    labelled: bool  # whether it has a label: a label under every bar would overlap on a month
    minor: bool  # every other label, hidden on a narrow screen


def layout(points: Sequence[tuple[str, float]], *, left: float, width: float, top: float, height: float,
           fill: float, labels: int) -> list[Bar]:
    """The bars of `points` side by side in the box (left, top, width, height), each
    `fill` of its slot wide and scaled to the peak; about `labels` of them labelled."""
    if not points:
        return []
    peak = max(value for _, value in points)
    slot = width / len(points)
    bar_width = max(slot * fill, 1.0)
    every = max(1, -(-len(points) // labels))
    bars = []
    for index, (label, value) in enumerate(points):
        bar_height = height * max(value, 0) / peak if peak else 0
        bars.append(Bar(label, value, left + index * slot + (slot - bar_width) / 2, bar_width,
                        top + height - bar_height, bar_height, left + index * slot + slot / 2,
                        index % every == 0, (index // every) % 2 == 1))
    return bars


def day_label(day: dt.date | str) -> str:
    """A day as a chart labels it: "Nov 30" (an ISO date string too); other labels as they are."""
    if isinstance(day, str):
        try:
            day = dt.date.fromisoformat(day)
        except ValueError:
            return day
    return f"{day:%b} {day.day}"


def svg_bar_chart(
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
    shapes, texts = [], []
    for bar in layout(points, left=pad_left, width=plot_w, top=pad_top, height=plot_h, fill=0.8, labels=LABELS):
        shapes.append(
            f'<rect x="{bar.x:.1f}" y="{bar.y:.1f}" width="{bar.width:.1f}" height="{bar.height:.1f}" '
            f'fill="{colour}"><title>{escape(bar.label)}: {escape(fmt(bar.value))}</title></rect>'
        )
        if bar.labelled:
            # Every other label is minor: a narrow screen hides it and enlarges the rest.
            minor = ' class="chart-label-minor"' if bar.minor else ""
            texts.append(
                f'<text{minor} x="{bar.centre:.1f}" y="{HEIGHT - 6}" font-size="13" text-anchor="middle">'
                f"{escape(day_label(bar.label))}</text>"
            )
    axis = (
        f'<text x="{pad_left}" y="{pad_top - 10}" font-size="13" text-anchor="start">{escape(fmt(top))}</text>'
        f'<line x1="{pad_left}" y1="{pad_top}" x2="{WIDTH - pad_right}" y2="{pad_top}" stroke="#ccc" '
        f'stroke-dasharray="4 4"/>'
        f'<text x="{pad_left - 8}" y="{pad_top + plot_h - 4}" font-size="13" text-anchor="end">0</text>'
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{WIDTH - pad_right}" y2="{pad_top + plot_h}" '
        f'stroke="#999"/>'
    )
    body = "".join(shapes) + "".join(texts) + axis
    return format_html(
        '<svg class="usage-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" '
        'style="width: 100%; height: auto; display: block" fill="currentColor" '
        'xmlns="http://www.w3.org/2000/svg">{}</svg>',
        title,
        WIDTH,
        HEIGHT,
        mark_safe(body),  # noqa: S308 - every interpolated label above is escaped
    )
