"""The read lane: an API key's credit reads served beside Django's middleware stack and
DRF's dispatch, by the same code they run (docs/performance.md, "The read lane").

Measured on 1 December, the contract's shared limits leave a relayed read room for 0.7
of a bare relay's requests/s, and Django's handler, its sixteen middleware and DRF's
dispatch around the gateway's own work took it down to 0.5; issue #12 asks for 0.6. The
lane takes `GET /api/v1/credits/{balance,history,costs}` with a `tp_live_`/`tp_test_`
key, no body, no `Origin` (CORS stays with its middleware) and a plain JSON `Accept`, and
runs exactly the steps those requests take through Django, calling the same functions:

- the Host checked (`HttpRequest.get_host`) and production's HTTPS redirect
  (`SecurityMiddleware.process_request`): when either would answer, Django answers;
- the request id (`core.middleware.request_id_of`), then DRF's `initial` in its order:
  the path checked (`relay.paths`), the bearer authentication with its one admission
  round trip (`gateway.authentication.BearerAuthentication`), the permission
  (`core.permissions.IsCaller`), the per-minute count (`gateway.throttling.TierRateThrottle`);
- the view's own handler (`BalanceView.get`, …: the slot, Flash, `balance_seen`), any
  error through the view's `handle_exception` (the envelope of `core.errors`) and
  `finalize_response`;
- on the way out what the middleware adds to such an answer: the rate-limit headers and
  the slot's release (`gateway.middleware`), Content-Length (Django's common
  middleware), the usage record (`metering.recording`), `Vary: origin` (corsheaders),
  the security headers and X-Frame-Options (Django's), X-Request-ID; a 4xx or 5xx
  logged to `django.request`, and `request_finished` when the server closes the answer,
  as Django's handler does (connections back to the pool, auto-reload's charges).

Everything else goes to Django. `tests/relay/test_read_lane.py` sends every case (200,
each refusal, each upstream failure) both ways and compares the answers and the usage
records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any

from corsheaders.middleware import CorsMiddleware
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.http import HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, ResolverMatch, get_resolver
from django.utils.cache import patch_vary_headers
from django.utils.log import log_response

from apikeys.authentication import API_KEY_PREFIXES
from core.logs import request_id_var
from core.middleware import request_id_of
from core.renderers import JSONRenderer
from gateway.authentication import BearerAuthentication
from gateway.middleware import finish_limits
from metering.recording import Stopwatch, record
from relay import paths
from relay.views import BalanceView, CostsView, HistoryView, RelayView

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

LANE_VIEWS: dict[str, type[RelayView]] = {
    "/api/v1/credits/balance": BalanceView,
    "/api/v1/credits/history": HistoryView,
    "/api/v1/credits/costs": CostsView,
}
# What every client sends; anything else (`indent`, another media type) is negotiated by DRF.
PLAIN_ACCEPT = ("", "*/*", "application/json")


def _nothing(request: Any) -> None:
    return None


class ReadLane:
    """WSGI: the lane's requests answered here, every other one by `app` (Django)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.security = SecurityMiddleware(_nothing)
        self.common = CommonMiddleware(_nothing)
        self.frame_options = XFrameOptionsMiddleware(_nothing)
        self.cors = CorsMiddleware(_nothing)

    @cached_property
    def routes(self) -> dict[str, ResolverMatch]:
        """Each lane path's match as Django resolves it (its route names the usage
        record's endpoint). A path Django no longer routes to the view listed, or whose
        view no longer takes a bearer credential alone, stays with Django."""
        resolver = get_resolver()
        routes = {}
        for path, view in LANE_VIEWS.items():
            try:
                match = resolver.resolve(path)
            except Resolver404:
                continue
            if getattr(match.func, "cls", None) is view and list(view.authentication_classes) == [BearerAuthentication]:
                routes[path] = match
        return routes

    def takes(self, environ: dict[str, Any]) -> bool:
        return (
            environ.get("REQUEST_METHOD") == "GET"
            and environ.get("PATH_INFO") in self.routes
            and environ.get("HTTP_AUTHORIZATION", "")[7:].startswith(API_KEY_PREFIXES)
            and environ.get("CONTENT_LENGTH", "") in ("", "0")
            and "HTTP_TRANSFER_ENCODING" not in environ
            and "HTTP_ORIGIN" not in environ
            and environ.get("HTTP_ACCEPT", "") in PLAIN_ACCEPT
            and "format=" not in environ.get("QUERY_STRING", "")
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self.takes(environ):
            return self.app(environ, start_response)
        request = WSGIRequest(environ)
        try:
            request.get_host()
        except DisallowedHost:
            return self.app(environ, start_response)
        if self.security.process_request(request) is not None:  # production's redirect to HTTPS
            return self.app(environ, start_response)
        response = self.answer(request, self.routes[request.path_info])
        # As Django's handler ends: the request closed with the response, which sends
        # request_finished, and a 4xx/5xx logged to django.request.
        response._handler_class = WSGIHandler
        response._resource_closers.append(request.close)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return response

    def answer(self, request: WSGIRequest, match: ResolverMatch) -> HttpResponseBase:
        request.resolver_match = match
        request.request_id = request_id_of(request)
        request_id_var.set(request.request_id)
        watch = Stopwatch()
        response = self.view_answer(request, match.func.cls)
        finish_limits(request, response)
        self.common.process_response(request, response)  # Content-Length
        record(request, response.status_code, watch.started_at, watch.elapsed)
        # corsheaders' add_response_headers without its look for an Origin (the lane
        # takes no request that has one), which builds `request.headers` for that alone.
        if self.cors.is_enabled(request):
            patch_vary_headers(response, ("origin",))
        self.frame_options.process_response(request, response)
        self.security.process_response(request, response)
        response["X-Request-ID"] = request.request_id
        return response

    @staticmethod
    def view_answer(request: WSGIRequest, view_class: type[RelayView]) -> HttpResponseBase:
        """What DRF's `APIView.dispatch` answers, without its Request wrapper: the lane's
        views read only the caller, the headers and the query string, which Django's
        request carries. DRF's `initial` in its order (negotiation settled: JSON)."""
        view = view_class()
        view.setup(request)  # as `as_view` does: HEAD served by GET, which DRF's Allow names
        view.format_kwarg = None
        view.headers = view.default_response_headers
        request.parser_context = {"view": view}  # what the admission reads the view's limits from
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        request.user = request.auth = None
        [authentication] = view.get_authenticators()
        request.authenticators, request.successful_authenticator = (authentication,), None
        try:
            paths.check_request_path(request)
            caller = authentication.authenticate(request)
            if caller is not None:
                request.user, request.auth = caller
                request.successful_authenticator = authentication
            view.check_permissions(request)
            view.check_throttles(request)
            response = view.get(request)
        except Exception as exc:
            response = view.handle_exception(exc)
        response = view.finalize_response(request, response)
        if hasattr(response, "render"):
            response.render()
        return response


def with_read_lane(app: WSGIApp) -> WSGIApp:
    """`app` with the read lane in front of it, unless READ_LANE is off."""
    return ReadLane(app) if settings.READ_LANE else app
