"""Tiers and the limits they set (CONTRACT.md §5). The keys-and-limits issue fills
in the counting; the seams the other apps call are fixed here."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle


@dataclass(frozen=True)
class TierLimits:
    requests_per_minute: int
    concurrent: int
    hd: bool


TIERS: dict[str, TierLimits] = {
    "free": TierLimits(requests_per_minute=10, concurrent=1, hd=False),
    "pro": TierLimits(requests_per_minute=60, concurrent=5, hd=True),
    "enterprise": TierLimits(requests_per_minute=300, concurrent=20, hd=True),
}


def caller_tier(request: Request) -> str:
    """The tier whose limits apply: the key's for API keys, the account's otherwise,
    free for anonymous callers."""
    credential = getattr(request, "auth", None)
    if getattr(credential, "is_api_key", False):
        return credential.api_key.tier
    account = getattr(request, "user", None)
    return account.effective_tier if account is not None else "free"


def limits_for(request: Request) -> TierLimits:
    return TIERS.get(caller_tier(request), TIERS["free"])


def may_use_hd(request: Request) -> bool:
    """HD needs a tier with HD, or a plan that includes it (Historian)."""
    from payments.plans import plan_has_hd

    account = getattr(request, "user", None)
    return limits_for(request).hd or (account is not None and plan_has_hd(account.plan))


class TierRateThrottle(BaseThrottle):
    """Requests per minute per key / account / client IP. Seam: allows all for now."""

    def allow_request(self, request: Request, view: object) -> bool:
        return True


def check_auth_failures(request: Request) -> None:
    """Raise 429 when this client IP has failed authentication too often. Seam."""


def record_auth_failure(request: Request) -> None:
    """Count a failed authentication against the client IP. Seam."""


class Slot:
    """One held concurrency slot; `release()` is idempotent."""

    def release(self) -> None:
        pass


def acquire_slot(request: Request) -> Slot:
    """Take one of the caller's concurrent-request slots, or raise 429
    `concurrency_limited`. Streams hold it until the stream ends. Seam."""
    return Slot()


@contextlib.contextmanager
def concurrency_slot(request: Request) -> Iterator[Slot]:
    """Hold a slot for the duration of a relayed request."""
    slot = acquire_slot(request)
    try:
        yield slot
    finally:
        slot.release()


def ratelimited_view(request: HttpRequest, exception: Exception) -> HttpResponse:
    from timepoint_billing.errors import error_response

    return error_response(429, "rate_limited", "Too many requests.")
