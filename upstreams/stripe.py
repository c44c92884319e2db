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


class PaymentRefused(Exception):
    """Stripe answered a payment with a refusal retrying will not change (a declined
    card, a detached payment method…): `message` is for the account holder."""

    def __init__(self, message: str, code: str = "", payment_intent: str = "") -> None:
        super().__init__(message)
        self.message, self.code, self.payment_intent = message, code, payment_intent


class PaymentUnknown(Exception):
    """Stripe could not be reached or answered 5xx/409/429: the payment may or may not
    exist; calling again with the same idempotency key is safe and tells."""


def create_payment_intent(idempotency_key: str, **params: Any) -> Any:
    """A PaymentIntent under `idempotency_key` (Stripe keeps the answer 24 hours, so a
    repeated call makes no second payment). Raises PaymentRefused or PaymentUnknown."""
    if not settings.STRIPE_SECRET_KEY:
        raise PaymentUnknown("STRIPE_SECRET_KEY is not configured")
    configure()
    try:
        return stripe.PaymentIntent.create(api_key=settings.STRIPE_SECRET_KEY, idempotency_key=idempotency_key,
                                           **params)
    except stripe.CardError as exc:
        # exc.error may be None; getattr's default covers it.
        intent = getattr(exc.error, "payment_intent", None)
        code = getattr(exc.error, "decline_code", None) or exc.code or ""
        raise PaymentRefused(exc.user_message or "The card was declined.", code,
                             str(getattr(intent, "id", "") or "")) from None
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise PaymentUnknown(f"Stripe could not be reached: {type(exc).__name__}") from None
    except stripe.StripeError as exc:
        if exc.http_status in (400, 402, 404):
            raise PaymentRefused(exc.user_message or "Stripe refused the payment.", exc.code or "") from None
        raise PaymentUnknown(f"Stripe answered {exc.http_status} {exc.code or ''}".strip()) from None


def retrieve_payment_method(payment_method_id: str) -> dict:
    """A PaymentMethod as a plain dict (a saved card's brand and last4): a read,
    retried by the client."""
    return client().v1.payment_methods.retrieve(payment_method_id).to_dict()
