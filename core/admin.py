"""What several apps' admin pages share."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class ReadOnlyAdmin:
    """A ModelAdmin mixin for what operators look at but never change by hand: a record
    of what happened (usage), a page of figures (sales, reconciliation, the usage
    dashboard), a mirror of Stripe. No add, change or delete (so no bulk delete either)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
