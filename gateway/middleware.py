"""X-RateLimit-* headers (and the IETF draft's RateLimit-Policy / RateLimit) on every
response whose request was counted, a generation's cost headers, and the concurrency
slot its admission took given back before the answer is sent (a stream's when it ends)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBase

from apikeys.budgets import remaining_now
from core.context import context
from limits.slots import release_when_closed


class RateLimitHeadersMiddleware:
    """Copies what `TierRateThrottle` left in the request's context (the throttle runs
    inside the view, before the response or the 429 exists), and gives back the slot of
    the request's admission before the server sends the answer; a stream's is held until
    its last event (relay.streaming) or until the client goes away."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        finish_limits(request, response)
        return response


def finish_limits(request: HttpRequest, response: HttpResponseBase) -> None:
    """The rate-limit and cost headers of `response`, and its admission's slot given back
    (a stream's when it ends); also run by the read lane (timepoint_billing/read_lane.py)."""
    ctx = context(request)
    for name, value in ctx.rate_limit_headers.items():
        response[name] = value
    if ctx.generation:
        # Refusals too (0 spent), a rate limit's included: a client reads one header
        # whatever the outcome (CONTRACT.md §9).
        response["X-Credits-Spent"] = str(ctx.credits_spent)
        remaining = ctx.budget_remaining
        if remaining is None and ctx.api_key is not None:
            # Refused before the budget was consulted: read it now.
            remaining = remaining_now(ctx.api_key)
        if remaining is not None:
            response["X-Budget-Remaining"] = str(remaining)
    admission = ctx.admission
    if admission is not None and admission.slot is not None:
        if response.streaming:
            release_when_closed(response, admission.slot)
        else:
            # Its work is done: free the slot before the client can read the answer
            # and send its next request (to this worker or another).
            admission.slot.release()
