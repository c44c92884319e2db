"""Operators' view of the ledger: grants by state, retry / reconcile / release
actions, manual grants with who and why; Stripe events and what they did."""

from __future__ import annotations

import json
import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from relay.upstream import UpstreamError

from . import (
    grants,
    sales_admin,  # noqa: F401  (registers the sales page)
    webhooks,
)
from .models import CreditGrant, EventState, GrantSource, GrantState, StripeEvent, TransactionType

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


@admin.register(CreditGrant)
class CreditGrantAdmin(admin.ModelAdmin):
    # The transaction type follows the source and attempts matter only with the reason (both
    # are on the grant's page): the list keeps to 1280 px.
    list_display = ("short_id", "account", "amount", "source", "state", "why", "created_at", "applied_at")
    list_filter = ("state", "source", "transaction_type")
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
        obj.source = GrantSource.MANUAL
        obj.created_by = request.user
        obj.flash_user_id = obj.account.flash_user_id
        obj.idempotency_key = f"manual:{uuid.uuid4()}"
        obj.description = f"Manual grant by {request.user.get_username()}: {obj.reason}"[:255]
        obj.save()
        transaction.on_commit(lambda: grants.deliver_quietly(obj.id))

    @admin.action(description="Retry delivery to Flash (failed or held grants)")
    def retry_grants(self, request: HttpRequest, queryset: QuerySet) -> None:
        retried = [g for g in queryset if grants.retry(g)]
        for grant in retried:
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
        try:
            with transaction.atomic():
                event.result = webhooks.process(event)
            event.state = EventState.SUCCEEDED
        except webhooks.Unprocessable as exc:
            event.result = str(exc)
        event.processed_at = timezone.now()
        event.save(update_fields=["state", "result", "processed_at"])
    return event.state == EventState.SUCCEEDED


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ("stripe_id", "type", "state", "short_result", "received_at", "mirrored_at")
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
