"""The one place that talks to Stripe's API, and the one place that reads
STRIPE_API_BASE (the local stand-in's address instead of Stripe's).

- `call(fn, **params)`: a module-level stripe call (Checkout, the billing portal) with
  billing's secret key, its failures mapped onto the contract's 502/503;
- `client()`: the official `StripeClient` for reads (reconciliation), made once per
  configuration;
- `configure()`: module-level stripe calls, ours and dj-stripe's (its mirror and its
  sync commands), go to STRIPE_API_BASE. Run when the payments app is ready and before
  each call, since settings may change after start-up (tests).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import stripe
from django.conf import settings

from core.errors import APIError

log = logging.getLogger("upstreams.stripe")


def configure() -> None:
    """Point module-level stripe calls at STRIPE_API_BASE, when it is set."""
    if settings.STRIPE_API_BASE:
        stripe.api_base = settings.STRIPE_API_BASE


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
    with it); StripeClient ignores stripe.api_base, so it is given the base itself."""
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.UPSTREAM_READ_TIMEOUT)


def call(fn: Any, **params: Any) -> Any:
    """A Stripe API call whose failures become the contract's 502/503, never a 500."""
    if not settings.STRIPE_SECRET_KEY:
        log.error("STRIPE_SECRET_KEY is not configured")
        raise APIError(503, "upstream_unavailable", "Payments are not available right now.")
    configure()
    try:
        return fn(api_key=settings.STRIPE_SECRET_KEY, **params)
    except stripe.APIConnectionError:
        log.warning("Stripe could not be reached")
        raise APIError(503, "upstream_unavailable", "Stripe is unavailable; try again shortly.") from None
    except stripe.RateLimitError:
        raise APIError(503, "upstream_unavailable", "Stripe is busy; try again shortly.") from None
    except stripe.StripeError as exc:
        log.error("Stripe refused the request: %s %s", exc.http_status, exc.code)
        raise APIError(502, "upstream_error", "Stripe answered with an error.") from None
