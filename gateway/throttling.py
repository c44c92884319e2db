"""DRF's side of the limits: the throttle that applies the admission's count."""

from __future__ import annotations

import time

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from core.context import context

from .admission import admit, caller_subject, caller_tier


class TierRateThrottle(BaseThrottle):
    """Requests per minute per key / account / client IP. Authenticated callers were
    counted by the admission when they authenticated; anonymous ones are admitted here,
    on views that say so (`count_anonymous = True`: the public Clockchain relay).
    Leaves the X-RateLimit-* headers in the request's context for
    `gateway.middleware.RateLimitHeadersMiddleware`."""

    # What the admission looks for among a view's throttles to count its requests.
    counts_requests = True

    def allow_request(self, request: Request, view: object) -> bool:
        ctx = context(request)
        admission = ctx.admission
        if admission is None:
            if getattr(request, "user", None) is None and not getattr(view, "count_anonymous", False):
                return True
            admission = admit(request, caller_subject(request), caller_tier(request), check_failures=False)
        usage = admission.usage
        if usage is None:  # the cache failed: not enforced
            return True
        limit, left = usage["limit"], usage["time_left"]
        remaining = max(0, limit - usage["count"])
        ctx.rate_limit_headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(time.time()) + left),
            # draft-ietf-httpapi-ratelimit-headers: the same window, named "minute".
            "RateLimit-Policy": f'"minute";q={limit};w=60',
            "RateLimit": f'"minute";r={remaining};t={left}',
        }
        self._wait = usage["time_left"]
        return admission.verdict != "limited"

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)

