"""Usage figures read from the roll-ups for closed days and from the raw records for
the days not rolled up yet (today at least), so they are right before the roll-up runs.

`key_usage` and `account_usage` are what the API views and the portal call."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from http import HTTPStatus
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.calendar import month_start, next_month_start

from .models import Period, UsageRecord, UsageRollup
from .rollup import covered_days, day_bounds

DAY = "day"
MONTH = "month"


def today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def day_start(day: dt.date) -> dt.datetime:
    """The first instant of a UTC day (usage days are UTC days)."""
    return day_bounds(day)[0]


def rolled_days(date_from: dt.date, date_to: dt.date) -> set[dt.date]:
    """The days of the range whose figures come from the roll-ups: closed days whose
    roll-up covers the whole day."""
    return covered_days(date_from, min(date_to, today() - dt.timedelta(days=1)))


def raw_window(date_from: dt.date, date_to: dt.date, rolled: set[dt.date]) -> Q | None:
    """Where the raw records of the range's other days are (up to today): their
    contiguous runs as datetime ranges, so the query uses the index; None: none."""
    days = [date_from + dt.timedelta(days=n) for n in range((date_to - date_from).days + 1)]
    runs: list[tuple[dt.datetime, dt.datetime]] = []
    for day in days:
        if day in rolled or day > today():
            continue
        start, end = day_bounds(day)
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    if not runs:
        return None
    window = Q()
    for start, end in runs:
        window |= Q(created_at__gte=start, created_at__lt=end)
    return window


def daily_rows(date_from: dt.date, date_to: dt.date, **scope: Any) -> list[dict]:
    """One row per (day, account, key, endpoint) with requests, errors, credits_spent.

    `scope` narrows by account/api_key (e.g. `account=…`, `api_key=…`)."""
    rolled = rolled_days(date_from, date_to)
    rows = [
        {"day": r["start"], **{k: r[k] for k in ("account_id", "api_key_id", "endpoint")},
         "requests": r["requests"], "errors": r["errors"], "credits_spent": r["credits_spent"]}
        for r in UsageRollup.objects.filter(period=Period.DAY, start__in=rolled, **scope).values(
            "start", "account_id", "api_key_id", "endpoint", "requests", "errors", "credits_spent"
        )
    ] if rolled else []
    window = raw_window(date_from, date_to, rolled)
    if window is not None:
        raw = (
            UsageRecord.objects.filter(window, **scope)
            .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
            .values("day", "account_id", "api_key_id", "endpoint")
            .order_by()
            .annotate(
                requests=Count("id"),
                errors=Count("id", filter=Q(status_code__gte=400)),
                credits_spent=Sum("credits_spent"),
            )
        )
        rows.extend({**r, "credits_spent": r["credits_spent"] or 0} for r in raw)
    return rows


def _period_of(day: dt.date, granularity: str) -> dt.date:
    return month_start(day) if granularity == MONTH else day


def _periods(date_from: dt.date, date_to: dt.date, granularity: str) -> list[dt.date]:
    periods, day = [], _period_of(date_from, granularity)
    while day <= date_to:
        periods.append(day)
        day = next_month_start(day) if granularity == MONTH else day + dt.timedelta(days=1)
    return periods


def summarise(rows: list[dict], date_from: dt.date, date_to: dt.date, granularity: str = DAY) -> dict:
    """Totals, a zero-filled row per period (`daily`) and the per-endpoint split."""
    series = {p: {"requests": 0, "errors": 0, "credits_spent": 0} for p in _periods(date_from, date_to, granularity)}
    endpoints: dict[str, dict[str, int]] = defaultdict(lambda: {"requests": 0, "credits_spent": 0})
    keys: dict[Any, dict[str, int]] = defaultdict(lambda: {"requests": 0, "credits_spent": 0})
    for row in rows:
        bucket = series[_period_of(row["day"], granularity)]
        for field in ("requests", "errors", "credits_spent"):
            bucket[field] += row[field]
        endpoints[row["endpoint"]]["requests"] += row["requests"]
        endpoints[row["endpoint"]]["credits_spent"] += row["credits_spent"]
        keys[row["api_key_id"]]["requests"] += row["requests"]
        keys[row["api_key_id"]]["credits_spent"] += row["credits_spent"]
    return {
        "total_requests": sum(b["requests"] for b in series.values()),
        "errors": sum(b["errors"] for b in series.values()),
        "credits_spent": sum(b["credits_spent"] for b in series.values()),
        "daily": [{"date": p.isoformat(), **b} for p, b in series.items()],
        "by_endpoint": [
            {"endpoint": name, **figures}
            for name, figures in sorted(endpoints.items(), key=lambda item: (-item[1]["requests"], item[0]))
        ],
        "by_key": [
            {"key_id": str(key) if key else None, **figures}
            for key, figures in sorted(keys.items(), key=lambda item: -item[1]["requests"])
        ],
    }


def key_usage(key, date_from: dt.date, date_to: dt.date) -> dict:
    """CONTRACT.md §5 `GET /api/v1/keys/{id}/usage`."""
    summary = summarise(daily_rows(date_from, date_to, api_key=key), date_from, date_to)
    return {
        "key_id": str(key.pk),
        "total_requests": summary["total_requests"],
        "credits_spent": summary["credits_spent"],
        "daily": summary["daily"],
        "by_endpoint": summary["by_endpoint"],
    }


def account_usage(account, date_from: dt.date, date_to: dt.date, granularity: str = DAY) -> dict:
    """`GET /api/v1/usage`: the account's usage over every key and session."""
    summary = summarise(daily_rows(date_from, date_to, account=account), date_from, date_to, granularity)
    return {
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "granularity": granularity,
        "total_requests": summary["total_requests"],
        "errors": summary["errors"],
        "credits_spent": summary["credits_spent"],
        # Named as in the key usage answer (CONTRACT §5); with granularity=month
        # each row is a month, dated by its first day.
        "daily": summary["daily"],
        "by_endpoint": summary["by_endpoint"],
        "by_key": summary["by_key"],
    }


def _status_text(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def recent_failures(since: dt.datetime, limit: int = 10, **scope: Any) -> list[dict]:
    """The newest refused or failed requests (status 400 and above) since `since`:
    what a developer needs to find one in their own logs (time, status, method,
    endpoint, request id). `scope` narrows by account/api_key like `daily_rows`."""
    records = (
        UsageRecord.objects.filter(created_at__gte=since, status_code__gte=400, **scope)
        .select_related("api_key")
        .order_by("-created_at")[:limit]
    )
    return [
        {"created_at": r.created_at, "status_code": r.status_code, "status_text": _status_text(r.status_code),
         "method": r.method, "endpoint": r.endpoint, "request_id": r.request_id, "api_key": r.api_key}
        for r in records
    ]


def spent_by_keys(sender: object, key_ids: list, since: dt.datetime, **kwargs: object) -> dict:
    """`core.signals.spending_asked`: the credits each key spent from `since` (a day's
    start) to now, from the roll-ups and the raw records alike."""
    spent: dict = defaultdict(int)
    if not key_ids:
        return spent
    for row in daily_rows(since.astimezone(dt.UTC).date(), today(), api_key_id__in=list(key_ids)):
        spent[row["api_key_id"]] += row["credits_spent"] or 0
    return spent
