from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

import pytest
from django.core.management import call_command
from django.db import connection

from metering.models import RolledDay, UsageRecord, UsageRollup
from metering.usage import key_usage

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/api/v1/generate", "/api/v1/timepoints/<id>", "/api/v1/credits/balance"]


def _month_before(today: dt.date) -> dt.date:
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


@pytest.fixture
def month_of_data(alice, bob, make_key):
    """A generated month (the last full one) of traffic over two accounts and keys."""
    rng = random.Random(7)
    first = _month_before(dt.date.today())
    keys = [make_key(alice, "a"), make_key(bob, "b"), None]
    records = []
    day = first
    while day.month == first.month:
        for _ in range(rng.randint(5, 25)):
            key = rng.choice(keys)
            account = key.account if key else rng.choice([alice, None])
            when = dt.datetime.combine(day, dt.time(rng.randint(0, 23), rng.randint(0, 59)), tzinfo=dt.UTC)
            records.append(UsageRecord(
                created_at=when, account=account, api_key=key, endpoint=rng.choice(ENDPOINTS), method="GET",
                status_code=rng.choice([200, 200, 200, 402, 429, 502]), credits_spent=rng.choice([0, 0, 1, 5]),
                response_time_ms=rng.randint(1, 2000),
            ))
        day += dt.timedelta(days=1)
    UsageRecord.objects.bulk_create(records)
    return first, day - dt.timedelta(days=1), records


def _expected(records, period_of):
    groups = defaultdict(list)
    for r in records:
        groups[(period_of(r.created_at.date()), r.account_id, r.api_key_id, r.endpoint)].append(r)
    return {
        grain: (len(rs), sum(r.status_code >= 400 for r in rs), sum(r.credits_spent for r in rs))
        for grain, rs in groups.items()
    }


def _stored(period):
    return {
        (r.start, r.account_id, r.api_key_id, r.endpoint): (r.requests, r.errors, r.credits_spent)
        for r in UsageRollup.objects.filter(period=period)
    }


def _percentile(values, fraction):
    values = sorted(values)
    position = fraction * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def test_it_rolls_up_a_month_per_day_and_per_month(month_of_data):
    first, last, records = month_of_data
    call_command("rollup_usage", "--from", first.isoformat(), "--to", last.isoformat(), "--no-purge")

    assert _stored("day") == _expected(records, lambda d: d)
    assert _stored("month") == _expected(records, lambda d: d.replace(day=1))
    assert RolledDay.objects.filter(day__gte=first, day__lte=last).count() == (last - first).days + 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="percentiles need PostgreSQL's percentile_cont")
def test_it_computes_latency_percentiles_on_postgresql(month_of_data):
    first, last, records = month_of_data
    call_command("rollup_usage", "--from", first.isoformat(), "--to", last.isoformat(), "--no-purge")
    rollup = UsageRollup.objects.filter(period="month").order_by("-requests").first()
    times = [r.response_time_ms for r in records if (r.account_id, r.api_key_id, r.endpoint) ==
             (rollup.account_id, rollup.api_key_id, rollup.endpoint)]
    assert rollup.p50_ms == pytest.approx(_percentile(times, 0.5))
    assert rollup.p95_ms == pytest.approx(_percentile(times, 0.95))


def test_re_running_the_roll_up_changes_nothing(month_of_data):
    first, last, _ = month_of_data
    call_command("rollup_usage", "--from", first.isoformat(), "--to", last.isoformat(), "--no-purge")
    days, months, count = _stored("day"), _stored("month"), UsageRollup.objects.count()
    call_command("rollup_usage", "--from", first.isoformat(), "--to", last.isoformat(), "--no-purge")
    call_command("rollup_usage", "--date", (first + dt.timedelta(days=3)).isoformat(), "--no-purge")
    assert (_stored("day"), _stored("month"), UsageRollup.objects.count()) == (days, months, count)


def test_the_default_run_finds_the_closed_days_itself(month_of_data):
    first, last, records = month_of_data
    call_command("rollup_usage", "--no-purge")
    assert _stored("day") == _expected(records, lambda d: d)


def test_figures_are_the_same_before_and_after_the_roll_up(month_of_data, make_record):
    first, last, records = month_of_data
    key = next(r.api_key for r in records if r.api_key is not None)
    make_record(dt.datetime.now(dt.UTC), api_key=key, account=key.account, credits_spent=2)  # today
    before = key_usage(key, first, dt.date.today())
    call_command("rollup_usage", "--no-purge")
    assert key_usage(key, first, dt.date.today()) == before
    assert before["daily"][-1]["credits_spent"] >= 2  # today, read from the raw records


def test_it_purges_only_rolled_up_days_past_retention(settings, make_record):
    settings.USAGE_RETENTION_DAYS = 90
    today = dt.datetime.now(dt.UTC).date()
    old = dt.datetime.combine(today - dt.timedelta(days=120), dt.time(12), tzinfo=dt.UTC)
    older_unrolled = dt.datetime.combine(today - dt.timedelta(days=150), dt.time(12), tzinfo=dt.UTC)
    recent = dt.datetime.combine(today - dt.timedelta(days=10), dt.time(12), tzinfo=dt.UTC)
    for when in (old, old, recent, older_unrolled):
        make_record(when)

    call_command("rollup_usage", "--date", old.date().isoformat(), "--date", recent.date().isoformat())

    assert sorted(UsageRecord.objects.values_list("created_at", flat=True)) == [older_unrolled, recent]
    assert RolledDay.objects.get(day=old.date()).purged_at is not None
    # Re-running a purged day keeps its figures instead of replacing them with zeros.
    call_command("rollup_usage", "--date", old.date().isoformat())
    assert UsageRollup.objects.get(period="day", start=old.date()).requests == 2
