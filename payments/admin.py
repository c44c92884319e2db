"""Operators' view of the ledger: grants by state, retry / reconcile / release
actions, manual grants with who and why; Stripe events and what they did; the
reconciliation page (runs, per-day totals of the three sides, open differences)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.decorators import method_decorator
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from core.admin import ReadOnlyAdmin
from upstreams.transport import UpstreamError

from . import (
    autoreload,
    grants,
    reconciliation,
    sales,
    sales_admin,  # noqa: F401  (registers the sales page)
    webhooks,
)
from .models import (
    AutoReload,
    CreditGrant,
    Difference,
    EventState,
    GrantSource,
    GrantState,
    ReconciliationRun,
    Reload,
    RunOutcome,
    StripeEvent,
    TransactionType,
)
from .reconciliation import format_money

# Stripe's dashboard pages by id prefix; anything else is found through its search.
DASHBOARD_PATHS = {"pi": "payments", "ch": "payments", "in": "invoices", "sub": "subscriptions", "cus": "customers"}


def dashboard_url(object_id: str) -> str:
    """Where an operator sees a Stripe object (the stand-in's pages locally)."""
    mode = "" if settings.STRIPE_LIVE_MODE else "/test"
    path = DASHBOARD_PATHS.get(object_id.split("_", 1)[0])
    base = settings.STRIPE_DASHBOARD_URL.rstrip("/") + mode
    return f"{base}/{path}/{object_id}" if path else f"{base}/search?query={object_id}"


MANUAL_TYPES = [(t, t) for t in (TransactionType.ADMIN_GRANT, TransactionType.SIGNUP_BONUS, TransactionType.REFUND)]


class ManualGrantForm(forms.ModelForm):
    transaction_type = forms.ChoiceField(choices=MANUAL_TYPES, initial=TransactionType.ADMIN_GRANT)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Kept with the grant for audit.")

    class Meta:
        model = CreditGrant
        fields = ["account", "amount", "transaction_type", "reason"]

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if not amount:
            raise forms.ValidationError("The amount must not be zero.")
        return amount


class MoneyBackFilter(admin.SimpleListFilter):
    """Refunds and disputes side by side: both are reversals held for an operator."""

    title = "money back"
    parameter_name = "money_back"

    def lookups(self, request, model_admin):
        return [("reversals", "Refunds and disputes")]

    def queryset(self, request, queryset):
        if self.value() == "reversals":
            return queryset.filter(source__in=[GrantSource.STRIPE_REFUND, GrantSource.STRIPE_DISPUTE])
        return queryset


class SoldThroughFilter(admin.SimpleListFilter):
    """A Stripe purchase made at Checkout or by an auto-reload's off-session charge: both
    are the source "Stripe purchase"; an auto-reload's grant is keyed by its payment
    intent (the sales page tells them apart the same way)."""

    title = "Stripe purchase made by"
    parameter_name = "sold_through"

    def lookups(self, request, model_admin):
        return [("checkout", "Checkout"), ("auto_reload", "Auto-reload")]

    def queryset(self, request, queryset):
        if self.value() == "checkout":
            return queryset.filter(source=GrantSource.STRIPE).exclude(sales.AUTO_RELOADED)
        if self.value() == "auto_reload":
            return queryset.filter(sales.AUTO_RELOADED)
        return queryset


@admin.register(CreditGrant)
class CreditGrantAdmin(admin.ModelAdmin):
    # The transaction type follows the source and attempts matter only with the reason (both
    # are on the grant's page): the list keeps to 1280 px.
    list_display = ("short_id", "account", "amount", "source", "state", "why", "created_at", "applied_at")
    list_filter = ("state", MoneyBackFilter, "source", SoldThroughFilter, "transaction_type")
    search_fields = ("idempotency_key", "stripe_object_id", "stripe_event_id", "apple_transaction_id",
                     "account__email", "flash_user_id")
    list_select_related = ("account",)
    autocomplete_fields = ["account"]
    actions = ["retry_grants", "reconcile_grants"]
    date_hierarchy = "created_at"

    @admin.display(description="grant")
    def short_id(self, obj: CreditGrant) -> str:
        return str(obj.id)[:8]

    @admin.display(description="why not applied")
    def why(self, obj: CreditGrant) -> str:
        # The reason a pending, stuck or failed grant is not in Flash (its last error).
        return "" if obj.state == GrantState.APPLIED else Truncator(obj.last_error).chars(120)

    def get_form(self, request: HttpRequest, obj: CreditGrant | None = None, **kwargs):
        if obj is None:
            kwargs["form"] = ManualGrantForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: CreditGrant | None = None):
        if obj is None:
            return ["account", "amount", "transaction_type", "reason"]
        return [f.name for f in CreditGrant._meta.fields]

    def get_readonly_fields(self, request: HttpRequest, obj: CreditGrant | None = None):
        return [] if obj is None else [f.name for f in CreditGrant._meta.fields]

    def has_delete_permission(self, request: HttpRequest, obj: CreditGrant | None = None) -> bool:
        return False  # the ledger is append-only

    def save_model(self, request: HttpRequest, obj: CreditGrant, form, change: bool) -> None:
        if change:
            return  # grants are not edited; actions change their state
        grant, _ = grants.record(
            f"manual:{uuid.uuid4()}",
            source=GrantSource.MANUAL,
            account=obj.account,
            amount=obj.amount,
            transaction_type=obj.transaction_type,
            description=f"Manual grant by {request.user.get_username()}: {obj.reason}"[:255],
            reason=obj.reason,
            created_by=request.user,
        )
        obj.pk = grant.pk  # the admin's confirmation and history name the grant recorded

    @admin.action(description="Retry delivery to Flash (failed or held grants)")
    def retry_grants(self, request: HttpRequest, queryset: QuerySet) -> None:
        retried = [g for g in queryset if grants.retry(g)]
        for grant in retried:
            # The retry clears last_error; the grant's history keeps who retried it and why it had failed.
            self.log_change(request, grant, f"Retried delivery to Flash after {grant.attempts} attempt(s) "
                                            f"({grant.state}): {Truncator(grant.last_error).chars(500) or 'no error'}")
            grants.deliver_quietly(grant.id)
        self.message_user(request, f"{len(retried)} grant(s) sent again; the worker retries any still pending.")

    @admin.action(description="Reconcile with Flash's history")
    def reconcile_grants(self, request: HttpRequest, queryset: QuerySet) -> None:
        found = missing = 0
        for grant in queryset.exclude(state=GrantState.APPLIED):
            try:
                if grants.reconcile(grant):
                    found += 1
                else:
                    missing += 1
            except UpstreamError:
                self.message_user(request, "Flash's history could not be read; try again later.", messages.ERROR)
                return
        self.message_user(request, f"{found} found in Flash and marked applied; {missing} not in Flash.")


def process_again(event: StripeEvent) -> bool:
    """Run a failed event's handler again (e.g. once its account exists); True when
    it succeeded this time. The result is kept on the event either way."""
    with transaction.atomic():
        return webhooks.run(event)


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ("stripe_id", "event_type", "state", "short_result", "received_at", "mirrored_at")
    list_filter = ("state", "type")
    search_fields = ("stripe_id", "result")
    readonly_fields = [f.name if f.name != "payload" else "payload_json" for f in StripeEvent._meta.fields]
    actions = ["reprocess"]

    @admin.display(description="payload")
    def payload_json(self, obj: StripeEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        # Nothing on an event is edited by hand: no save buttons (a failed one has
        # its *Process again* button instead).
        no_save = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, {**no_save, **(extra_context or {})})

    @admin.display(description="type", ordering="type")
    def event_type(self, obj: StripeEvent) -> str:
        # May break after a dot: payment_intent.payment_failed on one line would push
        # the last column off a 1280 px screen.
        return format_html_join(mark_safe(".<wbr>"), "{}", ((part,) for part in obj.type.split(".")))

    @admin.display(description="result", ordering="result")
    def short_result(self, obj: StripeEvent) -> str:
        # The whole result is on the event's page; the list keeps to one line.
        return Truncator(obj.result).chars(70)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: StripeEvent | None = None) -> bool:
        return False

    def get_urls(self) -> list:
        return [path("<path:object_id>/process-again/", self.admin_site.admin_view(self.process_again_view),
                     name="payments_stripeevent_process_again"), *super().get_urls()]

    @method_decorator(require_POST)
    def process_again_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        """The *Process again* button of a failed event's page."""
        event = get_object_or_404(StripeEvent, pk=object_id, state=EventState.FAILED)
        if not self.has_change_permission(request, event):
            raise PermissionDenied
        if process_again(event):
            self.message_user(request, f"Event {event.stripe_id} processed: {event.result}", messages.SUCCESS)
        else:
            self.message_user(request, f"Event {event.stripe_id} failed again: {event.result}", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:payments_stripeevent_change", args=[event.pk]))

    @admin.action(description="Process failed events again (e.g. after fixing the account)")
    def reprocess(self, request: HttpRequest, queryset: QuerySet) -> None:
        done = sum(process_again(event) for event in queryset.filter(state=EventState.FAILED))
        self.message_user(request, f"{done} event(s) processed successfully.")


@admin.register(ReconciliationRun)
class ReconciliationAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Its list page is the reconciliation page: the latest runs, the latest run's
    per-day totals of Stripe, the ledger and Flash, and every open difference with a
    way to explain it; "Run now" reconciles the default window."""

    def get_urls(self):
        return [
            path("run/", self.admin_site.admin_view(require_POST(self.run_now)), name="payments_reconciliation_run"),
            path("explain/<int:pk>/", self.admin_site.admin_view(require_POST(self.explain)),
                 name="payments_reconciliation_explain"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        runs = list(ReconciliationRun.objects.all()[:10])
        latest = ReconciliationRun.objects.exclude(outcome__in=[RunOutcome.RUNNING, RunOutcome.FAILED]).first()
        open_differences = [
            {"difference": d, "stripe_url": dashboard_url(d.stripe_object_id) if d.stripe_object_id else ""}
            for d in reconciliation.open_differences().select_related("account").annotate(times=Count("runs"))[:200]
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Reconciliation",
            "opts": self.model._meta,
            "runs": runs,
            "latest": latest,
            "open_differences": open_differences,
            "open_count": reconciliation.open_differences_count(),
            "explained": Difference.objects.filter(explained_at__isnull=False)
                                           .select_related("explained_by").order_by("-explained_at")[:10],
            "may_run": request.user.has_perm("payments.add_reconciliationrun"),
            "may_explain": request.user.has_perm("payments.change_difference"),
            "window_days": settings.PAYMENTS_RECONCILE_DAYS,
            "daily": [{**day, "money": format_money(day["stripe"]["money"]),
                       "refunded": format_money(day["stripe"]["refunded"])}
                      for day in (latest.daily if latest else [])],
        }
        return TemplateResponse(request, "admin/payments/reconciliation.html", context)

    def _back(self) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:payments_reconciliationrun_changelist"))

    def run_now(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("payments.add_reconciliationrun"):
            raise PermissionDenied
        since, until = reconciliation.default_window()
        run = reconciliation.reconcile(since, until, triggered_by=f"admin: {request.user.get_username()}")
        if run.outcome == RunOutcome.FAILED:
            self.message_user(request, f"Run {run.pk} could not complete: {run.error}", messages.ERROR)
        elif run.unexplained:
            self.message_user(request, f"Run {run.pk}: {run.unexplained} unexplained difference(s).", messages.WARNING)
        else:
            self.message_user(request, f"Run {run.pk}: Stripe, the ledger and Flash agree.")
        return self._back()

    def explain(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not request.user.has_perm("payments.change_difference"):
            raise PermissionDenied
        difference = get_object_or_404(Difference, pk=pk)
        note = request.POST.get("note", "").strip()
        if not note:
            self.message_user(request, "Say why the difference is explained.", messages.ERROR)
        else:
            reconciliation.explain(difference, request.user, note)
            self.message_user(request, f"Marked explained: {difference}.")
        return self._back()


class OpenFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("explained", "Explained"), ("resolved", "Resolved")]

    def queryset(self, request, queryset):
        return {
            "open": lambda: queryset.filter(resolved_at__isnull=True, explained_at__isnull=True),
            "explained": lambda: queryset.filter(explained_at__isnull=False),
            "resolved": lambda: queryset.filter(resolved_at__isnull=False),
        }.get(self.value(), lambda: queryset)()


@admin.register(Difference)
class DifferenceAdmin(admin.ModelAdmin):
    """Every difference reconciliation ever found, for the history; the reconciliation
    page is where the open ones are explained."""

    list_display = ("kind", "occurred_at", "stripe_object_id", "account", "detail", "resolved_at", "explained_at")
    list_filter = (OpenFilter, "kind")
    search_fields = ("key", "stripe_object_id", "flash_transaction_id", "detail", "account__email", "explanation")
    list_select_related = ("account",)
    readonly_fields = [f.name for f in Difference._meta.fields]
    exclude = ("runs",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Difference | None = None) -> bool:
        return False


# --- auto-reload (CONTRACT.md §9) ------------------------------------------------------

# How many of an account's reloads its auto-reload page lists (newest first).
HISTORY_ROWS = 50


def reload_amount(obj: Reload) -> str:
    return format_money({obj.currency: obj.amount})


def stripe_link(object_id: str) -> str:
    return format_html('<a href="{}">{}</a>', dashboard_url(object_id), object_id) if object_id else "–"


@admin.register(AutoReload)
class AutoReloadAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Each account's auto-reload: its settings, saved card (brand and last 4 only) and
    every reload with its payment intent, grant and error. Changed by the account
    holder only (portal or API): an operator reads it, and may mark the failure that
    turned it off as seen (out of "needs attention"; the customer's error is kept)."""

    # The monthly limit shares a column with the month's count and the card is one short
    # column, so the list keeps to 1280 px with its filters; the rest is on the page.
    list_display = ("account", "is_on", "threshold", "package", "month", "card", "last_error_short", "updated")
    list_filter = ("enabled", "package")
    search_fields = ("account__email", "account__external_id", "stripe_customer_id")
    fields = ("account", "enabled", "threshold", "package", "monthly_limit", "this_month", "card", "customer",
              "payment_method_saved_at", "last_error", "error_at", "error_seen", "crossing", "reloaded_crossing",
              "updated_at", "history")
    readonly_fields = fields
    list_select_related = ("account", "error_seen_by")
    actions = ["mark_seen"]
    # The list says when it was rendered (a hidden field of its form): "Mark as seen"
    # then leaves alone a failure that came after, which the operator has not seen.
    change_list_template = "admin/payments/autoreload/change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "listed_at": timezone.now().isoformat()})

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The list's count in the same query, not one more per row; the page's object
        # comes through here too (get_object), so every row the admin shows has it.
        return super().get_queryset(request).annotate(
            reloads_counted=Count("account__reloads", filter=autoreload.counted_this_month("account__reloads__")))

    @admin.display(description="reloads this month")
    def this_month(self, obj: AutoReload) -> int:
        return obj.reloads_counted

    @admin.display(description="on", boolean=True, ordering="enabled")
    def is_on(self, obj: AutoReload) -> bool:
        return obj.enabled

    @admin.display(description="this month")
    def month(self, obj: AutoReload) -> str:
        return f"{self.this_month(obj)} of {obj.monthly_limit}"

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, obj: AutoReload) -> datetime:
        return obj.updated_at

    @admin.display(description="card")
    def card(self, obj: AutoReload) -> str:
        if not obj.has_payment_method:
            return "–"
        return f"{obj.payment_method_brand or 'card'} ···· {obj.payment_method_last4 or '????'}"

    @admin.display(description="Stripe customer")
    def customer(self, obj: AutoReload) -> str:
        return stripe_link(obj.stripe_customer_id)

    @admin.display(description="last error")
    def last_error_short(self, obj: AutoReload) -> str:
        if obj.last_error and obj.error_seen_at:
            return format_html("{}<br>{}", Truncator(obj.last_error).chars(80), self.error_seen(obj))
        return Truncator(obj.last_error).chars(80)

    @admin.display(description="error seen")
    def error_seen(self, obj: AutoReload) -> str:
        # Only the current error's mark: a failure clears it, and a cleared error leaves
        # an older mark that is about nothing.
        if not (obj.last_error and obj.error_seen_at):
            return "–"
        who = obj.error_seen_by.get_username() if obj.error_seen_by else "a removed user"
        return f"seen by {who}, {date_format(timezone.localtime(obj.error_seen_at), 'DATETIME_FORMAT')}"

    def has_mark_seen_permission(self, request: HttpRequest) -> bool:
        # The settings stay the holder's (no change form): the permission only lets an
        # operator record that the failure has been dealt with.
        return request.user.has_perm("payments.change_autoreload")

    @admin.action(description="Mark as seen (out of Needs attention; the customer still sees the error)",
                  permissions=["mark_seen"])
    def mark_seen(self, request: HttpRequest, queryset: QuerySet) -> None:
        listed_at = parse_datetime(request.POST.get("listed_at", ""))
        marked = autoreload.mark_seen(queryset, request.user, listed_at)
        newer = 0 if listed_at is None else autoreload.unseen_failures(queryset.filter(error_at__gt=listed_at)).count()
        skipped = queryset.count() - marked - newer
        self.message_user(request, f"{marked} auto-reload(s) marked as seen; they are counted again if a charge "
                                   "fails again." + (f" {skipped} had no failure to see (on, no error, or already "
                                                     "seen)." if skipped else ""))
        if newer:
            self.message_user(request, f"{newer} failed again after this list was shown and were not marked: "
                                       "read their new error first.", messages.WARNING)

    @admin.display(description="reloads (newest first)")
    def history(self, obj: AutoReload) -> str:
        reloads = Reload.objects.filter(account_id=obj.account_id).order_by("-created_at")[:HISTORY_ROWS]
        if not reloads:
            return "none yet"
        rows = format_html_join("", "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td>"
                                "<td>{}</td><td>{}</td><td>{}</td></tr>", (
            (reverse("admin:payments_reload_change", args=[r.pk]), f"{r.created_at:%Y-%m-%d %H:%M}",
             r.get_status_display(), f"{r.credits} credits", reload_amount(r), stripe_link(r.payment_intent_id),
             r.error or "") for r in reloads))
        return format_html("<table><thead><tr><th>claimed</th><th>status</th><th>package</th><th>paid</th>"
                           "<th>payment intent</th><th>error</th></tr></thead><tbody>{}</tbody></table>", rows)


@admin.register(Reload)
class ReloadAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Every auto-reload of every account: failed ones say why (the card's answer)."""

    list_display = ("created_at", "account", "status", "package", "amount_display", "payment_intent",
                    "error_short")
    list_filter = ("status", "package")
    search_fields = ("account__email", "payment_intent_id", "idempotency_key")
    list_select_related = ("account",)
    date_hierarchy = "created_at"
    fields = ("account", "status", "package", "credits", "amount_display", "balance", "threshold", "crossing",
              "idempotency_key", "payment_intent", "grant", "error", "attempts", "next_attempt_at", "created_at",
              "charged_at", "finished_at")
    readonly_fields = fields

    @admin.display(description="paid")
    def amount_display(self, obj: Reload) -> str:
        return reload_amount(obj)

    @admin.display(description="payment intent")
    def payment_intent(self, obj: Reload) -> str:
        return stripe_link(obj.payment_intent_id)

    @admin.display(description="error")
    def error_short(self, obj: Reload) -> str:
        return Truncator(obj.error).chars(80)
