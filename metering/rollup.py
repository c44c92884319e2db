"""Daily and monthly roll-ups of the raw usage records, and their purge."""

from __future__ import annotations

import datetime as dt

from django.db import connection, models, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from core.calendar import month_start, next_month_start

from .models import Period, RolledDay, UsageRecord, UsageRollup


class Percentile(models.Aggregate):
    """PostgreSQL's percentile_cont, the continuous percentile of the group."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = models.FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def percentiles_supported() -> bool:
    return connection.vendor == "postgresql"


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def covers_its_day(marker: RolledDay) -> bool:
    """Whether a day's roll-up covers the whole day: rolled after it ended, or purged
    (a day rolled up while it was still open, say for "today", is not done)."""
    return marker.purged_at is not None or marker.rolled_up_at >= day_bounds(marker.day)[1]


def covered_days(first: dt.date, last: dt.date) -> set[dt.date]:
    """The days from `first` to `last` (both included) whose roll-up covers the whole
    day: the one rule for which days the roll-ups can stand in for the raw records."""
    return {marker.day for marker in RolledDay.objects.filter(day__gte=first, day__lte=last) if covers_its_day(marker)}


GRAIN = ("account_id", "api_key_id", "endpoint")


def _aggregates(with_percentiles: bool) -> dict:
    figures = {
        "n": Count("id"),
        "n_errors": Count("id", filter=Q(status_code__gte=400)),
        "credits": Sum("credits_spent"),
    }
    if with_percentiles:
        figures["p50"] = Percentile("response_time_ms", 0.5)
        figures["p95"] = Percentile("response_time_ms", 0.95)
    return figures


def _rows_from_raw(start: dt.datetime, end: dt.datetime) -> list[dict]:
    return list(
        UsageRecord.objects.filter(created_at__gte=start, created_at__lt=end)
        .values(*GRAIN)
        .order_by()
        .annotate(**_aggregates(percentiles_supported()))
    )


def _write(period: str, start: dt.date, rows: list[dict]) -> int:
    UsageRollup.objects.filter(period=period, start=start).delete()
    UsageRollup.objects.bulk_create(
        UsageRollup(
            period=period,
            start=start,
            account_id=row["account_id"],
            api_key_id=row["api_key_id"],
            endpoint=row["endpoint"],
            requests=row["n"],
            errors=row["n_errors"],
            credits_spent=row["credits"] or 0,
            p50_ms=row.get("p50"),
            p95_ms=row.get("p95"),
        )
        for row in rows
    )
    return len(rows)


def roll_up_day(day: dt.date, with_month: bool = True) -> int | None:
    """(Re)compute one day's roll-up and (unless told otherwise, when the caller does
    the months once at the end) its month's. Idempotent: the day's rows are replaced,
    never added to. A purged day is left as it is (returns None)."""
    with transaction.atomic():
        marker = RolledDay.objects.select_for_update().filter(day=day).first()
        if marker is not None and marker.purged_at is not None:
            return None
        count = _write(Period.DAY, day, _rows_from_raw(*day_bounds(day)))
        RolledDay.objects.update_or_create(day=day, defaults={"rolled_up_at": timezone.now()})
        if with_month:
            roll_up_month(month_start(day))
    return count


@transaction.atomic
def roll_up_month(first: dt.date) -> None:
    """Counts are the sums of the month's day rows; percentiles come from the raw
    records. Once any day of the month is purged the month row is final and kept."""
    end = next_month_start(first)
    if RolledDay.objects.filter(day__gte=first, day__lt=end, purged_at__isnull=False).exists():
        return
    start_dt, _ = day_bounds(first)
    end_dt, _ = day_bounds(end)
    rows = _rows_from_raw(start_dt, end_dt)
    _write(Period.MONTH, first, rows)


def days_to_roll_up(today: dt.date) -> list[dt.date]:
    """Closed days with raw records and no roll-up yet, plus yesterday again (late
    records of a request that straddled midnight)."""
    first = UsageRecord.objects.order_by("created_at").values_list("created_at", flat=True).first()
    if first is None:
        return []
    day = first.astimezone(dt.UTC).date()
    yesterday = today - dt.timedelta(days=1)
    rolled = covered_days(day, yesterday)
    days = []
    while day < today:
        if day not in rolled or day == yesterday:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def purge(today: dt.date, retention_days: int) -> int:
    """Delete raw records older than the retention period, only for rolled-up days."""
    cutoff = today - dt.timedelta(days=retention_days)
    deleted = 0
    for marker in RolledDay.objects.filter(day__lt=cutoff, purged_at__isnull=True).order_by("day"):
        start, end = day_bounds(marker.day)
        with transaction.atomic():
            deleted += UsageRecord.objects.filter(created_at__gte=start, created_at__lt=end)._raw_delete(
                connection.alias
            )
            marker.purged_at = timezone.now()
            marker.save(update_fields=["purged_at"])
    return deleted
