"""A slot's release on Redis (limits.counters.RedisCounters.release): sent without waiting
for a reply where Redis honours CLIENT REPLY SKIP, and never leaving an answer on a pooled
connection for the next caller where it does not (an ACL or a proxy refusing CLIENT)."""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django_redis.cache import RedisCache

from limits.counters import RedisCounters, slots_key

REDIS_URL = os.environ.get("REDIS_URL", "")
pytestmark = pytest.mark.skipif(not REDIS_URL.startswith("redis://"), reason="needs REDIS_URL=redis://…")


def _counters(url: str) -> tuple[RedisCounters, RedisCache]:
    cache = RedisCache(url, {"OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"}})
    return RedisCounters(cache), cache


def _hold(cache: RedisCache, subject: str, token: str) -> str:
    key = cache.make_key(slots_key(subject))
    redis.Redis.from_url(REDIS_URL).zadd(key, {token: 10**12})
    return key


def _held(key: str, token: str) -> bool:
    return redis.Redis.from_url(REDIS_URL).zscore(key, token) is not None


@pytest.fixture
def refusing_client_url():
    """A Redis user that may run everything but CLIENT, as a managed Redis may set it up."""
    admin = redis.Redis.from_url(REDIS_URL)
    user, password = f"tpb_noclient_{secrets.token_hex(4)}", secrets.token_hex(8)
    admin.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"], channels=["*"],
                      commands=["+@all", "-client"])
    parts = urlsplit(REDIS_URL)
    yield urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port or 6379}"))
    admin.acl_deluser(user)


def test_it_releases_the_slot_and_leaves_nothing_to_read_where_redis_skips_replies():
    counters, cache = _counters(REDIS_URL)
    for round_ in range(3):  # the first release asks whether replies are skipped, the others rely on it
        key = _hold(cache, f"key:skip{round_}", "t")
        counters.release(f"key:skip{round_}", "t")
        assert counters._call("PING") in (b"PONG", "PONG")
        assert not _held(key, "t")


def test_it_releases_the_slot_and_leaves_nothing_to_read_where_redis_refuses_client(refusing_client_url):
    counters, cache = _counters(refusing_client_url)
    assert counters._call("PING") in (b"PONG", "PONG")
    for round_ in range(3):
        key = _hold(cache, f"key:refused{round_}", "t")
        counters.release(f"key:refused{round_}", "t")
        # The pool's one connection answers the next command with its own answer, not the
        # CLIENT refusal or the ZREM's count left behind by the release.
        assert counters._call("PING") in (b"PONG", "PONG")
        assert counters._call("ZSCORE", key, "t") is None
        assert not _held(key, "t")
