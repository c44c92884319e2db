"""Tiers and the limits they set (CONTRACT.md §5): requests per minute, concurrent
requests, HD access, and the per-IP limit on failed authentications.

Everything is counted in the shared cache (Redis in production) so that all workers
and instances count together. Requests per minute use django-ratelimit's fixed
windows; concurrency uses one cache entry per slot, taken with an atomic `add`.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.http import HttpRequest, HttpResponseBase
from django_ratelimit.core import ALL, EXPIRATION_FUDGE, _get_window, _make_cache_key, _split_rate, get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from timepoint_billing.cache import quietly
from timepoint_billing.errors import APIError

log = logging.getLogger("apikeys.limits")


@dataclass(frozen=True)
class TierLimits:
    requests_per_minute: int
    concurrent: int
    hd: bool


TIERS: dict[str, TierLimits] = {
    "free": TierLimits(requests_per_minute=10, concurrent=1, hd=False),
    "pro": TierLimits(requests_per_minute=60, concurrent=5, hd=True),
    "enterprise": TierLimits(requests_per_minute=300, concurrent=20, hd=True),
}


def caller_tier(request: Request) -> str:
    """The tier whose limits apply: the key's for API keys, the account's otherwise,
    free for anonymous callers."""
    credential = getattr(request, "auth", None)
    if getattr(credential, "is_api_key", False):
        return credential.api_key.tier
    account = getattr(request, "user", None)
    return account.effective_tier if account is not None else "free"


def limits_for(request: Request) -> TierLimits:
    return TIERS.get(caller_tier(request), TIERS["free"])


def may_use_hd(request: Request) -> bool:
    """HD needs a tier with HD, or a plan that includes it (Historian)."""
    from payments.plans import plan_has_hd

    account = getattr(request, "user", None)
    return limits_for(request).hd or (account is not None and plan_has_hd(account.plan))


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
    """Whose limits these are: the key, the account, or the client IP."""
    credential = getattr(request, "auth", None)
    if getattr(credential, "is_api_key", False):
        return f"key:{credential.api_key.pk}"
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


class TierRateThrottle(BaseThrottle):
    """Requests per minute per key / account / client IP, counted in the shared
    cache. Leaves X-RateLimit-* values on the request for
    `apikeys.middleware.RateLimitHeadersMiddleware`."""

    def allow_request(self, request: Request, view: object) -> bool:
        account = getattr(request, "user", None)
        if account is None and not _counted_anonymously(view):
            return True
        credential = getattr(request, "auth", None)
        if getattr(credential, "is_api_key", False):
            limit = credential.api_key.rate_limit
        else:
            limit = limits_for(request).requests_per_minute
        subject = caller_subject(request)
        usage = quietly(lambda: _count_request(request, "tpb.rpm", subject, f"{limit}/m"), None)
        if usage is None or usage["limit"] == 0:  # RATELIMIT_ENABLE = False, or the cache failed
            return True
        time_left = max(1, usage["time_left"])
        _django(request).tp_ratelimit = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - usage["count"])),
            "X-RateLimit-Reset": str(int(time.time()) + time_left),
        }
        self._wait = time_left
        return not usage["should_limit"]

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)


# django-ratelimit's ADD of a fresh counter, else INCR, in one round trip.
_ADD_OR_INCR = ("if redis.call('set', KEYS[1], 1, 'NX', 'PX', ARGV[1]) then return 1 end "
                "return redis.call('incr', KEYS[1])")


def _count_request(request: Request, group: str, subject: str, rate: str) -> dict | None:
    """get_usage(..., increment=True) of django-ratelimit (its window, key, expiry and
    answer), which sends ADD then INCR to Redis on every request after a window's
    first: here one script does both. Other caches go through get_usage itself."""
    client = getattr(caches[settings.RATELIMIT_USE_CACHE], "client", None)
    redis = _redis(client)
    if redis is None:
        return get_usage(_django(request), group=group, key=lambda group, req: subject, rate=rate, increment=True)
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return None
    limit, period = _split_rate(rate)
    window = _get_window(subject, period)
    cache_key = _make_cache_key(group, window, rate, subject, ALL)
    count = _script(redis, _ADD_OR_INCR)(keys=[client.make_key(cache_key)],
                                         args=[(period + EXPIRATION_FUDGE) * 1000], client=redis)
    return {"count": count, "limit": limit, "should_limit": count > limit, "time_left": window - int(time.time())}


AUTH_FAILURE_GROUP = "tpb.authfail"


def _auth_failure_rate() -> str:
    return f"{settings.AUTH_FAILURES_PER_MINUTE}/m"


def _auth_failure_usage(request: Request, increment: bool) -> dict | None:
    ip = client_ip(request)
    return quietly(
        lambda: get_usage(
            _django(request),
            group=AUTH_FAILURE_GROUP,
            key=lambda group, req: ip,
            rate=_auth_failure_rate(),
            increment=increment,
        ),
        None,
    )


def _auth_failures_so_far(request: Request, also: tuple[str, ...] = ()) -> tuple[dict | None, dict | None]:
    """This minute's failures of the client IP, read with one GET of the counter that
    django-ratelimit keeps (its own window and key functions). get_usage without
    increment would first ADD a zero counter, then GET it: two round trips on every
    authenticated request instead of one. The default-cache entries `also` come
    back from the same round trip (an MGET) when the counter lives in that cache;
    None instead of them when the cache failed."""
    ratelimit_cache = caches[settings.RATELIMIT_USE_CACHE]
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return None, (quietly(lambda: cache.get_many(also), None) if also else {})
    ip = client_ip(request)
    rate = _auth_failure_rate()
    limit, period = _split_rate(rate)
    window = _get_window(ip, period)
    cache_key = _make_cache_key(AUTH_FAILURE_GROUP, window, rate, ip, ALL)
    if also and settings.RATELIMIT_USE_CACHE == DEFAULT_CACHE_ALIAS:
        found = quietly(lambda: cache.get_many([cache_key, *also]), None)
        count = None if found is None else found.pop(cache_key, 0)
    else:
        count = quietly(lambda: ratelimit_cache.get(cache_key, 0), None)
        found = (quietly(lambda: cache.get_many(also), None) if also else {})
    if count is None:
        return None, found
    return {"count": count, "limit": limit, "time_left": window - int(time.time())}, found


def check_auth_failures(request: Request, also: tuple[str, ...] = ()) -> dict | None:
    """Raise 429 when this client IP has failed authentication too often this minute.
    Returns the default-cache entries named in `also`, read in the same round trip
    (None when the cache failed)."""
    usage, found = _auth_failures_so_far(request, also)
    if usage is not None and usage["count"] >= usage["limit"]:
        raise APIError(
            429,
            "rate_limited",
            "Too many failed authentications from this address; retry after the time in Retry-After.",
            headers={"Retry-After": str(max(1, usage["time_left"]))},
        )
    return found


def record_auth_failure(request: Request) -> None:
    """Count a failed authentication against the client IP."""
    _auth_failure_usage(request, increment=True)


class Slot:
    """One held concurrency slot; `release()` is idempotent. A slot not released
    (its worker died) expires after CONCURRENCY_SLOT_SECONDS."""

    def __init__(self, cache_key: str | None = None, token: str = "") -> None:
        self.cache_key = cache_key
        self.token = token
        self.released = cache_key is None

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        try:
            # Only our own entry: after an expiry someone else may hold this slot.
            _delete_if_holding(self.cache_key, self.token)
        except Exception:  # the slot expires by itself; a release must never fail a response
            log.warning("could not release concurrency slot %s", self.cache_key, exc_info=True)


# Compare and delete in one round trip (Redis runs a script atomically).
_DELETE_IF_HOLDING = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
# The first free slot of KEYS, taken with the SET NX PX django-redis' add() sends, in
# one round trip however many slots are busy; its 1-based index, 0 when all are.
_TAKE_FIRST_FREE = """
for i, key in ipairs(KEYS) do
  if redis.call('set', key, ARGV[1], 'NX', 'PX', ARGV[2]) then return i end
end
return 0
"""
_scripts: dict[tuple[int, str], object] = {}


def _redis(client: object) -> object | None:
    """The redis-py client behind django-redis' default cache, None for other caches."""
    if hasattr(client, "get_client") and hasattr(client, "encode") and hasattr(client, "make_key"):
        return client.get_client(write=True)
    return None


def _script(redis: object, source: str) -> object:
    script = _scripts.get((id(redis), source))
    if script is None:
        script = _scripts[(id(redis), source)] = redis.register_script(source)
    return script


def _delete_if_holding(cache_key: str, token: str) -> None:
    client = getattr(cache, "client", None)
    redis = _redis(client)
    if redis is not None:
        _script(redis, _DELETE_IF_HOLDING)(keys=[client.make_key(cache_key)], args=[client.encode(token)],
                                           client=redis)
    elif cache.get(cache_key) == token:
        cache.delete(cache_key)


# The cache key of a caller's first slot → those of all its slots (django-redis'
# make_key of each, kept: a tier allows up to 20 and the list is needed on every request).
_made_keys: dict[str, list[str]] = {}


def _take_first_free(slot_keys: list[str], token: str) -> str | None:
    """The key of the slot taken, None when all are held. Raises when the cache fails."""
    client = getattr(cache, "client", None)
    redis = _redis(client)
    if redis is not None:
        first = client.make_key(slot_keys[0]) if slot_keys else ""
        made = _made_keys.get(first, [])
        if len(made) != len(slot_keys):
            if len(_made_keys) > 10_000:  # callers come and go; the memo must not grow without bound
                _made_keys.clear()
            made = _made_keys[first] = [client.make_key(key) for key in slot_keys]
        taken = _script(redis, _TAKE_FIRST_FREE)(
            keys=made,
            args=[client.encode(token), int(settings.CONCURRENCY_SLOT_SECONDS * 1000)],
            client=redis,
        )
        return slot_keys[taken - 1] if taken else None
    for key in slot_keys:
        if cache.add(key, token, settings.CONCURRENCY_SLOT_SECONDS):
            return key
    return None


def acquire_slot(request: Request) -> Slot:
    """Take one of the caller's concurrent-request slots, or raise 429
    `concurrency_limited`. Streams hold it until the stream ends."""
    subject = caller_subject(request)
    allowed = limits_for(request).concurrent
    token = uuid.uuid4().hex
    slot_keys = [f"slot:{subject}:{index}" for index in range(allowed)]
    taken = quietly(lambda: _take_first_free(slot_keys, token), False)
    if taken is False:
        return Slot()  # the cache is down: not enforced rather than refusing everyone
    if taken is not None:
        return Slot(taken, token)
    raise APIError(
        429,
        "concurrency_limited",
        f"At most {allowed} concurrent requests on this tier; retry when one finishes.",
        headers={"Retry-After": "1"},
    )


@contextlib.contextmanager
def concurrency_slot(request: Request) -> Iterator[Slot]:
    """Hold a slot for the duration of a relayed request."""
    slot = acquire_slot(request)
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
