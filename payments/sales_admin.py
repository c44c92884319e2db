"""The admin's sales page (`/admin/payments/salesreport/`): one calendar month per
page, its days, its split by source and product, the months of its year, and the
same figures as CSV. The figures are `payments.sales`'; this module only shows them."""

from __future__ import annotations

import csv
import datetime as dt
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from core import charts
from core.admin import ReadOnlyAdmin
from core.calendar import month_start

from . import sales
from .models import SalesReport


def _today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def chosen_month(request: HttpRequest, today: dt.date) -> dt.date:
    """`?month=YYYY-MM` (this month when absent or not a month)."""
    try:
        return dt.datetime.strptime(request.GET.get("month", ""), "%Y-%m").date()
    except ValueError:
        return month_start(today)


def grants_url(start: dt.date, end: dt.date, **query: str) -> str:
    """The grants list for the UTC days [start, end), narrowed by `query`."""
    def utc(day: dt.date) -> str:
        return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC).isoformat(sep=" ")

    params = {"created_at__gte": utc(start), "created_at__lt": utc(end), **query}
    return reverse("admin:payments_creditgrant_changelist") + "?" + urlencode(params)


def money_columns(figures: sales.Figures) -> dict:
    """The money of a period as the page prints it."""
    return {
        "received": sales.money_text(figures.received),
        "given_back": sales.money_text(figures.given_back_total),
        "net": sales.money_text(figures.net),
        "not_in_flash": sales.money_text(figures.received_not_in_flash),
    }


@admin.register(SalesReport)
class SalesAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Listed under Payments; its page is the month's sales."""

    def get_urls(self) -> list:
        return [path("export/", self.admin_site.admin_view(self.export_csv), name="payments_sales_export"),
                *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = _today()
        report = sales.month_report(chosen_month(request, today), today)
        month, next_month = report.month, report.next
        active_days = [(day, figures) for day, figures in report.days if not figures.is_empty]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Sales, {month:%B %Y}",
            "opts": self.model._meta,
            "report": report,
            "total": money_columns(report.total),
            "given_back_by_kind": [(sales.source_label(kind), sales.money_text(amounts))
                                   for kind, amounts in sorted(report.total.given_back.items())],
            "days": [{"day": day, "figures": figures, **money_columns(figures),
                      "grants_url": grants_url(day, day + dt.timedelta(days=1))} for day, figures in active_days],
            "quiet_days": len(report.days) - len(active_days),
            "months": [{"month": first, "figures": figures, **money_columns(figures),
                        "url": "?" + urlencode({"month": f"{first:%Y-%m}"})} for first, figures in report.year],
            "charts": [
                (currency, charts.svg_bar_chart(
                    [(day.isoformat(), float(sales.major(figures.received.get(currency, 0), currency)))
                     for day, figures in report.days],
                    f"Received per day ({currency.upper()})", fmt=lambda v: f"{v:,.2f}", colour="#5b8c3a"))
                for currency in report.currencies
            ],
            "not_applied_url": grants_url(month, next_month, amount__gt="0", state__in="pending,stuck,failed"),
            "month_grants_url": grants_url(month, next_month),
            "previous_url": "?" + urlencode({"month": f"{report.previous:%Y-%m}"}),
            "next_url": "?" + urlencode({"month": f"{next_month:%Y-%m}"}) if next_month <= today else "",
            "export_days_url": reverse("admin:payments_sales_export") + "?" + urlencode({"month": f"{month:%Y-%m}"}),
            "export_months_url": reverse("admin:payments_sales_export") + "?" + urlencode(
                {"month": f"{month:%Y-%m}", "by": "month"}),
        }
        return TemplateResponse(request, "admin/payments/sales.html", context)

    def export_csv(self, request: HttpRequest) -> HttpResponse:
        """`?month=YYYY-MM`: a row per day of that month; `&by=month`: a row per month
        of its year."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = _today()
        report = sales.month_report(chosen_month(request, today), today)
        by_month = request.GET.get("by") == "month"
        periods = report.year if by_month else report.days
        currencies = sorted({c for _, figures in periods for c in figures.currencies})
        response = HttpResponse(content_type="text/csv")
        name = f"sales-{report.month:%Y}-by-month" if by_month else f"sales-{report.month:%Y-%m}-by-day"
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        csv.writer(response).writerows(sales.csv_table(periods, currencies))
        return response
