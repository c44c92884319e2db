"""The one function that turns a served request into a usage record (queued for the
usage writer: metering/writer.py), from what the request's context says: who called
(the authentication wrote it) and what it cost (the view wrote it)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.urls import Resolver404, get_resolver
from django.utils import timezone

from apikeys.authentication import presented_key
from core.context import context
from core.request_json import storable

from .writer import failures, usage_writer

log = logging.getLogger("metering")

# Paths under /api/v1/ that are not metered: the docs and the webhooks (health lives
# outside /api/v1/ altogether).
API_PREFIX = "/api/v1/"
UNMETERED_PREFIXES = ("/api/v1/schema", "/api/v1/docs", "/api/v1/billing/webhooks/")
UNMATCHED = "(unmatched)"

_CONVERTER = re.compile(r"<(?:[^>:]+:)?([^>]+)>")


def is_metered(path: str) -> bool:
    return path.startswith(API_PREFIX) and not path.startswith(UNMETERED_PREFIXES)


def endpoint_of(request: HttpRequest, status_code: int | None = None) -> str:
    """The route pattern (`/api/v1/keys/<key_id>/usage`), never the raw path: raw
    paths carry ids and would make per-endpoint figures meaningless."""
    match = getattr(request, "resolver_match", None)
    if match is None and status_code != 404:  # a 404 without a match: Django's resolving failed already
        # Refused before URL resolution (a body refused by the middleware): the route
        # it was meant for, resolved here for that rare record.
        try:
            match = get_resolver(getattr(request, "urlconf", None)).resolve(request.path_info)
        except Resolver404:
            return UNMATCHED
    route = getattr(match, "route", None)
    if not route:
        return UNMATCHED
    route = route.lstrip("^").replace("$", "").replace("\\Z", "")
    return "/" + _CONVERTER.sub(r"<\1>", route)


def _caller(request: HttpRequest, status_code: int) -> tuple[Any, Any]:
    """(account, API key) of the record. The authentication wrote them into the
    context; a request refused before it ran (an unsafe relay path, a body refused by
    the middleware, a 413) is attributed to the API key it bears, looked up only then:
    a request the authentication saw (refused or not) is never looked up twice, and one
    answered by a view that takes no credential (plans) is not looked up at all."""
    ctx = context(request)
    authorization = request.META.get("HTTP_AUTHORIZATION")
    if ctx.authenticated or status_code < 400 or not authorization:
        return ctx.account, ctx.api_key
    entry = presented_key(authorization)  # the cache only, which never raises (quietly)
    if entry is None:
        return ctx.account, None
    return entry.account, entry.key


def record(request: HttpRequest, status_code: int, started_at: datetime, elapsed_s: float) -> None:
    """Queue the usage record of one request for the usage writer (metering/writer.py),
    which stores it within USAGE_BATCH_INTERVAL. Never raises: a record that cannot be
    made is logged and counted, the request it describes has already been answered."""
    if status_code == 401:  # unauthenticated callers are not metered (CONTRACT §7)
        return
    ctx = context(request)
    try:
        account, api_key = _caller(request, status_code)
        preset = ctx.preset
        # Everything converted here, so that a bad value fails this record now rather
        # than the batch it would join.
        row = {
            "uid": uuid.uuid4(),
            "account_id": getattr(account, "pk", None),
            "api_key_id": getattr(api_key, "pk", None),
            "endpoint": endpoint_of(request, status_code)[:200],
            "method": (request.method or "")[:10],
            "status_code": int(status_code),
            "credits_spent": int(ctx.credits_spent or 0),
            "response_time_ms": max(0, round(elapsed_s * 1000)),
            # The client's own text (Flash judges presets): without the NUL characters
            # PostgreSQL refuses, which would drop the record, nor lone surrogates (a
            # JSON escape with no UTF-8 form), which held up the writer's whole batch.
            "preset": None if preset is None else storable(str(preset))[:32],
            "created_at": started_at,
            "request_id": (getattr(request, "request_id", "") or "")[:128],
            "is_test": getattr(api_key, "environment", "live") == "test",
        }
        usage_writer.submit(row)
    except Exception:
        failures.increment()
        log.exception("could not record usage of %s %s", request.method, endpoint_of(request))


class Stopwatch:
    """Start time for created_at, monotonic clock for the duration."""

    def __init__(self) -> None:
        self.started_at = timezone.now()
        self._t0 = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0
