"""Concurrency slots (CONTRACT.md §5): how many requests of one subject (a key, an
account, a client IP) run at once.

A subject's slots are one sorted set `{limits}:slots:<subject>` of random tokens
scored by their expiry: taking one drops the expired tokens first (a dead worker's
slot comes back by itself) and adds one when fewer than allowed are held. A slot is
usually taken by the admission before the view (gateway/admission.py), in the same
round trip as every other limit; `take` is for a view whose admission took none.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.http import HttpResponseBase

from core.cache import quietly
from core.errors import APIError

from .counters import Ask, counters

log = logging.getLogger("limits.slots")


# A slot outlives the longest request (a generation) by this much: a worker that died
# holding it gives it back this long after the generation would have ended.
MARGIN_SECONDS = 30


def lifetime_ms() -> int:
    """How long a slot not released (its worker died) is held."""
    return (int(settings.GENERATION_TIMEOUT) + MARGIN_SECONDS) * 1000


class Slot:
    """One held concurrency slot; `release()` is idempotent. A slot not released
    expires after `lifetime_ms()`. A slot of no subject holds nothing (the cache was
    down: not enforced)."""

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


def busy(allowed: int) -> APIError:
    return APIError(
        429,
        "concurrency_limited",
        f"At most {allowed} concurrent requests on this tier; retry when one finishes.",
        headers={"Retry-After": "1"},
    )


def take(subject: str, ip: str, allowed: int) -> Slot:
    """One of the subject's `allowed` slots now, or 429 `concurrency_limited`; with
    the cache down, a slot that holds nothing rather than refusing everyone."""
    token = uuid.uuid4().hex
    ask = Ask(ip=ip, subject=subject, concurrent=allowed, token=token, slot_ms=lifetime_ms())
    verdict = quietly(lambda: counters().admit(ask), None)
    if verdict is None:
        return Slot()
    if verdict.verdict == "busy":
        raise busy(allowed)
    return Slot(subject, token)


def release_when_closed(response: HttpResponseBase, slot: Slot) -> HttpResponseBase:
    """Hold the slot until the server closes the response: after the last byte of a
    stream, or when the client disconnects (WSGI servers close the iterable then),
    even if the stream never started. Once per slot: a view that holds the slot its
    admission took and the headers middleware both ask for it."""
    if slot.release not in response._resource_closers:
        response._resource_closers.append(slot.release)
    return response
