"""The admin is the usage dashboard: the raw records (fast at millions of rows),
CSV export of a filtered range, and a page of server-rendered charts."""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from functools import cached_property

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection, models
from django.db.models import Max, Min, Sum
from django.http import HttpRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from accounts.models import Account
from apikeys.models import APIKey
from core import charts
from core.admin import ReadOnlyAdmin
from core.calendar import month_start

from . import dashboard, usage
from .models import RolledDay, UsageDashboard, UsageRecord, UsageRollup

# A filtered list counts at most this many rows (the pager then offers that many).
COUNT_CAP = 10_000


class EstimatedCountPaginator(Paginator):
    """No COUNT(*) over the whole table: PostgreSQL's planner estimate when the list
    is unfiltered, a count bounded by COUNT_CAP otherwise."""

    @cached_property
    def count(self) -> int:
        query = self.object_list.query
        if connection.vendor == "postgresql" and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [UsageRecord._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > 0:
                return int(row[0])
        return self.object_list.order_by()[:COUNT_CAP].count()


class HierarchyQuerySet(models.QuerySet):
    """The date hierarchy asks for the distinct days/months/years of the list, a scan
    of every row. Answer from the index instead: the range (MIN/MAX use the index) and
    the days known to have traffic (rolled-up days, plus the days not rolled up yet)."""

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        if field_name != "created_at":
            return super().datetimes(field_name, kind, order, tzinfo)
        bounds = self.aggregate(first=Min("created_at"), last=Max("created_at"))
        if bounds["first"] is None:
            return []
        first, last = bounds["first"].astimezone(dt.UTC).date(), bounds["last"].astimezone(dt.UTC).date()
        rolled = set(RolledDay.objects.filter(day__gte=first, day__lte=last).values_list("day", flat=True))
        latest_rolled = max(rolled, default=first - dt.timedelta(days=1))
        days = sorted(rolled | {first, last} | {
            latest_rolled + dt.timedelta(days=n) for n in range(1, (last - latest_rolled).days + 1)
        })
        truncate = {
            "year": lambda d: d.replace(month=1, day=1),
            "month": month_start,
            "day": lambda d: d,
        }[kind]
        values = sorted({truncate(d) for d in days if first <= d <= last}, reverse=order == "DESC")
        return [dt.datetime.combine(d, dt.time.min, tzinfo=dt.UTC) for d in values]


class StatusClassFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status_class"

    def lookups(self, request, model_admin):
        return [("2xx", "2xx success"), ("4xx", "4xx refused"), ("5xx", "5xx failed")]

    def queryset(self, request, queryset):
        if self.value() in ("2xx", "4xx", "5xx"):
            low = int(self.value()[0]) * 100
            return queryset.filter(status_code__gte=low, status_code__lt=low + 100)
        return queryset


class MethodFilter(admin.SimpleListFilter):
    """Fixed choices: Django's default for a plain field is a DISTINCT over every row."""

    title = "method"
    parameter_name = "method"

    def lookups(self, request, model_admin):
        return [(m, m) for m in ("GET", "POST", "PATCH", "PUT", "DELETE")]

    def queryset(self, request, queryset):
        return queryset.filter(method=self.value()) if self.value() else queryset


class _TopOfRollupFilter(admin.SimpleListFilter):
    """Offers the busiest values of the last 30 days (from the small roll-up table,
    never a DISTINCT over the records); any value works through the URL."""

    field = ""

    def _top(self):
        since = dt.date.today() - dt.timedelta(days=30)
        return (
            UsageRollup.objects.filter(period="day", start__gte=since, **{f"{self.field}__isnull": False})
            .values(self.field)
            .order_by()
            .annotate(n=Sum("requests"))
            .order_by("-n")[:20]
        )

    def has_output(self) -> bool:
        # A value given through the URL filters even when it is not among the busiest.
        return bool(self.lookup_choices) or self.value() is not None

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if self.field != "endpoint":
            try:
                value = uuid.UUID(value)
            except ValueError:
                return queryset.none()
        return queryset.filter(**{self.field: value})


class _TopObjectsFilter(_TopOfRollupFilter):
    """The busiest objects of `model`, named as the admin names them."""

    model: type[models.Model]

    def lookups(self, request, model_admin):
        ids = [row[self.field] for row in self._top()]
        names = {obj.pk: str(obj) for obj in self.model.objects.filter(pk__in=ids)}
        return [(str(i), names.get(i, str(i))) for i in ids]


class AccountFilter(_TopObjectsFilter):
    title = "account"
    parameter_name = "account"
    field = "account_id"
    model = Account


class APIKeyFilter(_TopObjectsFilter):
    title = "API key"
    parameter_name = "api_key"
    field = "api_key_id"
    model = APIKey


class EndpointFilter(_TopOfRollupFilter):
    title = "endpoint"
    parameter_name = "endpoint"
    field = "endpoint"

    def lookups(self, request, model_admin):
        return [(row["endpoint"], row["endpoint"]) for row in self._top()]


CSV_COLUMNS = [
    ("created_at", "created_at"),
    ("request_id", "request_id"),
    ("account", "account__email"),
    ("account_id", "account_id"),
    ("api_key_prefix", "api_key__prefix"),
    ("api_key_id", "api_key_id"),
    ("endpoint", "endpoint"),
    ("method", "method"),
    ("status_code", "status_code"),
    ("credits_spent", "credits_spent"),
    ("response_time_ms", "response_time_ms"),
    ("preset", "preset"),
    ("is_test", "is_test"),
]


class _Echo:
    def write(self, value: str) -> str:
        return value


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Usage is a record of what happened: read-only, and no operator deletes it (the
    retention purge after roll-up is the only deletion)."""

    list_display = ("created_at", "request", "status", "credits", "time_ms", "account", "key", "preset", "test")
    list_filter = (StatusClassFilter, AccountFilter, APIKeyFilter, EndpointFilter, MethodFilter, "is_test")
    list_select_related = ("account", "api_key")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    change_list_template = "admin/metering/usagerecord/change_list.html"

    # Short headings: the list holds ten columns beside its filters on a 1280 px screen.
    @admin.display(description="request", ordering="endpoint")
    def request(self, obj: UsageRecord) -> str:
        return f"{obj.method} {obj.endpoint}"

    @admin.display(description="status", ordering="status_code")
    def status(self, obj: UsageRecord) -> int:
        return obj.status_code

    @admin.display(description="credits", ordering="credits_spent")
    def credits(self, obj: UsageRecord) -> int:
        return obj.credits_spent

    @admin.display(description="ms", ordering="response_time_ms")
    def time_ms(self, obj: UsageRecord) -> int:
        return obj.response_time_ms

    @admin.display(description="test", boolean=True, ordering="is_test")
    def test(self, obj: UsageRecord) -> bool:
        return obj.is_test

    @admin.display(description="API key")
    def key(self, obj: UsageRecord) -> str:
        # The prefix names the key; its name is on the record's page.
        return f"{obj.api_key.prefix}…" if obj.api_key else "-"

    def get_queryset(self, request):
        return HierarchyQuerySet(model=UsageRecord).order_by(*(self.get_ordering(request) or ()))

    def get_urls(self):
        return [path("export/", self.admin_site.admin_view(self.export_csv), name="metering_usage_export"),
                *super().get_urls()]

    def export_csv(self, request: HttpRequest) -> StreamingHttpResponse:
        """The list's current filters (date hierarchy included), every matching row."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        rows = changelist.queryset.values_list(*(source for _, source in CSV_COLUMNS)).iterator(chunk_size=2000)
        writer = csv.writer(_Echo())

        def lines():
            yield writer.writerow([name for name, _ in CSV_COLUMNS])
            for row in rows:
                yield writer.writerow(["" if value is None else value for value in row])

        response = StreamingHttpResponse(lines(), content_type="text/csv")
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="usage-{stamp}.csv"'
        return response


@admin.register(UsageDashboard)
class UsageDashboardAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Listed in the admin index under Usage; its page is the charts. The project's
    admin site adds other apps' figures (sales) through `more_context` and a template
    that fills this one's `more_totals` and `more_cards` blocks."""

    dashboard_template = "admin/metering/dashboard.html"

    def more_context(self, date_from: dt.date, date_to: dt.date) -> dict:
        """What another app adds to the page for these days."""
        return {}

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            days = max(1, min(int(request.GET.get("days", 30)), 366))
        except ValueError:
            days = 30
        date_to = usage.today()
        date_from = date_to - dt.timedelta(days=days - 1)
        daily = dashboard.per_day(date_from, date_to)
        context = {
            **self.admin_site.each_context(request),
            "title": "Usage dashboard",
            "opts": self.model._meta,
            "days": days,
            "day_choices": [7, 30, 90, 365],
            "date_from": date_from,
            "date_to": date_to,
            "totals": {
                "requests": sum(d["requests"] for d in daily),
                "errors": sum(d["errors"] for d in daily),
                "credits_spent": sum(d["credits_spent"] for d in daily),
            },
            "requests_chart": charts.svg_bar_chart([(d["date"].isoformat(), d["requests"]) for d in daily], "Requests"),
            "credits_chart": charts.svg_bar_chart(
                [(d["date"].isoformat(), d["credits_spent"]) for d in daily], "Credits spent", colour="#79aec8"
            ),
            "error_chart": charts.svg_bar_chart(
                [(d["date"].isoformat(), d["error_rate"] * 100) for d in daily], "Error rate",
                fmt=lambda v: f"{v:.1f}%", colour="#ba2121",
            ),
            "top_accounts": dashboard.top(date_from, date_to, "account"),
            "top_endpoints": dashboard.top(date_from, date_to, "endpoint"),
            **self.more_context(date_from, date_to),
        }
        return TemplateResponse(request, self.dashboard_template, context)
