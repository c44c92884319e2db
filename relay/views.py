"""The relay to Flash and Clockchain (CONTRACT.md §4): thin DRF views over
`upstreams.flash`, `upstreams.clockchain` and `relay.streaming`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from apikeys import budgets
from core import request_json
from core.context import context
from core.errors import APIError
from core.middleware import mark_relayed
from core.negotiation import RelayedQueryNegotiation
from core.schema import error_example, error_response
from core.signals import balance_seen
from gateway.admission import concurrency_slot, hold_slot, may_use_hd
from limits.slots import release_when_closed
from upstreams import clockchain, flash, transport

from . import paths, precheck, serializers
from .streaming import EventRelay

log = logging.getLogger("relay.views")

# A 4xx of Flash or Clockchain reaches the client with its own body (CONTRACT.md §3),
# which is not billing's envelope: those statuses document either.
_PASSED_THROUGH = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="Billing's error envelope, or the upstream's own 4xx answer passed through unchanged.",
)
_OWN = (401, 429, 502, 503, 504)


def _errors(*passed_through: int) -> dict:
    return {**{s: error_response() for s in _OWN}, **{s: _PASSED_THROUGH for s in passed_through}}


_ERRORS = _errors(400, 402, 403, 404, 422)  # a generation's: Flash's own 402 too
_READ_ERRORS = _errors(400, 403, 404, 422)
# One server-sent event, as a client parses it: `event` names it, `data` is Flash's JSON text.
_SSE_EVENT = {
    "type": "object",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"},
                   "retry": {"type": "integer"}},
}
_TIMEPOINT = {"id": "5c1f0a9e-7b2d-4e8f-a6c3-9d0b1e2f3a4b", "query": "The signing of the Magna Carta",
              "preset": "balanced", "visibility": "private", "slug": "the-signing-of-the-magna-carta",
              "created_at": "2026-11-30T10:00:00Z"}
_SSE_EXAMPLE = "".join(
    f"event: {event}\ndata: {json.dumps(data)}\n\n" for event, data in [
        ("start", {"status": "started"}),
        ("progress", {"step": 1, "of": 3}),
        ("progress", {"step": 2, "of": 3}),
        ("progress", {"step": 3, "of": 3}),
        ("done", _TIMEPOINT),
    ])
_GENERATE_EXAMPLES = [
    OpenApiExample("A generation", request_only=True,
                   value={"query": "The signing of the Magna Carta", "preset": "balanced"}),
    error_example(402, "insufficient_credits", "A balanced generation costs 5 credits; the balance is 3."),
    error_example(403, "forbidden", "The hd preset needs a plan or tier with HD (pro, enterprise or the "
                                    "Historian plan)."),
    error_example(429, "rate_limited", "Too many requests: 10 per minute on the free tier."),
]
_GENERATION = (
    " Spends the preset's credits (`GET /api/v1/credits/costs`) from your balance; a balance that "
    "cannot pay is refused with 402 `insufficient_credits` before anything is spent. The `hd` preset "
    "needs a plan or tier with HD (403 otherwise). With a `tp_test_` key the generation runs in a "
    "sandbox and spends nothing. Each generation holds one of your tier's concurrent slots while it "
    "runs (429 `concurrency_limited` when all are taken). Flash's own refusals (4xx) reach you "
    "with their status and body."
)
# Clockchain's answers are passed on as they are: any JSON object.
_CLOCKCHAIN_ANSWER = OpenApiResponse(
    OpenApiTypes.OBJECT, description="Clockchain's answer, passed on unchanged.",
    examples=[OpenApiExample("Moments", value={"items": [{"id": "m1", "title": "The fall of Constantinople",
                                                          "year": 1453}]})],
)
_PUBLIC = (" Public: without a credential it is limited per client IP at the free tier's rate; with one, "
           "your own limits apply.")


def _clockchain(summary: str, description: str, **kwargs: Any) -> Callable:
    return extend_schema_view(get=extend_schema(
        summary=summary, description=description + _PUBLIC, tags=["clockchain"],
        responses={200: _CLOCKCHAIN_ANSWER, **_READ_ERRORS}, **kwargs))


class RelayView(APIView):
    """Refuses unsafe paths (400) before authentication, limits or any upstream call.
    Every relayed call holds one of the caller's concurrency slots, taken by the
    request's admission (gateway.admission.admit) with its other limits. What a request
    cost goes into its context for its usage record; a balance Flash reported is
    announced (core.signals.balance_seen)."""

    holds_concurrency_slot = True
    content_negotiation_class = RelayedQueryNegotiation

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        paths.check_request_path(request)
        super().initial(request, *args, **kwargs)

    @staticmethod
    def forward(request: Request, service: str, call: Callable[[], transport.UpstreamResponse]) -> HttpResponse:
        """A read relayed as it is: a concurrency slot held for the upstream call, the
        upstream's answer handed back (5xx → 502), nothing spent."""
        with concurrency_slot(request):
            response = call()
        return transport.relayed_response(service, response)


# --- Flash ---------------------------------------------------------------------------


class FlashRelayView(RelayView):
    def relay(self, request: Request, method: str, path: str, base: str | None = None) -> HttpResponse:
        return self.forward(request, flash.SERVICE, lambda: flash.relay(
            request, method, path, flash_user_id=request.user.flash_user_id, base=base))


def timepoints_base(request: Request) -> str | None:
    """Where a caller's timepoints live: a test key's generations are made in the sandbox
    (FLASH_TEST_URL), so its reads and visibility changes of timepoints go there too, or
    the timepoint it just generated would be 404 on Flash. None: Flash itself."""
    if getattr(request.auth, "is_test", False) and settings.FLASH_TEST_URL:
        return settings.FLASH_TEST_URL
    return None


class GenerationView(FlashRelayView):
    """The checks every generation passes before Flash is called."""

    # The expected cost held against the key's monthly budget (apikeys.budgets), if any.
    reservation: budgets.Reservation | None = None
    # The balance the pre-check read (one view instance per request).
    balance_before: int | None = None
    # The expected cost taken from billing's copy of the balance (relay.precheck): the
    # generation holds the copy until it is settled.
    taken_from_copy: int = 0

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # A generation before anything can refuse it (the path, the credential, the
        # limits): every answer, refusals included, carries its cost headers (§9).
        context(request).generation = True
        super().initial(request, *args, **kwargs)

    def prepare(self, request: Request) -> tuple[str, str | None, int | None]:
        """(preset, Flash base URL or None for the default, expected cost). Reserves the
        expected cost against the key's monthly budget (402 `budget_exceeded`) before
        Flash is called at all; whoever calls this settles it: `spent`, or `settle(0)`
        when anything from here to Flash's answer fails."""
        try:
            body = request_json.loads(request.body or b"{}")
        except request_json.InvalidJSON as exc:
            raise APIError(400, "invalid_request", f"The body must be a JSON object: {exc}") from None
        if not isinstance(body, dict):
            raise APIError(400, "invalid_request", "The body must be a JSON object.")
        preset = body.get("preset")
        # Only a string is a preset: a falsy other value (0, false, []) taken as the
        # default would be checked and priced as one preset while Flash is sent another.
        if preset is not None and not isinstance(preset, str):
            raise APIError(400, "invalid_request", "preset: must be a string.")
        preset = preset or flash.DEFAULT_PRESET
        context(request).preset = preset
        # Any spelling of hd: a Flash that read presets case-blind would otherwise serve
        # HD to a tier without it.
        if preset.lower() == "hd" and not may_use_hd(request):
            raise APIError(403, "forbidden", "The hd preset needs a plan or tier with HD (pro, enterprise "
                                             "or the Historian plan).")
        if getattr(request.auth, "is_test", False):
            if not settings.FLASH_TEST_URL:
                raise APIError(403, "forbidden", "Test keys cannot spend credits, and no sandbox is configured "
                                                 "(set FLASH_TEST_URL to a Flash sandbox); use a live key.")
            return preset, settings.FLASH_TEST_URL, None
        cost = self.expected_cost(preset, budgeted=budgets.has_budget(context(request).api_key))
        if cost is not None:
            self.reserve(request, cost)
            balance, taken = precheck.take(request.user.flash_user_id, cost)
            self.taken_from_copy = cost if taken else 0
            balance_seen.send(sender=type(self), account=request.user, balance=balance)
            self.balance_before = balance
            if balance < cost:
                raise APIError(402, "insufficient_credits",
                               f"A {preset} generation costs {cost} credits; the balance is {balance}.")
        return preset, None, cost

    def reserve(self, request: Request, cost: int) -> None:
        """Hold the expected cost against the key's budget (keys without one: nothing)."""
        ctx = context(request)
        try:
            self.reservation = budgets.reserve(ctx.api_key, cost)
        except budgets.BudgetExceeded as refusal:
            ctx.budget_remaining = refusal.remaining
            raise
        if self.reservation is not None:
            ctx.budget_remaining = self.reservation.remaining

    def settle(self, request: Request, credits: int) -> None:
        """The reservation settled to what was spent (0 for a failed generation); the
        budget left goes into the context for X-Budget-Remaining; the balance's copy, if
        the pre-check took from it, let go with what was not spent."""
        if self.taken_from_copy:
            precheck.done(request.user.flash_user_id, self.taken_from_copy - credits)
            self.taken_from_copy = 0
        if self.reservation is not None:
            context(request).budget_remaining = self.reservation.settle(credits)

    @staticmethod
    def expected_cost(preset: str, budgeted: bool = False) -> int | None:
        """The preset's price in Flash's cost table; None when the table cannot be read
        or does not price the preset (Flash judges a preset billing does not know, and
        refuses what cannot be paid itself). A key with a monthly budget spends only
        priced presets (400 otherwise; 503 while the table cannot be read): an unpriced
        generation would pass its budget."""
        try:
            costs = flash.get_costs()
        except transport.UpstreamError:
            if budgeted:
                # Unpriced, it would reserve nothing and count as free against the
                # budget while Flash charged it: a budget must bound what is spent.
                raise APIError(503, "upstream_unavailable", "Flash's cost table cannot be read, and a key with a "
                               "monthly budget generates only what can be priced; try again shortly.") from None
            # Without a cost table billing cannot pre-check; Flash still refuses (402) itself.
            log.warning("no cost table; generation goes to Flash without a balance pre-check")
            return None
        cost = flash.cost_of(preset, costs)
        if cost is None and budgeted:
            raise APIError(400, "invalid_request", f"preset: {preset[:40]!r} has no price in Flash's cost table, "
                           "and a key with a monthly budget spends only priced presets: "
                           f"{', '.join(flash.presets(costs))}.")
        return cost

    @staticmethod
    def generate(request: Request, path: str, base: str | None, **kwargs: Any) -> transport.UpstreamResponse:
        return flash.relay(request, "POST", path, flash_user_id=request.user.flash_user_id, base=base,
                           generation=True, **kwargs)

    def spent(self, request: Request, preset: str, cost: int | None, base: str | None, status: int) -> None:
        """What the generation cost, for its usage record and X-Credits-Spent; its
        reservation settled to it. A stream's cost is known once Flash accepts it, so it
        is settled then too, not when the stream ends."""
        credits = 0
        if base is None and 200 <= status < 300:
            credits = cost if cost is not None else (self.expected_cost(preset) or 0)
        ctx = context(request)
        ctx.preset, ctx.credits_spent = preset, credits
        self.settle(request, credits)
        if credits and self.balance_before is not None:
            # The balance after it, as billing knows it without asking Flash again: what
            # the pre-check read less what was spent (auto-reload and low-credit alerts
            # react to a generation that crosses the threshold at once).
            balance_seen.send(sender=type(self), account=request.user, balance=self.balance_before - credits)


class GenerateView(GenerationView):
    @extend_schema(
        request=serializers.GenerateRequest, responses={200: serializers.Timepoint, **_ERRORS}, tags=["timepoints"],
        summary="Generate a timepoint",
        description="Generates a timepoint of the moment `query` describes and answers with it once it is "
        "done (up to two minutes; `POST /api/v1/generate/stream` shows progress meanwhile)." + _GENERATION,
        examples=[*_GENERATE_EXAMPLES, OpenApiExample("Generated", response_only=True, value=_TIMEPOINT)],
    )
    def post(self, request: Request) -> HttpResponse:
        with concurrency_slot(request):
            try:
                preset, base, cost = self.prepare(request)
                response = self.generate(request, flash.GENERATE_PATH, base)
            except BaseException:
                self.settle(request, 0)
                raise
        self.spent(request, preset, cost, base, response.status_code)
        return transport.relayed_response(flash.SERVICE, response)


class GenerateStreamView(GenerationView):
    @extend_schema(
        request=serializers.GenerateRequest,
        responses={(200, "text/event-stream"): OpenApiResponse(
            _SSE_EVENT, description="Server-sent events, each passed on the moment Flash sends it",
            examples=[OpenApiExample("A generation's events", value=_SSE_EXAMPLE)]), **_ERRORS},
        tags=["timepoints"], summary="Generate a timepoint, with progress as server-sent events",
        description="The same generation as `POST /api/v1/generate`, answered as `text/event-stream`: "
        "Flash's events (progress, then a final event such as `done` with the timepoint) reach you as "
        "they happen, never buffered. A stream Flash breaks off ends with an `event: error`; closing "
        "the connection ends the stream upstream too. Refusals come before the stream starts, as JSON "
        "errors." + _GENERATION,
        examples=_GENERATE_EXAMPLES,
    )
    def post(self, request: Request) -> HttpResponse:
        slot = hold_slot(request)
        try:
            preset, base, cost = self.prepare(request)
            response = self.generate(request, flash.GENERATE_STREAM_PATH, base, stream=True)
            self.spent(request, preset, cost, base, response.status_code)
            if response.status_code >= 300 or not response.headers.get("Content-Type", "").startswith(
                    "text/event-stream"):
                return transport.relayed_response(flash.SERVICE, response)
        except BaseException:
            self.settle(request, 0)
            slot.release()
            raise
        events = EventRelay(response, flash.SERVICE, flash.TERMINAL_EVENTS, ending=slot.release)
        streamed = release_when_closed(StreamingHttpResponse(events, content_type="text/event-stream"), slot)
        streamed["Cache-Control"] = "no-cache"
        # Tells nginx-style proxies in front of us not to buffer either.
        streamed["X-Accel-Buffering"] = "no"
        return mark_relayed(streamed)


class TimepointView(FlashRelayView):
    @extend_schema(responses={200: serializers.Timepoint, **_READ_ERRORS}, tags=["timepoints"],
                   summary="A timepoint",
                   description="One of your timepoints, or anyone's public one. Someone else's private "
                   "timepoint answers 404, as one that does not exist.",
                   examples=[OpenApiExample("A timepoint", response_only=True, value=_TIMEPOINT)])
    def get(self, request: Request, timepoint_id: str) -> HttpResponse:
        return self.relay(request, "GET", paths.upstream_path("/api/v1/timepoints", timepoint_id),
                          timepoints_base(request))


class TimepointVisibilityView(FlashRelayView):
    @extend_schema(request=serializers.VisibilityRequest, responses={200: serializers.Timepoint, **_READ_ERRORS},
                   tags=["timepoints"], summary="Make a timepoint public or private",
                   description="`public`: anyone with its id can read it; `private`: only you. Only the "
                   "timepoint's owner may change it (404 for anyone else).",
                   examples=[OpenApiExample("Publish", request_only=True, value={"visibility": "public"})])
    def patch(self, request: Request, timepoint_id: str) -> HttpResponse:
        return self.relay(request, "PATCH", paths.upstream_path("/api/v1/timepoints", timepoint_id) + "/visibility",
                          timepoints_base(request))


class BalanceView(FlashRelayView):
    @extend_schema(responses={200: serializers.Balance, **_READ_ERRORS}, tags=["credits"],
                   summary="Your credit balance",
                   description="Your balance in Flash's credit ledger, the one record of credits: purchases "
                   "and plan grants add to it, live generations spend from it.",
                   examples=[OpenApiExample("A balance", response_only=True, value={"balance": 145})])
    def get(self, request: Request) -> HttpResponse:
        relayed = self.relay(request, "GET", "/api/v1/credits/balance")
        if relayed.status_code == 200:
            try:
                balance = flash.parse_balance(json.loads(relayed.content))
            except ValueError:
                balance = None
            if balance is not None:
                balance_seen.send(sender=type(self), account=request.user, balance=balance)
        return relayed


class HistoryView(FlashRelayView):
    @extend_schema(
        responses={200: serializers.History, **_READ_ERRORS}, tags=["credits"], summary="Your credit transactions",
        description="Every change to your balance, newest first: signup credits, purchases, plan grants, "
        "generations. `total` counts them all; `limit` and `offset` page through them.",
        parameters=[OpenApiParameter("limit", int, description="how many (Flash's default: 20)"),
                    OpenApiParameter("offset", int, description="how many of the newest to skip")],
        examples=[OpenApiExample("Transactions", response_only=True, value={"total": 2, "transactions": [
            {"id": "e1", "amount": 100, "transaction_type": "stripe_purchase", "description": "100 credits",
             "balance_after": 150, "created_at": "2026-11-30T10:00:00Z"},
            {"id": "e0", "amount": 50, "transaction_type": "signup_bonus", "description": "Signup credits",
             "balance_after": 50, "created_at": "2026-11-29T09:00:00Z"}]})],
    )
    def get(self, request: Request) -> HttpResponse:
        return self.relay(request, "GET", "/api/v1/credits/history")


class CostsView(FlashRelayView):
    @extend_schema(responses={200: serializers.Costs, **_READ_ERRORS}, tags=["credits"],
                   summary="What a generation costs",
                   description="The credits each generation preset costs (`generate_<preset>`).",
                   examples=[OpenApiExample("Costs", response_only=True, value={"costs": {
                       "generate_balanced": 5, "generate_hd": 10, "generate_hyper": 2, "generate_gemini3": 5}})])
    def get(self, request: Request) -> HttpResponse:
        return self.relay(request, "GET", "/api/v1/credits/costs")


# --- Clockchain ------------------------------------------------------------------------


class ClockchainRelayView(RelayView):
    """Public reads; anonymous callers are limited per client IP at the free tier by
    the default TierRateThrottle (CONTRACT.md §2)."""

    permission_classes = [AllowAny]
    count_anonymous = True
    prefix = ""

    def get(self, request: Request, path: str | None = None) -> HttpResponse:
        target = paths.upstream_path(self.prefix, path) if path is not None else self.prefix
        return self.forward(request, clockchain.SERVICE, lambda: clockchain.relay(request, target))


@_clockchain("A moment", "A moment of Clockchain's graph by its path.")
class MomentsView(ClockchainRelayView):
    prefix = "/api/v1/moments"


@_clockchain("Browse a branch", "Clockchain's graph below `path` (e.g. an era, then a place).")
class BrowseView(ClockchainRelayView):
    prefix = "/api/v1/browse"


@_clockchain("Browse from the top", "The top of Clockchain's graph.", operation_id="browse_root")
class BrowseRootView(BrowseView):
    pass


@_clockchain("Today in history", "Moments that happened on today's date.")
class TodayView(ClockchainRelayView):
    prefix = "/api/v1/today"


@_clockchain("Search moments", "Moments matching `q`.",
             parameters=[OpenApiParameter("q", str, description="what to look for, e.g. `moon landing`")])
class SearchView(ClockchainRelayView):
    prefix = "/api/v1/search"


@_clockchain("Neighbouring moments", "The moments linked to the one named by `path` in Clockchain's graph.")
class NeighborsView(ClockchainRelayView):
    prefix = "/api/v1/graph/neighbors"
