"""Tiers and the limits they set (CONTRACT.md §5): requests per minute, concurrent
requests, HD access, and the per-IP limit on failed authentications.

Everything is counted in the shared cache (Redis in production) so that all workers
and instances count together, in ONE round trip before the view (`admit`, run by the
authentication once it knows the caller, or by the throttle for anonymous callers):
the client IP's failed authentications, the API key's cached record, the caller's
requests this minute and, for relayed calls, a concurrency slot, decided by one Lua
script (apikeys/lua/admit.lua through apikeys/counters.py). The slot goes back when
the response closes: one more round trip. Windows are fixed one-minute windows that
start with a caller's first request.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from core.cache import quietly
from core.catalog import Tier, TierLimits, has_hd, limits_for
from core.errors import APIError

from .counters import Ask, Verdict, counters

log = logging.getLogger("apikeys.limits")


def caller_tier(request: Request) -> str:
    """The tier whose limits apply: the key's for API keys, the account's otherwise,
    free for anonymous callers."""
    credential = getattr(request, "auth", None)
    if getattr(credential, "is_api_key", False):
        return credential.api_key.tier
    account = getattr(request, "user", None)
    return account.effective_tier if account is not None else Tier.FREE


def caller_limits(request: Request) -> TierLimits:
    return limits_for(caller_tier(request))


def may_use_hd(request: Request) -> bool:
    """HD: the caller's tier, or its account's plan, includes it."""
    account = getattr(request, "user", None)
    return has_hd(caller_tier(request), account.plan if account is not None else None)


def client_ip(request: HttpRequest | Request) -> str:
    """REMOTE_ADDR, or the configured trusted proxy header. Of a list
    (X-Forwarded-For) the last entry is the one the trusted proxy appended; the
    ones before it are whatever the client claimed."""
    meta = request.META
    header = settings.TRUSTED_PROXY_IP_HEADER
    if header and meta.get(header):
        return meta[header].split(",")[-1].strip()
    return meta.get("REMOTE_ADDR", "") or "unknown"


def caller_subject(request: Request) -> str:
    """Whose limits these are: the key (by hash: the admission knows no more before
    the key's record is read), the account, or the client IP."""
    credential = getattr(request, "auth", None)
    if getattr(credential, "is_api_key", False):
        return f"key:{credential.api_key.key_hash}"
    account = getattr(request, "user", None)
    if account is not None and getattr(account, "is_authenticated", False):
        return f"account:{account.pk}"
    return f"ip:{client_ip(request)}"


def _counted_anonymously(view: object) -> bool:
    """Anonymous callers are limited on the public relay (Clockchain browse) only:
    plans, webhooks, health and docs stay open. A view may say otherwise with
    `throttle_anonymous`."""
    explicit = getattr(view, "throttle_anonymous", None)
    if explicit is not None:
        return bool(explicit)
    return type(view).__module__.startswith("relay.")


def _django(request: HttpRequest | Request) -> HttpRequest:
    return getattr(request, "_request", request)


WINDOW_MS = 60_000


@dataclass
class Admission:
    """What the round trip before the view decided for this request (on the Django
    request as `tp_admission`)."""

    verdict: str  # see apikeys/lua/admit.lua; "unavailable" when the cache failed
    record: Any = None  # the API key's cached record, when one was read
    usage: dict | None = None  # {"count", "limit", "time_left"} when counted
    slot: Slot | None = None  # taken for the view; released when the response closes
    wanted_slot: bool = False


def _needs(request: Request) -> tuple[bool, bool]:
    """Whether the view this request goes to counts it per minute (it has the tier
    throttle) and holds a concurrency slot while it works (relayed calls)."""
    view = (getattr(request, "parser_context", None) or {}).get("view")
    if view is None:
        return False, False
    counted = any(isinstance(cls, type) and issubclass(cls, TierRateThrottle) for cls in view.throttle_classes)
    return counted, bool(getattr(view, "holds_concurrency_slot", False))


def _too_many_failures(ms_left: int) -> APIError:
    return APIError(
        429,
        "rate_limited",
        "Too many failed authentications from this address; retry after the time in Retry-After.",
        headers={"Retry-After": str(max(1, math.ceil(ms_left / 1000)))},
    )


def admit(request: Request, subject: str, tier: str | None = None, *, key_hash: str = "",
          check_failures: bool = True) -> Admission:
    """Run the one round trip before the view for this caller (`subject`, with the
    limits of `tier`, or of the API key `key_hash`'s cached record) and keep its answer
    on the request for the throttle and the view. Raises 429 when the client IP failed
    authentication too often this minute. Fails open when the cache does."""
    counted, wants_slot = _needs(request)
    limits = limits_for(tier)
    token = uuid.uuid4().hex
    ask = Ask(
        ip=client_ip(request),
        subject=subject,
        failures_allowed=settings.AUTH_FAILURES_PER_MINUTE if check_failures else -1,
        rpm=("key" if key_hash else limits.requests_per_minute) if counted else -1,
        concurrent=("key" if key_hash else limits.concurrent) if wants_slot else -1,
        key_hash=key_hash,
        token=token,
        window_ms=WINDOW_MS,
        slot_ms=int(settings.CONCURRENCY_SLOT_SECONDS * 1000),
    )
    verdict: Verdict | None = quietly(lambda: counters().admit(ask), None)
    if verdict is None:
        admission = Admission("unavailable", wanted_slot=wants_slot)
    else:
        if verdict.verdict == "blocked":
            raise _too_many_failures(verdict.ms_left)
        admission = Admission(verdict.verdict, record=verdict.record, wanted_slot=wants_slot)
        if counted and verdict.verdict in ("ok", "limited", "busy"):
            admission.usage = {"count": verdict.count, "limit": verdict.allowed,
                               "time_left": max(1, math.ceil(verdict.ms_left / 1000))}
        if wants_slot and verdict.verdict == "ok":
            admission.slot = Slot(subject, token)
    _django(request).tp_admission = admission
    return admission


def admission_of(request: HttpRequest | Request) -> Admission | None:
    return getattr(_django(request), "tp_admission", None)


class TierRateThrottle(BaseThrottle):
    """Requests per minute per key / account / client IP. Authenticated callers were
    counted by the admission when they authenticated; anonymous ones are admitted here.
    Leaves X-RateLimit-* values on the request for
    `apikeys.middleware.RateLimitHeadersMiddleware`."""

    def allow_request(self, request: Request, view: object) -> bool:
        admission = admission_of(request)
        if admission is None:
            if getattr(request, "user", None) is None and not _counted_anonymously(view):
                return True
            admission = admit(request, caller_subject(request), caller_tier(request), check_failures=False)
        usage = admission.usage
        if usage is None:  # the cache failed: not enforced
            return True
        limit = usage["limit"]
        _django(request).tp_ratelimit = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - usage["count"])),
            "X-RateLimit-Reset": str(int(time.time()) + usage["time_left"]),
        }
        self._wait = usage["time_left"]
        return admission.verdict != "limited"

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)


def record_auth_failure(request: Request) -> None:
    """Count a failed authentication against the client IP; the failure that goes past
    the limit answers 429 instead of 401 (as every attempt from that IP will, valid
    credentials included, until the window ends)."""
    counted = quietly(lambda: counters().fail(client_ip(request), WINDOW_MS), None)
    if counted is not None and counted[0] > settings.AUTH_FAILURES_PER_MINUTE:
        raise _too_many_failures(counted[1])


class Slot:
    """One held concurrency slot; `release()` is idempotent. A slot not released
    (its worker died) expires after CONCURRENCY_SLOT_SECONDS."""

    def __init__(self, subject: str | None = None, token: str = "") -> None:
        self.subject = subject
        self.token = token
        self.released = subject is None

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        try:
            # Only our own token: after an expiry someone else may hold the slot.
            counters().release(self.subject, self.token)
        except Exception:  # the slot expires by itself; a release must never fail a response
            log.warning("could not release a concurrency slot of %s", self.subject, exc_info=True)


def _busy(allowed: int) -> APIError:
    return APIError(
        429,
        "concurrency_limited",
        f"At most {allowed} concurrent requests on this tier; retry when one finishes.",
        headers={"Retry-After": "1"},
    )


def acquire_slot(request: Request) -> Slot:
    """Take one of the caller's concurrent-request slots now, or raise 429
    `concurrency_limited` (for a view whose admission took none). Streams hold it
    until the stream ends."""
    subject = caller_subject(request)
    allowed = caller_limits(request).concurrent
    token = uuid.uuid4().hex
    ask = Ask(ip=client_ip(request), subject=subject, concurrent=allowed, token=token,
              slot_ms=int(settings.CONCURRENCY_SLOT_SECONDS * 1000))
    verdict = quietly(lambda: counters().admit(ask), None)
    if verdict is None:
        return Slot()  # the cache is down: not enforced rather than refusing everyone
    if verdict.verdict == "busy":
        raise _busy(allowed)
    return Slot(subject, token)


def hold_slot(request: Request) -> Slot:
    """The concurrency slot this request's admission took (429 when every slot was
    held), or one taken now when its admission took none. The admission's slot is
    released when the response closes (apikeys.middleware); `release()` earlier is
    harmless."""
    admission = admission_of(request)
    if admission is None or not admission.wanted_slot:
        return acquire_slot(request)
    if admission.verdict == "busy":
        raise _busy(caller_limits(request).concurrent)
    return admission.slot or Slot()


@contextlib.contextmanager
def concurrency_slot(request: Request) -> Iterator[Slot]:
    """Hold a slot for the duration of a relayed request."""
    slot = hold_slot(request)
    try:
        yield slot
    finally:
        slot.release()


def release_when_closed(response: HttpResponseBase, slot: Slot) -> HttpResponseBase:
    """Hold the slot until the server closes the response: after the last byte of a
    stream, or when the client disconnects (WSGI servers close the iterable then),
    even if the stream never started."""
    response._resource_closers.append(slot.release)
    return response
