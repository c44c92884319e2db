"""X-RateLimit-* headers (and the IETF draft's RateLimit-Policy / RateLimit) on every
response whose request was counted, a generation's cost headers, and the concurrency
slot its admission took given back when the response closes."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from core.context import context
from limits.slots import release_when_closed


class RateLimitHeadersMiddleware:
    """Copies what `TierRateThrottle` left in the request's context (the throttle runs
    inside the view, before the response or the 429 exists), and holds the slot of the
    request's admission until the server closes the response: after the body, after
    the last event of a stream, or when the client goes away."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        ctx = context(request)
        for name, value in ctx.rate_limit_headers.items():
            response[name] = value
        if ctx.generation:
            # Refusals too (0 spent): a client reads one header whatever the outcome.
            response["X-Credits-Spent"] = str(ctx.credits_spent)
            if ctx.budget_remaining is not None:
                response["X-Budget-Remaining"] = str(ctx.budget_remaining)
        admission = ctx.admission
        if admission is not None and admission.slot is not None:
            release_when_closed(response, admission.slot)
        return response
