"""Calendar months, UTC: usage, sales and key budgets all count by them.

One rule for "the month's first day" and "the next month's first day", so that a
month's end is the same everywhere (whatever its length, December included)."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

Day = TypeVar("Day", dt.date, dt.datetime)


def month_start(day: Day) -> Day:
    """The first day of `day`'s month; for a datetime, the first instant of its month in
    UTC (an aware datetime in another zone is converted first)."""
    if isinstance(day, dt.datetime):
        return day.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return day.replace(day=1)


def next_month_start(day: Day) -> Day:
    """The first day (or instant, UTC) of the month after `day`'s."""
    # Day 1 plus 32 days always lands in the next month, whatever this month's length.
    return (month_start(day) + dt.timedelta(days=32)).replace(day=1)
