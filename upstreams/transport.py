"""The HTTP plumbing shared by the Flash and Clockchain clients: one urllib3 pool
manager per upstream, timeouts from settings, the headers that may cross the gateway
in each direction, and the mapping of transport failures onto the contract's
502/503/504.

urllib3 directly rather than `requests`: on a relayed request `requests` (cookie jars,
hooks, settings merging, proxy and auth resolution, none of which an internal call
uses) cost about three times the CPU of the HTTP exchange itself (docs/performance.md)."""

from __future__ import annotations

import json as _json
import logging
import re
from typing import Any

import requests
import urllib3
from django.conf import settings
from django.http import HttpResponse
from django.http.request import HttpHeaders
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from core.db import release_connection
from core.errors import APIError
from core.logs import mask_configured_secrets
from core.middleware import mark_relayed

log = logging.getLogger("upstreams.transport")

# Client headers that reach an upstream. An allow-list rather than a deny-list:
# credentials (Authorization, Cookie), internal keys (X-Service-Key, X-Admin-Key),
# identities (X-User-ID), hop-by-hop and proxy headers can then never slip through
# under a spelling nobody thought of.
FORWARDED_REQUEST_HEADERS = (
    "Content-Type",
    "Accept",
    "Accept-Language",
    "If-None-Match",
    "If-Modified-Since",
)
# Their WSGI names: read from META, a relayed request need not build `request.headers`.
_FORWARDED_META = tuple((name, HttpHeaders.to_wsgi_name(name)) for name in FORWARDED_REQUEST_HEADERS)

# Upstream headers that reach the client; everything else (Server, Set-Cookie,
# hop-by-hop, upstream internals) stays behind.
FORWARDED_RESPONSE_HEADERS = (
    "Cache-Control",
    "ETag",
    "Last-Modified",
    "Expires",
    "Content-Language",
    "Retry-After",
    "Vary",
)

# The wait a relayed 429 names when its upstream named none: every 429 carries
# Retry-After (CONTRACT.md §3), or a client's retry loop has nothing to wait for.
UPSTREAM_RETRY_AFTER = "5"

# How much of an upstream error body goes to the log (never to the client).
LOGGED_BODY_CHARS = 2000


class UpstreamError(APIError):
    """Billing could not get a usable answer from an upstream service."""


class CredentialRefused(UpstreamError):
    """An upstream refused billing's own service or admin key (CONTRACT.md §3): a
    misconfiguration between the services that an operator fixes, never the caller's
    fault, and never final for anything billing is retrying."""

    def __init__(self, service: str, status: int, detail: str) -> None:
        super().__init__(502, "upstream_error", f"{service} refused the gateway's own credentials: a configuration "
                                                "problem on our side, not your credential.")
        self.status = status
        self.detail = detail
        # Whether the upstream named the key; a bare 401 may also be about the user id
        # billing sent (Flash's "Unknown user").
        self.names_key = bool(_OWN_KEY_REFUSAL.search(detail))


def unavailable(service: str) -> UpstreamError:
    return UpstreamError(503, "upstream_unavailable", f"{service} is unavailable; try again shortly.")


def timed_out(service: str) -> UpstreamError:
    return UpstreamError(504, "upstream_timeout", f"{service} did not answer in time.")


def failed(service: str) -> UpstreamError:
    return UpstreamError(502, "upstream_error", f"{service} answered with an error.")


class UpstreamResponse:
    """An upstream's answer: the little of `requests.Response` the clients use
    (status_code, case-insensitive headers, content, text, json(), raw for streams)."""

    __slots__ = ("raw", "status_code", "headers")

    def __init__(self, raw: urllib3.BaseHTTPResponse) -> None:
        self.raw = raw
        self.status_code = raw.status
        self.headers = raw.headers

    @property
    def content(self) -> bytes:
        return self.raw.data

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return _json.loads(self.content)

    def close(self) -> None:
        # As requests does: an unfinished stream's connection is closed, and the pool
        # gets its slot back either way.
        self.raw.close()
        self.raw.release_conn()


def pooled_session(pool_size: int = 50) -> requests.Session:
    """A pooled `requests.Session` for callers off the relay path (payments/apple.py)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # Proxies from the environment must not reroute internal calls.
    session.trust_env = False
    return session


def pool_manager(pool_size: int | None = None) -> urllib3.PoolManager:
    """What send() takes: one per upstream, keeping UPSTREAM_POOL_SIZE connections."""
    # No retries and no redirects inside urllib3: send() decides what is retried.
    # urllib3 reads no proxy settings from the environment, so internal calls are
    # never rerouted.
    return urllib3.PoolManager(num_pools=4, maxsize=pool_size or settings.UPSTREAM_POOL_SIZE, retries=False)


def send(
    session: urllib3.PoolManager,
    service: str,
    method: str,
    url: str,
    *,
    timeout: tuple[float, float],
    stream: bool = False,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    json: Any = None,  # noqa: A002 -- the keyword `requests` callers know
) -> UpstreamResponse:
    """One request; transport failures become UpstreamErrors (503 refused, 504 timeout).

    An idempotent GET is tried once more when the connection failed (a pooled
    connection the upstream had closed, a restart); nothing else is retried, since
    a POST may have been acted on. The caller decides what an upstream status
    means; nothing here raises on 4xx/5xx. With `stream` the body is left unread
    (`response.raw.read1`).
    """
    if not url.startswith(("http://", "https://")):
        log.error("%s is not configured (no base URL)", service)
        raise unavailable(service)
    # The wait for an upstream can be long (a generation): no PostgreSQL connection is
    # held through it, so that connections stay bounded by the pool, not by callers.
    release_connection()
    headers = dict(headers or {})
    if json is not None:
        data = _json.dumps(json).encode()
        headers["Content-Type"] = "application/json"
    attempts = 2 if method.upper() == "GET" else 1
    limits = urllib3.Timeout(connect=timeout[0], read=timeout[1])
    for attempt in range(1, attempts + 1):
        try:
            raw = session.request(method, url, body=data, headers=headers, timeout=limits,
                                  preload_content=not stream, redirect=False, retries=False)
            return UpstreamResponse(raw)
        except NewConnectionError as exc:  # refused: a ConnectTimeoutError subclass, but not a timeout
            log.warning("%s %s failed (attempt %s): %s", service, method, attempt, exc.__class__.__name__)
            if attempt == attempts:
                raise unavailable(service) from None
        except (ConnectTimeoutError, ReadTimeoutError, TimeoutError):
            log.warning("%s %s timed out", service, method)
            raise timed_out(service) from None
        except (ProtocolError, OSError) as exc:  # reset, closed pooled connection
            log.warning("%s %s failed (attempt %s): %s", service, method, attempt, exc.__class__.__name__)
            if attempt == attempts:
                raise unavailable(service) from None
        except HTTPError as exc:
            log.warning("%s %s failed: %s", service, method, exc.__class__.__name__)
            raise unavailable(service) from None
    raise unavailable(service)  # not reached: the loop returns or raises


def outgoing_headers(request: Any, extra: dict[str, str]) -> dict[str, str]:
    """The headers an upstream call carries: the allow-listed client headers, the
    request id, then billing's own (service key, user id), which always win."""
    django_request = getattr(request, "_request", request)
    meta = django_request.META
    headers = {name: meta[key] for name, key in _FORWARDED_META if meta.get(key)}
    request_id = getattr(django_request, "request_id", None)
    if request_id:
        headers["X-Request-ID"] = request_id
    headers.update(extra)
    return headers


def _body_text(response: UpstreamResponse) -> str:
    try:
        return response.text[:LOGGED_BODY_CHARS]
    except Exception:  # a body that cannot even be read is logged as such
        return "<unreadable>"


def log_error_body(service: str, response: UpstreamResponse) -> None:
    log.error("%s answered %s: %s", service, response.status_code, _body_text(response))


# How Flash and Clockchain word a refusal of the key billing sent ("Invalid or missing
# service key", "Invalid admin key"), as opposed to a 403 about the object asked for.
_OWN_KEY_REFUSAL = re.compile(r"(service|admin)[\s_-]*key", re.IGNORECASE)


def refuses_billing_key(response: UpstreamResponse) -> bool:
    """Whether this answer refuses billing's own credential rather than the caller.

    Billing authenticated the caller before calling, and an upstream only ever sees
    billing's keys: every 401 is about them. A 403 is about them when its body says
    so; any other 403 (someone else's timepoint…) is the upstream's word on the
    object and belongs to the caller."""
    if response.status_code == 401:
        return True
    return response.status_code == 403 and bool(_OWN_KEY_REFUSAL.search(_body_text(response)))


def raise_for_billing_fault(service: str, response: UpstreamResponse) -> None:
    """Raise the contract's 502 when the answer is not the caller's to see: an upstream
    5xx, or a refusal of billing's own key (logged at ERROR as the misconfiguration it
    is; the key itself is never logged). Other answers are left to the caller."""
    if response.status_code >= 500:
        log_error_body(service, response)
        response.close()
        raise failed(service)
    if refuses_billing_key(response):
        detail = _body_text(response)
        log.error("%s refused billing's own key (%s: %s): the service or admin key billing sends, or the user id "
                  "it sends with it, is not what %s expects. Fix the configuration; callers get 502 until then.",
                  service, response.status_code, detail, service)
        response.close()
        raise CredentialRefused(service, response.status_code, detail)


def relayed_response(service: str, response: UpstreamResponse) -> HttpResponse:
    """The upstream's answer as the client gets it: status, body (any of billing's
    configured keys in it masked), content type and allow-listed headers. An upstream
    5xx, or a 401/403 to billing's own key, becomes 502 (the body is logged, not shown)."""
    raise_for_billing_fault(service, response)
    relayed = HttpResponse(
        mask_configured_secrets(response.content),
        status=response.status_code,
        content_type=response.headers.get("Content-Type", "application/json"),
    )
    for name in FORWARDED_RESPONSE_HEADERS:
        if name in response.headers:
            relayed[name] = response.headers[name]
    if relayed.status_code == 429 and "Retry-After" not in relayed:
        relayed["Retry-After"] = UPSTREAM_RETRY_AFTER
    return mark_relayed(relayed)
