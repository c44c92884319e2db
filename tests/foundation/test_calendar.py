"""Calendar months (core.calendar): a month's first day and the next month's, for the
month ends that differ: 30 and 31 days, December into January, leap February."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from core.calendar import month_start, next_month_start

# A day, its month's first day, the next month's first day.
MONTHS = [
    (dt.date(2026, 1, 1), dt.date(2026, 1, 1), dt.date(2026, 2, 1)),
    (dt.date(2026, 1, 31), dt.date(2026, 1, 1), dt.date(2026, 2, 1)),
    (dt.date(2026, 4, 30), dt.date(2026, 4, 1), dt.date(2026, 5, 1)),
    (dt.date(2026, 12, 1), dt.date(2026, 12, 1), dt.date(2027, 1, 1)),
    (dt.date(2026, 12, 31), dt.date(2026, 12, 1), dt.date(2027, 1, 1)),
    (dt.date(2024, 2, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)),
    (dt.date(2024, 2, 29), dt.date(2024, 2, 1), dt.date(2024, 3, 1)),
    (dt.date(2025, 2, 28), dt.date(2025, 2, 1), dt.date(2025, 3, 1)),
]


@pytest.mark.parametrize(("day", "first", "following"), MONTHS)
def test_it_finds_a_months_first_day_and_the_next_months(day, first, following):
    assert month_start(day) == first
    assert next_month_start(day) == following


def test_it_starts_a_datetimes_month_at_midnight_utc():
    # 1 March 00:30 in Paris is still 28 February in UTC: the month is February's.
    moment = dt.datetime(2026, 3, 1, 0, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert month_start(moment) == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    assert next_month_start(moment) == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_it_crosses_the_year_for_a_december_datetime():
    moment = dt.datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)
    assert next_month_start(moment) == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
