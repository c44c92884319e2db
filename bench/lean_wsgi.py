"""The cheapest honest second request path for API-key reads, for bench/relay_overhead.py
("lean path"): the gateway's own process (timepoint_billing settings, apps, database,
Redis, usage writer), with `GET /api/v1/credits/balance` for `tp_live_`/`tp_test_` keys
answered here without Django's handler, middleware, URL resolving or DRF's dispatch;
every other request goes to the gateway's WSGI application as usual.

It does what CONTRACT.md §§3-5, 7 and 9 oblige a relayed API-key read to do, through the
gateway's own functions (nothing re-implemented):
  - the path checked in every form (relay.paths.check_request_path) and the Host
    against ALLOWED_HOSTS (django.http.request.validate_host);
  - the request id: the client's X-Request-ID when well formed, else a uuid4, forwarded
    to Flash and returned (core.middleware's rule and pattern);
  - the bearer authentication (gateway.authentication.BearerAuthentication.authenticate:
    the key hashed, the one admit.lua round trip with the key's cached record and its
    limits, a record not cached yet read from the database and cached, expiry,
    last use marked, failed authentications counted per IP);
  - the per-minute count applied and the X-RateLimit-* / RateLimit headers
    (gateway.throttling.TierRateThrottle), the concurrency slot held (gateway.admission.
    concurrency_slot, its release awaited before the answer);
  - the upstream call (upstreams.flash.relay) and the answer as the client gets it
    (upstreams.transport.relayed_response: 5xx → 502, secrets masked, allow-listed
    headers), Flash's balance announced (core.signals.balance_seen: low-credit alerts,
    auto-reload), the auto-reload charges a request claimed run after it
    (payments.autoreload.request_finished);
  - the headers a gateway 200 carries from its middleware and DRF (security headers,
    X-Frame-Options, Allow, Vary);
  - the usage record (metering.recording.record → metering.writer.usage_writer), with
    the route pattern Django's resolver gives this path (resolved once).
Errors answer with the envelope (core.errors). Bench-only: not wired into production.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "timepoint_billing.settings")
django.setup()  # before the gateway's modules below, which import its models

from django.conf import settings  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.http.request import HttpHeaders, split_domain_port, validate_host  # noqa: E402
from django.urls import get_resolver  # noqa: E402
from rest_framework import exceptions as drf  # noqa: E402

from apikeys.authentication import API_KEY_PREFIXES  # noqa: E402
from core.context import RequestContext  # noqa: E402
from core.errors import APIError, error_response  # noqa: E402
from core.logs import request_id_var  # noqa: E402
from core.signals import balance_seen  # noqa: E402
from gateway.admission import concurrency_slot  # noqa: E402
from gateway.authentication import BearerAuthentication  # noqa: E402
from gateway.throttling import TierRateThrottle  # noqa: E402
from metering.recording import Stopwatch, record  # noqa: E402
from payments import autoreload  # noqa: E402
from relay import paths  # noqa: E402
from relay.views import BalanceView  # noqa: E402
from timepoint_billing.wsgi import application as gateway_application  # noqa: E402
from upstreams import flash, transport  # noqa: E402

PATH = "/api/v1/credits/balance"
FLASH_PATH = "/api/v1/credits/balance"
_WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")  # core.middleware's
_MATCH = get_resolver().resolve(PATH)  # the route pattern of the usage record, as Django resolves it
_VIEW = BalanceView  # its throttles and `holds_concurrency_slot` decide what the admission counts
# What a gateway 200 of this view carries from corsheaders, SecurityMiddleware, XFrameOptionsMiddleware
# and DRF's APIView (measured with curl -i under the bench).
_FIXED = [
    ("Vary", "origin"),  # corsheaders, on every response
    ("Allow", "GET, HEAD, OPTIONS"),
    ("X-Frame-Options", settings.X_FRAME_OPTIONS),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", settings.SECURE_REFERRER_POLICY),
    ("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY),
]
_REASONS = {200: "OK", 401: "Unauthorized", 429: "Too Many Requests", 400: "Bad Request", 403: "Forbidden",
            404: "Not Found", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class LeanRequest:
    """What the gateway's functions read of a request: META, headers, method, path, the
    request id, the context, the caller (DRF's `user`/`auth`) and the view's class."""

    def __init__(self, environ: dict) -> None:
        self.META = environ
        self.headers = HttpHeaders(environ)
        self.method = environ["REQUEST_METHOD"]
        self.path = self.path_info = environ.get("PATH_INFO", "")
        self.body = b""
        self.ctx = RequestContext()
        self.resolver_match = _MATCH
        self.parser_context = {"view": _VIEW}
        self.user: Any = None
        self.auth: Any = None
        self.request_id = ""


def _host_allowed(environ: dict) -> bool:
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def _answer(request: LeanRequest) -> HttpResponse:
    authentication = BearerAuthentication()
    try:
        paths.check_request_path(request)
        caller = authentication.authenticate(request)  # 401 / 429 (failed authentications) raise
        request.user, request.auth = caller
        throttle = TierRateThrottle()
        if not throttle.allow_request(request, _VIEW):
            raise APIError(429, "rate_limited", "Too many requests; retry after the time in Retry-After.",
                           headers={"Retry-After": str(max(1, int((throttle.wait() or 1) + 0.999)))})
        with concurrency_slot(request):  # 429 concurrency_limited; released before the answer
            upstream = flash.relay(request, "GET", FLASH_PATH, flash_user_id=request.user.flash_user_id)
        response = transport.relayed_response(flash.SERVICE, upstream)
        if response.status_code == 200:
            try:
                balance = flash.parse_balance(json.loads(response.content))
            except ValueError:
                balance = None
            if balance is not None:
                balance_seen.send(sender=_VIEW, account=request.user, balance=balance)
        return response
    except drf.AuthenticationFailed as exc:
        response = error_response(401, "unauthenticated", str(exc.detail))
        response["WWW-Authenticate"] = authentication.authenticate_header(request)
        return response
    except APIError as exc:
        response = error_response(exc.status_code, exc.code, exc.message)
        for name, value in exc.headers.items():
            response[name] = value
        return response


def lean(environ: dict, start_response: Any) -> list[bytes]:
    request = LeanRequest(environ)
    given = request.headers.get("X-Request-ID", "")
    request.request_id = given if _WELL_FORMED_ID.match(given) else uuid.uuid4().hex
    request_id_var.set(request.request_id)
    watch = Stopwatch()
    try:
        response = _answer(request)
        # The rate-limit headers as gateway.middleware.RateLimitHeadersMiddleware copies them.
        for name, value in request.ctx.rate_limit_headers.items():
            response[name] = value
        response["X-Request-ID"] = request.request_id
        for name, value in _FIXED:
            if name not in response:
                response[name] = value
        record(request, response.status_code, watch.started_at, watch.elapsed)
        body = response.content
        headers = [*response.items(), ("Content-Length", str(len(body)))]
        start_response(f"{response.status_code} {_REASONS.get(response.status_code, 'Status')}", headers)
        return _Written([body])
    except BaseException:
        _finished()
        raise


def _finished() -> None:
    """What the gateway does on request_finished for such a request: the reloads it
    claimed charged once the answer is written (nothing for accounts without
    auto-reload), the request id forgotten."""
    autoreload.request_finished()
    request_id_var.set("-")


class _Written(list):
    """The body; the server calls close() once it has written it."""

    def close(self) -> None:
        _finished()


def application(environ: dict, start_response: Any) -> Any:
    """The lean path for a plain API-key balance read; anything else (another credential
    or none, a body, an Origin for CORS, a Host not allowed) to the gateway as usual."""
    if (environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "GET"
            and environ.get("HTTP_AUTHORIZATION", "").partition(" ")[2].strip().startswith(API_KEY_PREFIXES)
            and environ.get("CONTENT_LENGTH", "0") in ("", "0") and "HTTP_TRANSFER_ENCODING" not in environ
            and "HTTP_ORIGIN" not in environ and _host_allowed(environ)):
        return lean(environ, start_response)
    return gateway_application(environ, start_response)
