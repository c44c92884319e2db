"""Small SVG charts rendered on the server: the admin needs no JavaScript library
and no CDN."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe


def bar_chart(
    points: Sequence[tuple[str, float]],
    title: str,
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
    width: int = 720,
    height: int = 180,
    colour: str = "#417690",
) -> SafeString:
    """Vertical bars, one per point; each bar has a tooltip with its label and value."""
    pad_left, pad_bottom, pad_top = 56, 22, 8
    plot_w, plot_h = width - pad_left - 8, height - pad_bottom - pad_top
    peak = max((value for _, value in points), default=0) or 1
    step = plot_w / max(len(points), 1)
    bars = []
    for i, (label, value) in enumerate(points):
        bar_h = plot_h * value / peak
        x = pad_left + i * step
        y = pad_top + plot_h - bar_h
        bars.append(
            f'<rect x="{x + step * 0.1:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" height="{bar_h:.1f}" '
            f'fill="{colour}"><title>{escape(label)}: {escape(fmt(value))}</title></rect>'
        )
    labels = []
    if points:
        every = max(1, len(points) // 8)
        for i in range(0, len(points), every):
            x = pad_left + i * step + step / 2
            labels.append(
                f'<text x="{x:.1f}" y="{height - 6}" font-size="10" text-anchor="middle">'
                f"{escape(points[i][0][5:])}</text>"
            )
    axis = (
        f'<text x="{pad_left - 6}" y="{pad_top + 10}" font-size="10" text-anchor="end">{escape(fmt(peak))}</text>'
        f'<text x="{pad_left - 6}" y="{pad_top + plot_h}" font-size="10" text-anchor="end">0</text>'
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 8}" y2="{pad_top + plot_h}" stroke="#999"/>'
    )
    body = "".join(bars) + "".join(labels) + axis
    return format_html(
        '<svg class="usage-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="100%" '
        'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">{}</svg>',
        title,
        width,
        height,
        mark_safe(body),  # noqa: S308 - every interpolated label above is escaped
    )
