"""X-RateLimit-* headers on every response whose request was counted."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class RateLimitHeadersMiddleware:
    """Copies what `TierRateThrottle` left on the request: the throttle runs inside
    the view, before the response (or the 429) exists."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        for name, value in getattr(request, "tp_ratelimit", {}).items():
            response[name] = value
        return response
