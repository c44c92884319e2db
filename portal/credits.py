"""Portal pages for credits and plans: buying through Stripe Checkout, what happens
after, Flash's transaction history, and the plan with Stripe's billing portal.

The views only call the payments helpers (`checkout.create_checkout`,
`checkout.create_billing_portal`) and the Flash client; Stripe and Flash are never called
from here directly.
"""

from __future__ import annotations

import math

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Account
from core.catalog import PACKAGES, PLANS, Plan
from core.errors import APIError
from payments.checkout import create_billing_portal, create_checkout
from payments.models import MARKER_PATTERN, UNDELIVERED_STATES, CreditGrant, GrantSource
from upstreams import flash

from .templatetags.portal_ui import code_label
from .views import account_required, balance_or_none

HISTORY_PAGE_SIZE = 20  # seeds/003: 20 transactions per page
# While a grant is on its way, the page refreshes itself (no JavaScript needed).
PENDING_REFRESH_SECONDS = 5


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def describe(entry: dict, grants: dict[str, CreditGrant]) -> str:
    """What a transaction was, in words for its owner: never the ledger's marker,
    never an operator's name or internal reason."""
    text = str(entry.get("description") or "")
    match = MARKER_PATTERN.search(text)
    grant = grants.get(match.group(1)) if match else None
    if grant is not None and grant.source == GrantSource.MANUAL:
        return "Credits from TIMEPOINT support" if grant.amount > 0 else "Correction by TIMEPOINT support"
    return MARKER_PATTERN.sub("", text).strip() or code_label(entry.get("transaction_type"))


def described(account: Account, transactions: list) -> list[dict]:
    """Flash's entries with a `summary` for the page; the account's own grants named
    by their markers tell what an entry was."""
    entries = [t for t in transactions if isinstance(t, dict)]
    ids = {m.group(1) for t in entries if (m := MARKER_PATTERN.search(str(t.get("description") or "")))}
    grants = {str(g.pk): g for g in CreditGrant.objects.filter(account=account, pk__in=ids)} if ids else {}
    return [{**t, "summary": describe(t, grants)} for t in entries]


def _history(account: Account, page: int) -> dict | None:
    try:
        body = flash.history(account.flash_user_id, limit=HISTORY_PAGE_SIZE, offset=(page - 1) * HISTORY_PAGE_SIZE)
    except APIError:
        return None
    total = int(body.get("total") or 0)
    pages = max(1, math.ceil(total / HISTORY_PAGE_SIZE))
    return {
        "transactions": described(account, body["transactions"]),
        "total": total,
        "page": page,
        "pages": pages,
        "previous": page - 1 if page > 1 else None,
        "next": page + 1 if page < pages else None,
    }


@require_GET
@account_required
def credits(request: HttpRequest, account: Account) -> HttpResponse:
    return render(request, "portal/credits.html", {
        "section": "credits",
        "balance": balance_or_none(account),
        "packages": list(PACKAGES.values()),
        "pending": CreditGrant.objects.filter(account=account, state__in=UNDELIVERED_STATES),
        "history": _history(account, _page_number(request)),
    })


def _to_checkout(request: HttpRequest, account: Account, failure_target: str, success: str, cancel: str,
                 **item: str) -> HttpResponse:
    """Off to Stripe Checkout; Stripe sends the buyer back to `success` or `cancel`."""
    try:
        session = create_checkout(account, success_url=success, cancel_url=cancel, **item)
    except APIError as exc:
        messages.error(request, f"Checkout could not start: {exc.message}")
        return redirect(failure_target)
    return redirect(session["url"])


@require_POST
@account_required
def buy(request: HttpRequest, account: Account) -> HttpResponse:
    package = request.POST.get("package", "")
    if package not in PACKAGES:
        messages.error(request, "Choose one of the credit packages.")
        return redirect("portal-credits")
    success = request.build_absolute_uri(reverse("portal-credits-success")) + "?session_id={CHECKOUT_SESSION_ID}"
    cancel = request.build_absolute_uri(reverse("portal-credits-cancel"))
    return _to_checkout(request, account, "portal-credits", success, cancel, package=package)


@require_GET
@never_cache
@account_required
def success(request: HttpRequest, account: Account) -> HttpResponse:
    session_id = request.GET.get("session_id", "")
    grant = (
        CreditGrant.objects.filter(account=account, stripe_object_id=session_id).first()
        if session_id else None
    )
    waiting = grant is None or grant.state in UNDELIVERED_STATES
    return render(request, "portal/credits_success.html", {
        "section": "credits",
        "grant": grant,
        "waiting": waiting,
        "refresh": PENDING_REFRESH_SECONDS if waiting and session_id else None,
        "balance": None if waiting else balance_or_none(account),
    })


@require_GET
@account_required
def cancel(request: HttpRequest, account: Account) -> HttpResponse:
    return render(request, "portal/credits_cancel.html", {"section": "credits"})


@require_GET
@account_required
def plan(request: HttpRequest, account: Account) -> HttpResponse:
    return render(request, "portal/plan.html", {
        "section": "plan",
        "current": PLANS.get(account.plan),
        "plans": list(PLANS.values()),
        "has_billing": bool(account.stripe_customer_id),
        # One subscription at a time: changes and cancellation go through Stripe's portal.
        "has_subscription": account.plan != Plan.FREE,
        "checkout": request.GET.get("checkout"),
    })


@require_POST
@account_required
def upgrade(request: HttpRequest, account: Account) -> HttpResponse:
    chosen = PLANS.get(request.POST.get("plan", ""))
    if chosen is None or chosen.price_setting is None:
        messages.error(request, "Choose one of the paid plans.")
        return redirect("portal-plan")
    # A plan's credits come with its first invoice, not with the checkout session,
    # so the buyer comes back to the plan page rather than to a grant's progress.
    back = request.build_absolute_uri(reverse("portal-plan"))
    return _to_checkout(request, account, "portal-plan", back + "?checkout=done", back + "?checkout=cancelled",
                        plan=chosen.id)


@require_POST
@account_required
def manage(request: HttpRequest, account: Account) -> HttpResponse:
    try:
        session = create_billing_portal(account,
                                        return_url=request.build_absolute_uri(reverse("portal-plan")))
    except APIError as exc:
        messages.error(request, f"The billing portal could not open: {exc.message}")
        return redirect("portal-plan")
    return redirect(session["url"])
