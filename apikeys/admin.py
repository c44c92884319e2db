from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from core.catalog import Tier

from .keys import revoke_key
from .models import APIKey, TierChange


class TierFilter(admin.SimpleListFilter):
    """A key's tier is its account's: the operator's override, else the plan's."""

    title = "tier"
    parameter_name = "tier"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return Tier.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> QuerySet[APIKey]:
        if self.value() not in Tier.values:
            return queryset
        return queryset.filter(Q(account__tier_override=self.value())
                               | Q(account__tier_override="", account__tier=self.value()))


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    # The rate limit follows the tier (it is on the key's page).
    list_display = ("prefix", "name", "account", "environment", "tier_name", "is_active", "last_used_at")
    list_filter = ("is_active", "environment", TierFilter)
    search_fields = ("prefix", "name", "account__email", "account__external_id")
    list_select_related = ("account",)
    # The hash is never shown: it identifies the key as well as the key itself.
    fields = ("id", "account", "prefix", "name", "environment", "tier_name", "rate_limit", "rate_limit_override",
              "is_active", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="tier")
    def tier_name(self, obj: APIKey) -> str:
        return obj.tier.label

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
