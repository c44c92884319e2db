"""Redis down: the gateway keeps serving, fails open on limits (rate, concurrency,
auth failures: not enforced while the cache is gone), says so in the log, and
enforces them again as soon as Redis is back. See docs/resilience.md for why open."""

from __future__ import annotations

import logging

from django.core.cache import caches
from django.test import Client

from .conftest import free_port, redis_cache

FREE_PER_MINUTE = 10


def calls(client: Client, n: int, path: str = "/api/v1/credits/balance") -> list[int]:
    return [client.get(path).status_code for _ in range(n)]


def assert_limited(statuses: list[int]) -> None:
    """The limit held: never before the limit is reached, and within twice the limit
    plus one (windows are fixed minutes: a boundary may fall inside the burst)."""
    assert statuses[:FREE_PER_MINUTE] == [200] * FREE_PER_MINUTE
    assert 429 in statuses


def test_everything_keeps_working_without_redis(settings, as_alice, alice, flash, clockchain, caplog):
    caplog.set_level(logging.WARNING)
    assert calls(as_alice, 1) == [200]  # served with the cache up…
    settings.CACHES = redis_cache(free_port())  # …then nothing listens there
    assert calls(as_alice, FREE_PER_MINUTE + 3) == [200] * (FREE_PER_MINUTE + 3)  # limits not enforced
    generated = as_alice.post("/api/v1/generate", {"query": "rome"}, content_type="application/json")
    assert generated.status_code == 200
    assert Client().get("/api/v1/today").status_code == 200
    assert Client().get("/health/ready").status_code == 503  # the operator's probe does see it
    warnings = [r for r in caplog.records if "cache unavailable" in r.getMessage()]
    assert warnings, "the outage should be logged"
    assert len(warnings) == 1, "one clear line per outage, not one per request"
    caches["default"].close()


def test_limits_fail_open_while_redis_is_gone_and_come_back_with_it(settings, throwaway_redis, as_alice, alice,
                                                                   flash, caplog):
    caplog.set_level(logging.WARNING)
    settings.CACHES = redis_cache(throwaway_redis.port)
    assert_limited(calls(as_alice, 2 * FREE_PER_MINUTE + 1))

    caplog.clear()
    throwaway_redis.kill()
    assert calls(as_alice, 3) == [200] * 3

    throwaway_redis.start()  # a restarted Redis, empty: counting starts again
    assert_limited(calls(as_alice, 2 * FREE_PER_MINUTE + 1))
    assert [r.getMessage().split(":")[0] for r in caplog.records if r.name == "core.cache"] == [
        "cache unavailable (ConnectionError)", "cache available again"]
    caches["default"].close()
