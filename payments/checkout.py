"""Stripe Checkout and billing-portal sessions (CONTRACT.md §6)."""

from __future__ import annotations

import logging
from typing import Any

import stripe
from django.conf import settings

from accounts.models import Account
from core.catalog import CURRENCY, PACKAGES, PLANS, Plan, price_id
from core.errors import APIError
from upstreams.stripe import call as call_stripe

log = logging.getLogger("payments.checkout")


def create_checkout(account: Account, *, package: str | None = None, plan: str | None = None,
                    success_url: str | None = None, cancel_url: str | None = None) -> Any:
    """A Checkout session for a package or a plan. Buyers come back to the app's
    configured pages unless the caller (the portal) names its own."""
    if bool(package) == bool(plan):
        raise APIError(400, "invalid_request", "Give exactly one of package or plan.")
    if package:
        item = PACKAGES.get(package)
        if item is None:
            raise APIError(400, "invalid_request", f"Unknown package; choose one of {sorted(PACKAGES)}.")
        metadata = {"account_id": str(account.pk), "package": item.id, "credits": str(item.credits)}
        mode = "payment"
    else:
        item = PLANS.get(plan or "")
        if item is None or item.price_setting is None:
            raise APIError(400, "invalid_request",
                           f"Unknown plan; choose one of {sorted(str(p) for p in PLANS if PLANS[p].price_setting)}.")
        if account.plan != Plan.FREE:
            # A second subscription would bill twice; plan changes go through the portal.
            raise APIError(400, "invalid_request", "Already subscribed: change plan in the billing portal.")
        metadata = {"account_id": str(account.pk), "plan": item.id, "credits": str(item.credits_per_month)}
        mode = "subscription"
    price = price_id(item.price_setting)
    if not price:
        log.error("%s is not configured: %s cannot be sold", item.price_setting, item.id)
        raise APIError(400, "invalid_request", f"{item.id} is not on sale.")

    params = _session_params(account, mode, metadata, success_url, cancel_url)
    params["line_items"] = [{"price": price, "quantity": 1}]
    if mode == "payment":
        params["payment_intent_data"] = {"metadata": metadata}
    else:
        params["subscription_data"] = {"metadata": metadata}
    return call_stripe(stripe.checkout.Session.create, **params)


def create_billing_portal(account: Account, return_url: str | None = None) -> Any:
    """A session of Stripe's billing portal, where the customer manages card, invoices and plan."""
    if not account.stripe_customer_id:
        raise APIError(400, "invalid_request", "No billing account yet: buy something first.")
    return call_stripe(stripe.billing_portal.Session.create, customer=account.stripe_customer_id,
                        return_url=return_url or settings.PAYMENTS_BILLING_PORTAL_RETURN_URL)


def create_card_setup(account: Account, *, success_url: str | None = None, cancel_url: str | None = None) -> Any:
    """A Checkout session in setup mode: the account saves a card for auto-reload,
    nothing is charged. Its setup_intent.succeeded event stores the card (webhooks.py)."""
    metadata = {"account_id": str(account.pk), "purpose": "auto_reload"}
    params = _session_params(account, "setup", metadata, success_url, cancel_url)
    params["currency"] = CURRENCY
    params["setup_intent_data"] = {"metadata": metadata}
    return call_stripe(stripe.checkout.Session.create, **params)


def _session_params(account: Account, mode: str, metadata: dict[str, str], success_url: str | None,
                    cancel_url: str | None) -> dict[str, Any]:
    """What every Checkout session of an account says: who pays, what for, and where
    the buyer comes back to."""
    params: dict[str, Any] = {
        "mode": mode,
        "client_reference_id": str(account.pk),
        "metadata": metadata,
        "success_url": success_url or settings.PAYMENTS_SUCCESS_URL,
        "cancel_url": cancel_url or settings.PAYMENTS_CANCEL_URL,
    }
    if account.stripe_customer_id:
        params["customer"] = account.stripe_customer_id
        return params
    if account.email:
        params["customer_email"] = account.email
    if mode != "subscription":
        # A subscription always makes a customer; a one-off payment or a card setup makes
        # one only when asked, and the completed event links it to the account (an
        # auto-reload's off-session payment needs the card attached to a customer).
        params["customer_creation"] = "always"
    return params
