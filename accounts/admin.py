import datetime as dt

from django.contrib import admin, messages
from django.db.models import Count, DateTimeField, Max, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Greatest
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from .models import Account, SessionToken

# What an operator looks up about one customer: the admin list of each, narrowed to the
# account (by URL name: the apps' admins link to each other, they never import each other).
CUSTOMER_LISTS = [
    ("purchases, grants, refunds and disputes", "admin:payments_creditgrant_changelist", "account__id__exact"),
    ("auto-reloads", "admin:payments_reload_changelist", "account__id__exact"),
    ("API keys", "admin:apikeys_apikey_changelist", "account__id__exact"),
    ("usage", "admin:metering_usagerecord_changelist", "account"),
    ("session tokens", "admin:accounts_sessiontoken_changelist", "account__id__exact"),
    ("reconciliation differences", "admin:payments_difference_changelist", "account__id__exact"),
]

# Stands for "never" inside GREATEST, which PostgreSQL and SQLite treat differently
# when an argument is NULL.
NEVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("email", "plan", "effective_tier", "active_keys", "last_activity", "created_at")
    list_filter = ("plan", "tier", "tier_override", "last_seen_at")
    search_fields = ("email", "external_id", "flash_user_id", "display_name")
    readonly_fields = ("id", "external_id", "flash_user_id", "user", "created_at", "last_seen_at", "everything")
    date_hierarchy = "created_at"

    @admin.display(description="this customer's")
    def everything(self, obj: Account) -> str:
        """Links to everything the account bought, was granted or given back, its keys
        and usage: each list filtered to it."""
        if obj.pk is None:
            return "–"
        return format_html_join(mark_safe(" · "), '<a href="{}?{}={}">{}</a>',
                                ((reverse(name), param, obj.pk, label) for label, name, param in CUSTOMER_LISTS))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        never = Value(NEVER, output_field=DateTimeField())
        return super().get_queryset(request).annotate(
            key_count=Count("api_keys", filter=Q(api_keys__is_active=True), distinct=True),
            last_active=Greatest(Coalesce("last_seen_at", never), Coalesce(Max("api_keys__last_used_at"), never)),
            # The column sorts by the tier it shows, not by the tier the plan gives, and
            # by rank, not by name.
            tier_rank=Account.effective_tier_rank_expression(),
        )

    @admin.display(description="tier", ordering="tier_rank")
    def effective_tier(self, obj: Account) -> str:
        """The tier the account's limits follow; an operator's override says so."""
        if obj.tier_override:
            return format_html("{} <small>(set by an operator)</small>", obj.get_tier_override_display())
        return obj.get_tier_display()

    @admin.display(description="active keys", ordering="key_count")
    def active_keys(self, obj: Account) -> int:
        return obj.key_count

    @admin.display(description="last activity", ordering="last_active")
    def last_activity(self, obj: Account) -> dt.datetime | None:
        """The later of the last sign-in or token use and the last use of any key."""
        return obj.last_active if obj.last_active and obj.last_active > NEVER else None


@admin.register(SessionToken)
class SessionTokenAdmin(admin.ModelAdmin):
    # Never the hash: only the prefix identifies a token here.
    list_display = ("prefix", "account", "last_used_at", "expires_at", "active")
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
