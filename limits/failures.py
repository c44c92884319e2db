"""Failed authentications per client IP (CONTRACT.md §5): keys and tokens cannot be
guessed. Every refused credential (key, session or Auth0 token) is counted against
the client IP in a one-minute window; the failure past AUTH_FAILURES_PER_MINUTE
answers 429, and so does every credential from that IP, valid ones included (the
admission checks the counter first), until the window ends."""

from __future__ import annotations

import math

from django.conf import settings

from core.cache import quietly
from core.errors import APIError

from .counters import WINDOW_MS, counters


def allowed() -> int:
    return settings.AUTH_FAILURES_PER_MINUTE


def too_many(ms_left: int) -> APIError:
    return APIError(
        429,
        "rate_limited",
        "Too many failed authentications from this address; retry after the time in Retry-After.",
        headers={"Retry-After": str(max(1, math.ceil(ms_left / 1000)))},
    )


def record(ip: str) -> None:
    """Count a failed authentication of `ip`; raise 429 when it is one too many."""
    counted = quietly(lambda: counters().fail(ip, WINDOW_MS), None)
    if counted is not None and counted[0] > allowed():
        raise too_many(counted[1])
