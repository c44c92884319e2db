"""Presentation helpers of the developer portal: relative times, balance levels and
bar charts drawn on the server as SVG (laid out by core/charts.py), so that no page
needs JavaScript."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils.dateparse import parse_date, parse_datetime

from core import catalog, charts

register = template.Library()

# seeds/003: the balance turns red below the catalog's LOW_BALANCE and amber below 50.
WARN_BALANCE = 50


@register.filter
def balance_level(balance: int | None) -> str:
    """`low`, `warn`, `ok`, or `unknown` when Flash could not tell us."""
    if balance is None or balance == "":
        return "unknown"
    balance = int(balance)
    if balance < catalog.LOW_BALANCE:
        return "low"
    if balance < WARN_BALANCE:
        return "warn"
    return "ok"


def _as_datetime(value: Any) -> datetime | date | None:
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, str) and value:
        return parse_datetime(value) or parse_date(value)
    return None


@register.filter
def relative(value: Any, never: str = "never") -> str:
    """"3 hours ago" for a datetime or an ISO string (Flash's timestamps); `never`
    when there is none."""
    if value in (None, ""):
        return never
    moment = _as_datetime(value)
    if moment is None:
        return str(value)
    return naturaltime(moment)


@register.filter
def code_label(value: Any) -> str:
    """`stripe_purchase` → "Stripe purchase": Flash's transaction types as words."""
    return str(value or "other").replace("_", " ").capitalize()


@register.filter
def as_datetime(value: Any) -> datetime | date | None:
    """Flash's ISO strings as datetimes, for Django's `date` filter."""
    return _as_datetime(value)


# Geometry of the chart's viewBox: the SVG scales to its container's width.
CHART_WIDTH = 640
CHART_HEIGHT = 196
AXIS_HEIGHT = 32  # room for the day labels, at the phone's larger size too
TOP_GAP = 28  # room for the peak's label above the plot
SIDE_GAP = 40  # a centred label under the first or last bar stays inside the SVG
CHART_LABELS = 8  # day labels under the bars: about eight fit


@register.inclusion_tag("portal/_bar_chart.html")
def bar_chart(points: Iterable[Sequence[Any]] | None, title: str, unit: str = "requests") -> dict[str, Any]:
    """An accessible SVG bar chart of (label, value) pairs.

    The SVG is `role="img"` with a summary for screen readers, every bar has a
    tooltip title, and the same numbers are offered as a table underneath.
    """
    rows = [(str(label), int(value or 0)) for label, value in (points or [])]
    peak = max((value for _, value in rows), default=0)
    total = sum(value for _, value in rows)
    plot_height = CHART_HEIGHT - AXIS_HEIGHT - TOP_GAP
    bars = [{
        "label": bar.label,
        "value": bar.value,
        "x": round(bar.x, 2),
        "width": round(bar.width, 2),
        "y": round(bar.y, 2),
        "height": round(bar.height, 2),
        "text_x": round(bar.centre, 2),
        "show_label": bar.labelled,
        # Every other label is minor: a phone hides it.
        "minor_label": bar.minor,
    } for bar in charts.layout(rows, left=0, width=CHART_WIDTH, top=TOP_GAP, height=plot_height, fill=0.7,
                               labels=CHART_LABELS)]
    peak_label = next((label for label, value in rows if value == peak), "") if peak else ""
    if rows:
        summary = f"{title}: {total} {unit} from {rows[0][0]} to {rows[-1][0]}"
        if peak:
            summary += f", most on {peak_label} ({peak})"
    else:
        summary = f"{title}: no data"
    return {
        "title": title,
        "unit": unit,
        "rows": rows,
        # The table under the chart lists the days that had any: a month of zeros
        # says less than the sentence that replaces them.
        "table_rows": [(label, value) for label, value in rows if value],
        "quiet_rows": sum(1 for _, value in rows if not value),
        "bars": bars,
        "total": total,
        "peak": peak,
        "summary": summary,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "side": SIDE_GAP,
        "view_width": CHART_WIDTH + 2 * SIDE_GAP,
        "baseline": CHART_HEIGHT - AXIS_HEIGHT,
        "top": TOP_GAP,
        "label_y": CHART_HEIGHT - 8,
        "peak_y": TOP_GAP - 8,
        "chart_id": f"chart-{abs(hash((title, tuple(rows)))) % 10**8}",
    }
