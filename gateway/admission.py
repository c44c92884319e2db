"""The one round trip before the view (CONTRACT.md §5): every limit a request is
subject to, decided at once for the caller the authentication found.

`admit` runs when the caller is known (by the authentication, or by the throttle for
anonymous callers): in one Lua script (limits/lua/admit.lua) it checks the client IP's
failed authentications, reads the API key's cached record (key callers), counts the
request in the caller's one-minute window when the view has the tier throttle, and
takes a concurrency slot when the view holds one while it works (`holds_concurrency_slot`,
every relayed call). Its answer stays in the request's context: the throttle turns
`limited` into 429 after the permission checks, `hold_slot` turns `busy` into 429
and hands the view its slot, and the headers middleware releases that slot when the
server closes the response (one more round trip).
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rest_framework.request import Request

from core.cache import quietly
from core.catalog import Tier, TierLimits, has_hd, limits_for
from core.context import client_ip, context
from limits import failures, slots
from limits.counters import WINDOW_MS, Ask, Verdict, counters
from limits.slots import Slot


@dataclass
class Admission:
    """What the round trip before the view decided for this request."""

    verdict: str  # see limits/lua/admit.lua; "unavailable" when the cache failed
    record: Any = None  # the API key's cached record, when one was read
    usage: dict | None = None  # {"count", "limit", "time_left"} when counted
    slot: Slot | None = None  # taken for the view; released before the answer is sent (gateway.middleware)
    wanted_slot: bool = False


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


def _needs(request: Request) -> tuple[bool, bool]:
    """Whether the view this request goes to counts it per minute (one of its throttles
    `counts_requests`: the tier throttle) and holds a concurrency slot while it works
    (relayed calls)."""
    view = (getattr(request, "parser_context", None) or {}).get("view")
    if view is None:
        return False, False
    counted = any(getattr(cls, "counts_requests", False) for cls in view.throttle_classes)
    return counted, bool(getattr(view, "holds_concurrency_slot", False))


def admit(request: Request, subject: str, tier: str | None = None, *, key_hash: str = "",
          check_failures: bool = True) -> Admission:
    """Run the one round trip before the view for this caller (`subject`, with the
    limits of `tier`, or of the API key `key_hash`'s cached record) and keep its answer
    in the request's context for the throttle and the view. Raises 429 when the client
    IP failed authentication too often this minute. Fails open when the cache does."""
    counted, wants_slot = _needs(request)
    limits = limits_for(tier)
    token = uuid.uuid4().hex
    ask = Ask(
        ip=client_ip(request),
        subject=subject,
        failures_allowed=failures.allowed() if check_failures else -1,
        rpm=("key" if key_hash else limits.requests_per_minute) if counted else -1,
        concurrent=("key" if key_hash else limits.concurrent) if wants_slot else -1,
        key_hash=key_hash,
        token=token,
        window_ms=WINDOW_MS,
        slot_ms=slots.lifetime_ms(),
    )
    verdict: Verdict | None = quietly(lambda: counters().admit(ask), None)
    if verdict is None:
        admission = Admission("unavailable", wanted_slot=wants_slot)
    else:
        if verdict.verdict == "blocked":
            raise failures.too_many(verdict.ms_left)
        admission = Admission(verdict.verdict, record=verdict.record, wanted_slot=wants_slot)
        if counted and verdict.verdict in ("ok", "limited", "busy"):
            admission.usage = {"count": verdict.count, "limit": verdict.allowed,
                               "time_left": max(1, math.ceil(verdict.ms_left / 1000))}
        if wants_slot and verdict.verdict == "ok":
            admission.slot = Slot(subject, token)
    context(request).admission = admission
    return admission


def acquire_slot(request: Request) -> Slot:
    """Take one of the caller's concurrent-request slots now, or raise 429
    `concurrency_limited` (for a view whose admission took none). Streams hold it
    until the stream ends."""
    return slots.take(caller_subject(request), client_ip(request), caller_limits(request).concurrent)


def hold_slot(request: Request) -> Slot:
    """The concurrency slot this request's admission took (429 when every slot was
    held), or one taken now when its admission took none. The admission's slot is
    released when the response closes (gateway.middleware); `release()` earlier is
    harmless."""
    admission = context(request).admission
    if admission is None or not admission.wanted_slot:
        return acquire_slot(request)
    if admission.verdict == "busy":
        raise slots.busy(caller_limits(request).concurrent)
    return admission.slot or Slot()


@contextlib.contextmanager
def concurrency_slot(request: Request) -> Iterator[Slot]:
    """Hold a slot for the duration of a relayed request."""
    slot = hold_slot(request)
    try:
        yield slot
    finally:
        slot.release()
