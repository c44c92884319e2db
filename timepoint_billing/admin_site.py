"""The admin as billing's operators use it: billing's own apps first, a "needs
attention" box on the index, the usage dashboard with the sales beside it, and
dj-stripe's mirror of Stripe last, read-only and cut down to the objects an operator
looks up.

`BillingAdminConfig` replaces `django.contrib.admin` in INSTALLED_APPS; its site is
`admin.site`, so every app's `admin.py` registers on it as usual; pages that show
several apps' figures are composed in composed_admin.py.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest
from django.template.response import TemplateResponse

from core.admin import ReadOnlyAdmin

# Billing's apps, in the order an operator needs them, and their models' order
# (models not named here follow, alphabetically).
BILLING_APPS = {
    "payments": ["SalesReport", "ReconciliationRun", "CreditGrant", "StripeEvent", "Difference", "AutoReload",
                 "Reload"],
    "accounts": ["Account", "SessionToken"],
    "apikeys": ["APIKey", "TierChange"],
    "metering": ["UsageDashboard", "UsageRecord"],
}
STRIPE_MIRROR = "djstripe"
STRIPE_MIRROR_NAME = "Stripe mirror (read-only)"
# What an operator looks up in the mirror; the other models stay reachable through
# links but are left out of the index and the sidebar.
STRIPE_MIRROR_SHOWN = ["Customer", "Subscription", "Invoice", "Charge", "Refund", "Dispute", "PaymentIntent",
                       "Product", "Price", "Event"]
# Library models with nothing for an operator (social-auth's OpenID bookkeeping).
HIDDEN = {"social_django": {"Association", "Nonce"}}


class ReadOnlyMirror(ReadOnlyAdmin):
    """A mirror of Stripe is changed by Stripe (webhooks, `djstripe_sync_models`), never
    by hand: no add, change, delete or bulk action."""

    def get_actions(self, request: HttpRequest) -> dict:
        return {}


def _ordered(app: dict, order: list[str]) -> dict:
    rank = {name: n for n, name in enumerate(order)}
    app["models"].sort(key=lambda m: (rank.get(m["object_name"], len(rank)), m["name"]))
    return app


class BillingAdminSite(admin.AdminSite):
    site_header = "TIMEPOINT billing"
    site_title = "TIMEPOINT billing"
    index_title = "Operations"
    # The sidebar repeats the index and takes 300 px from every list: without it a
    # list with its filters fits a 1280 px screen.
    enable_nav_sidebar = False

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        apps = {app["app_label"]: app for app in super().get_app_list(request, app_label)}
        for label, hidden in HIDDEN.items():
            if label in apps:
                apps[label]["models"] = [m for m in apps[label]["models"] if m["object_name"] not in hidden]
        billing = [_ordered(apps.pop(label), order) for label, order in BILLING_APPS.items() if label in apps]
        mirror = apps.pop(STRIPE_MIRROR, None)
        rest = list(apps.values())
        if mirror is not None:
            mirror["name"] = STRIPE_MIRROR_NAME
            mirror["models"] = [m for m in mirror["models"] if m["object_name"] in STRIPE_MIRROR_SHOWN]
            _ordered(mirror, STRIPE_MIRROR_SHOWN)
            rest.append(mirror)
        return billing + rest

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        # Imported on use: this module is loaded with INSTALLED_APPS, before any model.
        from payments.attention import needs_attention

        items = needs_attention(request.user)
        context = {"needs_attention": items, "attention_count": sum(item.count for item in items),
                   **(extra_context or {})}
        return super().index(request, context)


def make_read_only(site: admin.AdminSite, app_label: str) -> None:
    """Register every model of an app again with its admin made read-only."""
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label == app_label and not isinstance(model_admin, ReadOnlyMirror):
            base = type(model_admin)
            site.unregister(model)
            site.register(model, type(f"ReadOnly{base.__name__}", (ReadOnlyMirror, base), {}))


class BillingAdminConfig(AdminConfig):
    default_site = "timepoint_billing.admin_site.BillingAdminSite"

    def ready(self) -> None:
        super().ready()  # every app's admin module is registered now
        make_read_only(admin.site, STRIPE_MIRROR)
        from .composed_admin import compose

        compose(admin.site)
