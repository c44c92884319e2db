"""Reading Stripe's objects (reconciliation) through the official client, and where
each object's page is in Stripe's dashboard."""

from __future__ import annotations

from functools import lru_cache

import stripe
from django.conf import settings

# Dashboard pages by id prefix; anything else is found through the dashboard's search.
DASHBOARD_PATHS = {"pi": "payments", "ch": "payments", "in": "invoices", "sub": "subscriptions", "cus": "customers"}


@lru_cache(maxsize=2)
def _client(secret_key: str, api_base: str, timeout: float) -> stripe.StripeClient:
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base} if api_base else None,
        http_client=stripe.RequestsClient(timeout=timeout),
        max_network_retries=2,  # only reads go through it: retrying is safe
    )


def client() -> stripe.StripeClient:
    """One client per configuration, made on first use and kept (its connection pool
    with it); STRIPE_API_BASE points it at the stand-in."""
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.UPSTREAM_READ_TIMEOUT)


def dashboard_url(object_id: str) -> str:
    mode = "" if settings.STRIPE_LIVE_MODE else "/test"
    path = DASHBOARD_PATHS.get(object_id.split("_", 1)[0])
    base = settings.STRIPE_DASHBOARD_URL.rstrip("/") + mode
    return f"{base}/{path}/{object_id}" if path else f"{base}/search?query={object_id}"
