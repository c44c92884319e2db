from __future__ import annotations

from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from accounts.models import Account
from core.catalog import Tier

from . import budgets
from .keys import revoke_key, rolled_expiry_refusal, update_key
from .models import APIKey, TierChange


def _key_state(key: APIKey) -> str:
    if not key.is_active:
        return "revoked"
    if key.expires_at is None:
        return "active"
    verb = "expired" if key.is_expired() else "expires"
    return f"{verb} {timezone.localtime(key.expires_at):%Y-%m-%d %H:%M}"


class TierFilter(admin.SimpleListFilter):
    """A key's tier is its account's: the operator's override, else the plan's."""

    title = "tier"
    parameter_name = "tier"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return Tier.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> QuerySet[APIKey]:
        if self.value() not in Tier.values:
            return queryset
        return queryset.filter(Account.effective_tier_is(self.value(), through="account__"))


class BudgetFilter(admin.SimpleListFilter):
    title = "monthly budget"
    parameter_name = "budget"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "With a budget"), ("no", "Without")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> QuerySet[APIKey]:
        if self.value() in ("yes", "no"):
            return queryset.filter(monthly_credit_limit__isnull=self.value() == "no")
        return queryset


class APIKeyForm(forms.ModelForm):
    def clean_expires_at(self) -> datetime | None:
        # The API's rule (409 there): a rolled key's expiry only comes sooner.
        expires_at = self.cleaned_data["expires_at"]
        if "expires_at" in self.changed_data and (refusal := rolled_expiry_refusal(self.instance, expires_at)):
            raise forms.ValidationError(refusal)
        return expires_at


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    form = APIKeyForm
    # The rate limit follows the tier (it is on the key's page).
    list_display = ("prefix", "name", "account", "environment", "tier_name", "budget_and_expiry", "is_active",
                    "last_used_at")
    list_filter = ("is_active", "environment", TierFilter, BudgetFilter)
    search_fields = ("prefix", "name", "account__email", "account__external_id")
    list_select_related = ("account", "replaced_by")
    # The hash is never shown: it identifies the key as well as the key itself. An
    # operator may change a key's budget and expiry (applied at once, as the owner's
    # PATCH is); everything else is the owner's or follows from the account.
    fields = ("id", "account", "prefix", "name", "environment", "tier_name", "rate_limit", "rate_limit_override",
              "monthly_credit_limit", "spent_this_month", "expires_at", "roll_chain",
              "is_active", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("id", "account", "prefix", "name", "environment", "tier_name", "rate_limit",
                       "rate_limit_override", "spent_this_month", "roll_chain", "is_active", "created_at",
                       "last_used_at", "revoked_at")
    actions = ["revoke"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[APIKey]:
        # The tier column sorts by the account's tier as shown (an override winning), by
        # rank: by name it would read enterprise < free < pro.
        return super().get_queryset(request).annotate(
            tier_rank=Account.effective_tier_rank_expression(through="account__"))

    @admin.display(description="tier", ordering="tier_rank")
    def tier_name(self, obj: APIKey) -> str:
        return obj.tier.label

    @admin.display(description="budget · expiry")
    def budget_and_expiry(self, obj: APIKey) -> str:
        # One narrow column: the list must fit a 1280 px screen (tests/admin/test_lists.py).
        budget = "—" if obj.monthly_credit_limit is None else f"{obj.monthly_credit_limit}/mo"
        if obj.replaced_by_id is not None:
            return f"{budget} · rolled, {_key_state(obj)}"
        return budget if obj.expires_at is None else f"{budget} · {_key_state(obj)}"

    @admin.display(description="credits spent this month (UTC), by its roll chain")
    def spent_this_month(self, obj: APIKey) -> str:
        spent = budgets.spent_this_month([obj])[obj.pk]
        if obj.monthly_credit_limit is None:
            return f"{spent} (no budget)"
        return f"{spent} of {obj.monthly_credit_limit}"

    @admin.display(description="roll chain (oldest first)")
    def roll_chain(self, obj: APIKey) -> str:
        chain = budgets.chain_keys([obj.budget_chain]).order_by("created_at")
        if len(chain) < 2:
            return "never rolled"
        return format_html_join(
            mark_safe("<br>"), '<a href="{}">{}…</a> {} · created {} · {}',
            ((reverse("admin:apikeys_apikey_change", args=[key.pk]), key.prefix,
              "(this key)" if key.pk == obj.pk else "", key.created_at.strftime("%Y-%m-%d %H:%M"),
              _key_state(key)) for key in chain))

    def save_model(self, request: HttpRequest, obj: APIKey, form: object, change: bool) -> None:
        # Through update_key: the key's cached record and budget counter follow.
        update_key(APIKey.objects.get(pk=obj.pk), {name: getattr(obj, name) for name in form.changed_data})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are made by their owners, who see the plaintext once

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> None:
        count = 0
        for key in queryset.filter(is_active=True):
            revoke_key(key)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


@admin.register(TierChange)
class TierChangeAdmin(admin.ModelAdmin):
    """Operators set an account's tier here (e.g. enterprise); every change is kept
    with its note and author."""

    list_display = ("account", "tier_override", "note", "changed_by", "changed_at")
    list_filter = ("tier_override",)
    search_fields = ("account__email", "account__external_id", "note", "changed_by")
    autocomplete_fields = ("account",)
    readonly_fields = ("changed_by", "changed_at")

    def has_change_permission(self, request: HttpRequest, obj: TierChange | None = None) -> bool:
        return False  # an audit trail: changes are new entries

    def has_delete_permission(self, request: HttpRequest, obj: TierChange | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: TierChange, form: object, change: bool) -> None:
        with transaction.atomic():
            obj.changed_by = request.user.get_username()
            obj.save()
            account = obj.account
            account.tier_override = obj.tier_override
            account.save(update_fields=["tier_override"])  # its keys' cached records go (apikeys.signals)
