from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .models import Account, SessionToken


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("email", "external_id", "flash_user_id", "plan", "tier", "tier_override", "last_seen_at")
    list_filter = ("plan", "tier", "tier_override", "last_seen_at")
    search_fields = ("email", "external_id", "flash_user_id", "display_name")
    readonly_fields = ("id", "external_id", "flash_user_id", "user", "created_at", "last_seen_at")
    date_hierarchy = "created_at"


@admin.register(SessionToken)
class SessionTokenAdmin(admin.ModelAdmin):
    # Never the hash: only the prefix identifies a token here.
    list_display = ("prefix", "account", "created_at", "last_used_at", "expires_at", "revoked_at", "active")
    list_filter = ("revoked_at", "expires_at")
    search_fields = ("prefix", "account__email", "account__external_id")
    list_select_related = ("account",)
    fields = ("prefix", "account", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(boolean=True)
    def active(self, obj: SessionToken) -> bool:
        return obj.is_active

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are only issued by login

    @admin.action(description="Revoke selected session tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[SessionToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} session token(s).", messages.SUCCESS)
