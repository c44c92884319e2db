"""The one place that talks to Flash. Every Flash shape the memos don't document
lives here, read tolerantly (extra fields are ignored): balance `{"balance": int}`,
costs `{"costs": {operation: int}}`, history `{"transactions": [...], "total": int}`,
grant `{"user_id", "amount", "transaction_type", "description"}` with X-Admin-Key."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache

from core.cache import quietly

from . import transport

log = logging.getLogger("upstreams.flash")

SERVICE = "Flash"
_session = transport.pool_manager()

COSTS_CACHE_KEY = "relay:flash:costs"  # the name it has always had in the shared cache
COSTS_CACHE_SECONDS = 300
# This process's own copy of the table, trusted this long: a thousand streams starting at
# once read it without a Redis round trip each. A change at Flash shows within the shared
# cache's lifetime plus this.
COSTS_COPY_SECONDS = 10.0
_costs_copy: tuple[float, dict[str, int]] = (-math.inf, {})
DEFAULT_PRESET = "balanced"

GENERATE_PATH = "/api/v1/timepoints/generate/sync"
GENERATE_STREAM_PATH = "/api/v1/timepoints/generate/stream"


def _url(path: str, base: str | None = None) -> str:
    return (base or settings.FLASH_URL).rstrip("/") + path


def _read_timeout() -> tuple[float, float]:
    return (settings.UPSTREAM_CONNECT_TIMEOUT, settings.UPSTREAM_READ_TIMEOUT)


def _generation_timeout() -> tuple[float, float]:
    return (settings.UPSTREAM_CONNECT_TIMEOUT, settings.GENERATION_TIMEOUT)


def _service_headers(flash_user_id: str | None = None) -> dict[str, str]:
    headers = {"X-Service-Key": settings.FLASH_SERVICE_KEY}
    if flash_user_id:
        headers["X-User-ID"] = flash_user_id
    return headers


def _json_object(response: transport.UpstreamResponse, what: str) -> dict[str, Any]:
    """A 2xx JSON object, or a 502 (Flash's body is logged, never shown)."""
    if response.status_code >= 300:
        transport.raise_for_billing_fault(SERVICE, response)
        transport.log_error_body(SERVICE, response)
        raise transport.failed(SERVICE)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        log.error("Flash %s answered something other than a JSON object", what)
        raise transport.failed(SERVICE)
    return body


# The longest user id of Flash's billing keeps (Account.flash_user_id).
MAX_USER_ID = 64


def resolve_user(external_id: str, email: str = "", display_name: str = "") -> str:
    """Find-or-create Flash's user for an external identity; returns Flash's user_id."""
    body: dict[str, str] = {"external_id": external_id}
    if email:
        body["email"] = email
    if display_name:
        body["display_name"] = display_name
    response = transport.send(
        _session,
        SERVICE,
        "POST",
        _url("/api/v1/users/resolve"),
        timeout=_read_timeout(),
        json=body,
        headers=_service_headers(),
    )
    user_id = _json_object(response, "users/resolve").get("user_id")
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    # Kept as the account's flash_user_id (64 characters) and sent back as X-User-ID:
    # printable ASCII, as a header holds it.
    if not (isinstance(user_id, str) and 0 < len(user_id) <= MAX_USER_ID
            and user_id.isascii() and user_id.isprintable()):
        log.error("Flash users/resolve answered without a usable user_id")
        raise transport.failed(SERVICE)
    return user_id


# --- credits -------------------------------------------------------------------------


def get_balance(flash_user_id: str) -> int:
    response = transport.send(_session, SERVICE, "GET", _url("/api/v1/credits/balance"),
                             timeout=_read_timeout(), headers=_service_headers(flash_user_id))
    body = _json_object(response, "credits/balance")
    balance = parse_balance(body)
    if balance is None:
        log.error("Flash credits/balance answered without an integer balance")
        raise transport.failed(SERVICE)
    return balance


def parse_balance(body: Any) -> int | None:
    """The balance in a Flash balance answer, None when it has none."""
    value = body.get("balance") if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def history(flash_user_id: str, limit: int | None = None, offset: int | None = None) -> dict[str, Any]:
    """One page of the user's credit transactions, newest first: `{"transactions":
    [...], "total": int}` (extra fields kept; `transactions` always a list)."""
    query = {name: value for name, value in (("limit", limit), ("offset", offset)) if value is not None}
    url = _url("/api/v1/credits/history") + (f"?{urlencode(query)}" if query else "")
    response = transport.send(_session, SERVICE, "GET", url, timeout=_read_timeout(),
                             headers=_service_headers(flash_user_id))
    body = _json_object(response, "credits/history")
    if not isinstance(body.get("transactions"), list):
        body["transactions"] = []
    body.setdefault("total", len(body["transactions"]))
    return body


def get_costs() -> dict[str, int]:
    """Flash's cost table, operation → credits, cached 5 minutes in the shared cache and
    COSTS_COPY_SECONDS in this process. Callers must not change the dict."""
    global _costs_copy
    read_at, copy = _costs_copy
    now = time.monotonic()
    if now - read_at < COSTS_COPY_SECONDS:
        return copy
    costs = quietly(lambda: cache.get(COSTS_CACHE_KEY), None)
    if costs is not None:
        _costs_copy = (now, costs)
        return costs
    response = transport.send(_session, SERVICE, "GET", _url("/api/v1/credits/costs"),
                             timeout=_read_timeout(), headers=_service_headers())
    body = _json_object(response, "credits/costs")
    table = body.get("costs")
    if not isinstance(table, dict):
        log.error("Flash credits/costs answered without a cost table")
        raise transport.failed(SERVICE)
    costs = {str(operation): int(cost) for operation, cost in table.items()
             if isinstance(cost, (int, float)) and not isinstance(cost, bool)}
    quietly(lambda: cache.set(COSTS_CACHE_KEY, costs, COSTS_CACHE_SECONDS), None)
    _costs_copy = (now, costs)
    return costs


def forget_costs() -> None:
    """This process reads the cost table from the shared cache (or Flash) again next time."""
    global _costs_copy
    _costs_copy = (-math.inf, {})


def cost_of(preset: str | None, costs: dict[str, int]) -> int | None:
    """What a generation with `preset` costs: `generate_{preset}`, else `{preset}`,
    else `generate`; None when the table names none of them."""
    preset = preset or DEFAULT_PRESET
    for operation in (f"generate_{preset}", preset, "generate"):
        if operation in costs:
            return costs[operation]
    return None


def presets(costs: dict[str, int]) -> list[str]:
    """The generation presets the cost table prices (`generate_<preset>`)."""
    return sorted(operation.removeprefix("generate_") for operation in costs if operation.startswith("generate_"))


class GrantRefused(Exception):
    """Flash answered the admin grant with a 4xx: it definitely did not apply it."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"Flash refused the grant ({status}): {detail}")
        self.status = status


def grant(user_id: str, amount: int, transaction_type: str, description: str,
          timeout: tuple[float, float] | None = None) -> dict:
    """Flash's admin grant (seeds/001 §4). Raises transport.CredentialRefused when Flash
    refuses billing's admin key (not applied; an operator must fix the key),
    GrantRefused on any other 4xx (about the grant itself), an UpstreamError on a 5xx
    or a transport failure (outcome unknown)."""
    response = transport.send(
        _session,
        SERVICE,
        "POST",
        _url("/api/v1/credits/admin/grant"),
        timeout=timeout or _read_timeout(),
        json={"user_id": user_id, "amount": amount, "transaction_type": transaction_type,
              "description": description},
        headers={"X-Admin-Key": settings.FLASH_ADMIN_KEY},
    )
    transport.raise_for_billing_fault(SERVICE, response)
    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
        try:
            detail = str(response.json().get("detail", ""))[:200]
        except (ValueError, AttributeError):
            detail = ""
        raise GrantRefused(response.status_code, detail)
    if response.status_code >= 400:
        log.warning("Flash admin grant answered %s", response.status_code)
        raise transport.failed(SERVICE)
    try:
        body = response.json()
    except ValueError:
        body = {}
    return body if isinstance(body, dict) else {}


def transaction_time(entry: dict) -> datetime | None:
    """When Flash recorded a history entry (its ISO 8601 `created_at`, UTC when it
    names no zone); None when it has no readable time."""
    try:
        when = datetime.fromisoformat(str(entry.get("created_at")))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def history_since(user_id: str, since: datetime, page: int = 100) -> Iterator[dict]:
    """The user's credit transactions, newest first, down to the first one older than
    `since`, page after page. Pages are read by offset, so an entry that a new
    transaction pushed onto the next page is given once."""
    seen: set[str] = set()
    offset = 0
    while True:
        entries = history(user_id, limit=page, offset=offset)["transactions"]
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            when = transaction_time(entry)
            if when is not None and when < since:
                return
            key = str(entry.get("id", ""))
            if key and key in seen:
                continue
            seen.add(key)
            yield entry
        if len(entries) < page:
            return
        offset += page


# --- relaying a client's request ------------------------------------------------------


def relay(
    request: Any,
    method: str,
    path: str,
    *,
    flash_user_id: str,
    base: str | None = None,
    generation: bool = False,
    stream: bool = False,
) -> transport.UpstreamResponse:
    """Send the client's request on to Flash `path` as the caller: the body and query
    string unchanged, billing's service key and the caller's Flash user id."""
    django_request = getattr(request, "_request", request)
    query = django_request.META.get("QUERY_STRING", "")
    url = _url(path, base) + (f"?{query}" if query else "")
    body = django_request.body if method.upper() not in ("GET", "HEAD") else None
    headers = transport.outgoing_headers(request, _service_headers(flash_user_id))
    if stream:
        # A compressed stream could not be handed on event by event.
        headers["Accept-Encoding"] = "identity"
    return transport.send(
        _session,
        SERVICE,
        method,
        url,
        timeout=_generation_timeout() if generation else _read_timeout(),
        stream=stream,
        data=body,
        headers=headers,
    )


# SSE event names after which a Flash stream is complete; a stream that ends
# without one was broken off (the client then gets a final `event: error`).
TERMINAL_EVENTS = (b"done", b"complete", b"completed", b"result", b"error")
