"""The developer portal's own pages: sign-in and sign-out, the dashboard, the API
guide, and the `account_required` guard every portal page uses. The pages of keys,
usage and credits are beside this module; all build on `portal/base.html`."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth import logout as django_logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Account
from core.calendar import month_start
from core.catalog import PLANS, TIERS, has_hd, limits_for
from core.charts import day_label
from core.context import context
from core.errors import APIError
from metering import usage
from upstreams import flash

from .guide import GROUPS

FAILURES_SHOWN = 5  # the dashboard's glimpse; a key's page lists more


@require_GET
def login(request: HttpRequest) -> HttpResponse:
    """A sign-in button: social-auth starts the Auth0 round trip only on a CSRF-checked
    POST (Universal Login then offers email, Google, GitHub and Apple)."""
    if request.user.is_authenticated:
        return redirect("portal-home")
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = ""
    return render(request, "portal/login.html", {"next": next_url})


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    django_logout(request)  # flushes the Django session
    return render(request, "portal/signed_out.html")


def account_required(view: Callable) -> Callable:
    """A signed-in person with a billing account, which the view gets after the
    request (and the request's context too); a Django user without one (an operator
    from the admin) is told so instead of seeing a crash."""

    @login_required
    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        account = getattr(request.user, "account", None)
        if account is None:
            return render(request, "portal/no_account.html", status=403)
        context(request).account = account
        return view(request, account, *args, **kwargs)

    return guarded


def balance_or_none(account: Account) -> int | None:
    """Flash's balance, or None when Flash cannot say (the page shows "unavailable")."""
    try:
        return flash.get_balance(account.flash_user_id)
    except APIError:
        return None


@account_required
def home(request: HttpRequest, account: Account) -> HttpResponse:
    today = usage.today()
    first = month_start(today)
    month = usage.account_usage(account, first, today)
    names = {str(key.pk): key for key in account.api_keys.all()}
    by_key = [{**row, "key": names.get(row["key_id"])} for row in month["by_key"][:5]]
    return render(request, "portal/dashboard.html", {
        "section": "dashboard",
        "account": account,
        "balance": balance_or_none(account),
        "plan": PLANS.get(account.plan),
        "tier": account.effective_tier,
        "limits": limits_for(account.effective_tier),
        # A plan may include HD where its tier does not (Historian): say what the relay allows.
        "hd": has_hd(account.effective_tier, account.plan),
        "month": month,
        "month_start": first,
        "points": [(day_label(row["date"]), row["requests"]) for row in month["daily"]],
        "active_keys": sum(1 for key in names.values() if key.is_active),
        "by_key": by_key,
        "failures": usage.recent_failures(usage.day_start(first), FAILURES_SHOWN, account=account),
    })


@account_required
def docs(request: HttpRequest, account: Account) -> HttpResponse:
    return render(request, "portal/docs.html", {
        "section": "docs",
        "api_base": request.build_absolute_uri("/").rstrip("/"),
        "tiers": list(TIERS.items()),
        "endpoint_groups": GROUPS,
    })
