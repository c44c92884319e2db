"""The relay to Flash and Clockchain (CONTRACT.md §4): thin DRF views over
`relay.flash`, `relay.clockchain` and `relay.streaming`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from apikeys.limits import acquire_slot, concurrency_slot, may_use_hd, release_when_closed
from metering.recording import annotate
from timepoint_billing import request_json
from timepoint_billing.errors import APIError

from . import clockchain, flash, paths, serializers, upstream
from .streaming import EventRelay

log = logging.getLogger("relay.views")

# A 4xx of Flash or Clockchain reaches the client with its own body (CONTRACT.md §3),
# which is not billing's envelope: those statuses document either.
_PASSED_THROUGH = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="Billing's error envelope, or the upstream's own 4xx answer passed through unchanged.",
)
_OWN = (401, 429, 502, 503, 504)
_ERRORS = {**{s: OpenApiResponse(serializers.Error) for s in _OWN}, **{s: _PASSED_THROUGH for s in (400, 402, 403, 404,
                                                                                                        422)}}
_READ_ERRORS = {**{s: OpenApiResponse(serializers.Error) for s in _OWN}, **{s: _PASSED_THROUGH for s in (400, 403, 404,
                                                                                                         422)}}
# One server-sent event, as a client parses it: `event` names it, `data` is Flash's JSON text.
_SSE_EVENT = {
    "type": "object",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"},
                   "retry": {"type": "integer"}},
}


class RelayView(APIView):
    """Refuses unsafe paths (400) before authentication, limits or any upstream call."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        paths.check_request_path(request)
        super().initial(request, *args, **kwargs)

    @staticmethod
    def forward(request: Request, service: str, call: Callable[[], upstream.UpstreamResponse]) -> HttpResponse:
        """A read relayed as it is: a concurrency slot held for the upstream call, the
        upstream's answer handed back (5xx → 502), nothing spent."""
        with concurrency_slot(request):
            response = call()
        annotate(request, credits_spent=0, upstream_status=response.status_code)
        return upstream.relayed_response(service, response)


# --- Flash ---------------------------------------------------------------------------


class FlashRelayView(RelayView):
    def relay(self, request: Request, method: str, path: str) -> HttpResponse:
        return self.forward(request, flash.SERVICE,
                            lambda: flash.relay(request, method, path, flash_user_id=request.user.flash_user_id))


class GenerationView(FlashRelayView):
    """The checks every generation passes before Flash is called."""

    def prepare(self, request: Request) -> tuple[str, str | None, int | None]:
        """(preset, Flash base URL or None for the default, expected cost)."""
        try:
            body = request_json.loads(request.body or b"{}")
        except request_json.InvalidJSON as exc:
            raise APIError(400, "invalid_request", f"The body must be a JSON object: {exc}") from None
        if not isinstance(body, dict):
            raise APIError(400, "invalid_request", "The body must be a JSON object.")
        preset = body.get("preset") or flash.DEFAULT_PRESET
        if not isinstance(preset, str):
            raise APIError(400, "invalid_request", "preset: must be a string.")
        annotate(request, preset=preset, credits_spent=0)
        if preset == "hd" and not may_use_hd(request):
            raise APIError(403, "forbidden", "The hd preset needs a plan or tier with HD (pro, enterprise "
                                             "or the Historian plan).")
        if getattr(request.auth, "is_test", False):
            if not settings.FLASH_TEST_URL:
                raise APIError(403, "forbidden", "Test keys cannot spend credits, and no sandbox is configured "
                                                 "(set FLASH_TEST_URL to a Flash sandbox); use a live key.")
            return preset, settings.FLASH_TEST_URL, None
        cost = self.expected_cost(preset)
        if cost is not None:
            balance = flash.get_balance(request.user.flash_user_id)
            annotate(request, balance=balance)
            if balance < cost:
                raise APIError(402, "insufficient_credits",
                               f"A {preset} generation costs {cost} credits; the balance is {balance}.")
        return preset, None, cost

    @staticmethod
    def expected_cost(preset: str) -> int | None:
        try:
            return flash.cost_of(preset, flash.get_costs())
        except upstream.UpstreamError:
            # Without a cost table billing cannot pre-check; Flash still refuses (402) itself.
            log.warning("no cost table; generation goes to Flash without a balance pre-check")
            return None

    def spent(self, request: Request, preset: str, cost: int | None, base: str | None, status: int) -> None:
        credits = 0
        if base is None and 200 <= status < 300:
            credits = cost if cost is not None else (self.expected_cost(preset) or 0)
        annotate(request, preset=preset, credits_spent=credits, upstream_status=status)


class GenerateView(GenerationView):
    @extend_schema(request=serializers.GenerateRequest, responses={200: serializers.Timepoint, **_ERRORS},
                   tags=["relay"], summary="Generate a timepoint (relayed to Flash)")
    def post(self, request: Request) -> HttpResponse:
        with concurrency_slot(request):
            preset, base, cost = self.prepare(request)
            response = flash.relay(request, "POST", flash.GENERATE_PATH, flash_user_id=request.user.flash_user_id,
                                   base=base, generation=True)
        self.spent(request, preset, cost, base, response.status_code)
        return upstream.relayed_response(flash.SERVICE, response)


class GenerateStreamView(GenerationView):
    @extend_schema(request=serializers.GenerateRequest,
                   responses={(200, "text/event-stream"): OpenApiResponse(
                       _SSE_EVENT, description="One event per upstream event, as it arrives"), **_ERRORS},
                   tags=["relay"], summary="Generate a timepoint, streaming Flash's server-sent events")
    def post(self, request: Request) -> HttpResponse:
        slot = acquire_slot(request)
        try:
            preset, base, cost = self.prepare(request)
            response = flash.relay(request, "POST", flash.GENERATE_STREAM_PATH,
                                   flash_user_id=request.user.flash_user_id, base=base, generation=True,
                                   stream=True)
            self.spent(request, preset, cost, base, response.status_code)
            if response.status_code >= 300 or not response.headers.get("Content-Type", "").startswith(
                    "text/event-stream"):
                return upstream.relayed_response(flash.SERVICE, response)
        except BaseException:
            slot.release()
            raise
        events = EventRelay(response, flash.SERVICE, flash.TERMINAL_EVENTS)
        streamed = release_when_closed(StreamingHttpResponse(events, content_type="text/event-stream"), slot)
        streamed["Cache-Control"] = "no-cache"
        # Tells nginx-style proxies in front of us not to buffer either.
        streamed["X-Accel-Buffering"] = "no"
        streamed.relayed = True
        return streamed


class TimepointView(FlashRelayView):
    @extend_schema(responses={200: serializers.Timepoint, **_READ_ERRORS}, tags=["relay"])
    def get(self, request: Request, timepoint_id: str) -> HttpResponse:
        return self.relay(request, "GET", paths.upstream_path("/api/v1/timepoints", timepoint_id))


class TimepointVisibilityView(FlashRelayView):
    @extend_schema(request=serializers.VisibilityRequest, responses={200: serializers.Timepoint, **_READ_ERRORS},
                   tags=["relay"])
    def patch(self, request: Request, timepoint_id: str) -> HttpResponse:
        return self.relay(request, "PATCH", paths.upstream_path("/api/v1/timepoints", timepoint_id) + "/visibility")


class BalanceView(FlashRelayView):
    @extend_schema(responses={200: serializers.Balance, **_READ_ERRORS}, tags=["credits"])
    def get(self, request: Request) -> HttpResponse:
        relayed = self.relay(request, "GET", "/api/v1/credits/balance")
        if relayed.status_code == 200:
            try:
                balance = flash.parse_balance(json.loads(relayed.content))
            except ValueError:
                balance = None
            if balance is not None:
                annotate(request, balance=balance)
        return relayed


class HistoryView(FlashRelayView):
    @extend_schema(responses={200: serializers.History, **_READ_ERRORS}, tags=["credits"])
    def get(self, request: Request) -> HttpResponse:
        return self.relay(request, "GET", "/api/v1/credits/history")


class CostsView(FlashRelayView):
    @extend_schema(responses={200: serializers.Costs, **_READ_ERRORS}, tags=["credits"])
    def get(self, request: Request) -> HttpResponse:
        return self.relay(request, "GET", "/api/v1/credits/costs")


# --- Clockchain ------------------------------------------------------------------------


class ClockchainRelayView(RelayView):
    """Public reads; anonymous callers are limited per client IP by the default
    TierRateThrottle."""

    permission_classes = [AllowAny]
    prefix = ""

    @extend_schema(responses={200: serializers.ClockchainAnswer, **_READ_ERRORS}, tags=["clockchain"])
    def get(self, request: Request, path: str | None = None) -> HttpResponse:
        target = paths.upstream_path(self.prefix, path) if path is not None else self.prefix
        return self.forward(request, clockchain.SERVICE, lambda: clockchain.relay(request, target))


class MomentsView(ClockchainRelayView):
    prefix = "/api/v1/moments"


class BrowseView(ClockchainRelayView):
    prefix = "/api/v1/browse"


class BrowseRootView(BrowseView):
    @extend_schema(operation_id="browse_root", responses={200: serializers.ClockchainAnswer, **_READ_ERRORS},
                   tags=["clockchain"])
    def get(self, request: Request, path: str | None = None) -> HttpResponse:
        return super().get(request, path)


class TodayView(ClockchainRelayView):
    prefix = "/api/v1/today"


class SearchView(ClockchainRelayView):
    prefix = "/api/v1/search"


class NeighborsView(ClockchainRelayView):
    prefix = "/api/v1/graph/neighbors"
