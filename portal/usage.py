"""Portal usage pages: one key's requests per day and per endpoint, and its latest
failed requests."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from accounts.models import Account
from core.charts import day_label
from metering import usage

from .views import account_required

WINDOW_DAYS = 30
FAILURES_SHOWN = 10


@require_GET
@account_required
def key_usage(request: HttpRequest, account: Account, key_id: str) -> HttpResponse:
    key = get_object_or_404(account.api_keys, pk=key_id)
    date_to = usage.today()
    date_from = date_to - dt.timedelta(days=WINDOW_DAYS - 1)
    figures = usage.key_usage(key, date_from, date_to)
    return render(request, "portal/key_usage.html", {
        "section": "keys",
        "key": key,
        "usage": figures,
        "date_from": date_from,
        "date_to": date_to,
        "points": [(day_label(row["date"]), row["requests"]) for row in figures["daily"]],
        "errors": sum(row["errors"] for row in figures["daily"]),
        "failures": usage.recent_failures(usage.day_start(date_from), FAILURES_SHOWN, api_key=key),
    })
