from django.contrib import admin

from .models import Account


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("email", "external_id", "flash_user_id", "plan", "tier", "tier_override", "last_seen_at")
    list_filter = ("plan", "tier", "tier_override")
    search_fields = ("email", "external_id", "flash_user_id")
    readonly_fields = ("id", "external_id", "flash_user_id", "created_at", "last_seen_at")
