"""The presentation helpers the portal's templates use (no browser needed)."""

from __future__ import annotations

import datetime as dt

from django.template import Context, Template
from django.utils import timezone

from portal.templatetags.portal_ui import balance_level, bar_chart, relative


def test_it_colours_the_balance_red_below_20_and_amber_below_50():
    assert [balance_level(b) for b in (0, 19, 20, 49, 50, 1000)] == ["low", "low", "warn", "warn", "ok", "ok"]
    assert balance_level(None) == "unknown"


def test_it_says_times_relative_to_now_and_never_for_none():
    assert relative(timezone.now() - dt.timedelta(hours=3)) == "3\xa0hours ago"
    iso = (timezone.now() - dt.timedelta(minutes=5)).isoformat()
    assert relative(iso) == "5\xa0minutes ago"
    assert relative(None) == "never"
    assert relative(None, "never used") == "never used"


def test_it_draws_one_bar_per_point_scaled_to_the_peak():
    chart = bar_chart([("Nov 1", 2), ("Nov 2", 8), ("Nov 3", 0)], "Requests per day")

    heights = [bar["height"] for bar in chart["bars"]]
    assert heights[1] == max(heights) and heights[0] == heights[1] / 4 and heights[2] == 0
    assert chart["summary"] == "Requests per day: 10 requests from Nov 1 to Nov 3, most on Nov 2 (8)"


def test_it_renders_an_accessible_svg_with_a_table_and_an_empty_state():
    template = Template("{% load portal_ui %}{% bar_chart points 'Requests per day' %}")

    html = template.render(Context({"points": [("Nov 1", 3), ("Nov 2", 5)]}))
    assert 'role="img"' in html and "<desc" in html
    assert "<title>Nov 2: 5 requests</title>" in html
    assert "<td>Nov 1</td><td class=\"num\">3</td>" in html

    empty = template.render(Context({"points": [("Nov 1", 0)]}))
    assert "<svg" not in empty and "Nothing yet" in empty
