"""Figures for the admin usage dashboard: whole-platform totals grouped in the
database (roll-ups for closed days, raw records for the open ones)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.apps import apps
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate

from .models import Period, UsageRecord, UsageRollup
from .usage import raw_window, rolled_days

GROUPS = {
    "day": ("start", TruncDate("created_at", tzinfo=dt.UTC)),
    "account": ("account_id", F("account_id")),
    "endpoint": ("endpoint", F("endpoint")),
}


def grouped(date_from: dt.date, date_to: dt.date, by: str) -> dict:
    """{group value: {"requests", "errors", "credits_spent"}} over the range."""
    rolled = rolled_days(date_from, date_to)
    rollup_field, raw_expression = GROUPS[by]
    figures: dict = defaultdict(lambda: {"requests": 0, "errors": 0, "credits_spent": 0})
    if rolled:
        for row in (
            UsageRollup.objects.filter(period=Period.DAY, start__in=rolled)
            .values(rollup_field)
            .order_by()
            .annotate(r=Sum("requests"), e=Sum("errors"), c=Sum("credits_spent"))
        ):
            bucket = figures[row[rollup_field]]
            bucket["requests"] += row["r"] or 0
            bucket["errors"] += row["e"] or 0
            bucket["credits_spent"] += row["c"] or 0
    window = raw_window(date_from, date_to, rolled)
    if window is not None:
        for row in (
            UsageRecord.objects.filter(window)
            .annotate(g=raw_expression)
            .values("g")
            .order_by()
            .annotate(r=Count("id"), e=Count("id", filter=Q(status_code__gte=400)), c=Sum("credits_spent"))
        ):
            bucket = figures[row["g"]]
            bucket["requests"] += row["r"]
            bucket["errors"] += row["e"]
            bucket["credits_spent"] += row["c"] or 0
    return dict(figures)


def per_day(date_from: dt.date, date_to: dt.date) -> list[dict]:
    figures = grouped(date_from, date_to, "day")
    out = []
    for n in range((date_to - date_from).days + 1):
        day = date_from + dt.timedelta(days=n)
        row = figures.get(day, {"requests": 0, "errors": 0, "credits_spent": 0})
        rate = row["errors"] / row["requests"] if row["requests"] else 0.0
        out.append({"date": day, **row, "error_rate": rate})
    return out


def top(date_from: dt.date, date_to: dt.date, by: str, limit: int = 10) -> list[dict]:
    figures = grouped(date_from, date_to, by)
    ranked = sorted(figures.items(), key=lambda item: -item[1]["requests"])[:limit]
    rows = [{"key": key, **values} for key, values in ranked]
    if by == "account":
        Account = apps.get_model("accounts", "Account")
        names = {a.pk: str(a) for a in Account.objects.filter(pk__in=[r["key"] for r in rows if r["key"]])}
        for row in rows:
            row["label"] = names.get(row["key"], "(anonymous)") if row["key"] else "(anonymous)"
    else:
        for row in rows:
            row["label"] = row["key"]
    return rows
