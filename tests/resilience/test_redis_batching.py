"""The limit scripts of a gevent worker's requests go to Redis together
(limits/batching.py): one write for all that wait, each request its own reply or its own
error, and the batcher goes on after Redis went away.

Greenlets in this process, without monkey-patching: the exchange blocks the thread while
it runs, but which commands wait together, and what each caller gets, is the same."""

from __future__ import annotations

import gevent
import pytest
from django.core.cache import caches
from redis import BlockingConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from limits.batching import Batcher
from limits.counters import Ask, RedisCounters
from tests.resilience.conftest import redis_cache


@pytest.fixture
def batcher(throwaway_redis):
    pool = BlockingConnectionPool.from_url(f"redis://127.0.0.1:{throwaway_redis.port}/0", max_connections=4,
                                           timeout=1, socket_timeout=1, socket_connect_timeout=0.2)
    yield Batcher(pool)
    pool.disconnect()


def test_it_sends_the_commands_of_requests_waiting_together_in_one_write(batcher):
    callers = [gevent.spawn(batcher.call, "INCRBY", f"count:{n}", n) for n in range(1, 9)]
    gevent.joinall(callers, raise_error=True)

    assert [caller.value for caller in callers] == list(range(1, 9))
    assert batcher.exchanges == 1


def test_a_command_sent_alone_is_answered_alone(batcher):
    assert batcher.call("SET", "alone", "yes") in (b"OK", "OK")
    assert batcher.call("GET", "alone") == b"yes"
    assert batcher.exchanges == 2


def test_an_error_reply_goes_to_its_own_caller_only(batcher):
    batcher.call("HSET", "a-hash", "field", "1")
    wrong = gevent.spawn(batcher.call, "INCR", "a-hash")
    right = gevent.spawn(batcher.call, "INCR", "a-number")
    gevent.joinall([wrong, right])

    assert isinstance(wrong.exception, ResponseError)
    assert "WRONGTYPE" in str(wrong.exception)
    assert right.value == 1


def test_every_caller_gets_the_failure_and_the_batcher_goes_on_once_redis_is_back(batcher, throwaway_redis):
    batcher.call("SET", "before", "1")
    throwaway_redis.kill()
    callers = [gevent.spawn(batcher.call, "INCR", f"during:{n}") for n in range(4)]
    gevent.joinall(callers)

    assert all(isinstance(caller.exception, RedisConnectionError) for caller in callers)

    throwaway_redis.start()
    again = [gevent.spawn(batcher.call, "INCR", f"after:{n}") for n in range(4)]
    gevent.joinall(again, raise_error=True)
    assert [caller.value for caller in again] == [1, 1, 1, 1]


def test_a_script_redis_has_not_seen_is_loaded_through_the_batcher(batcher, throwaway_redis, settings):
    settings.CACHES = redis_cache(throwaway_redis.port)
    cache = caches.create_connection("default")
    limits = RedisCounters(cache, Batcher(cache.client.get_client(write=True).connection_pool))
    batcher.call("SCRIPT", "FLUSH")

    ask = Ask(ip="198.51.100.7", subject="user:batched", rpm=5, concurrent=1, token="t1", slot_ms=60_000)
    callers = [gevent.spawn(limits.admit, ask), gevent.spawn(limits.admit, Ask(**{**ask.__dict__, "token": "t2"}))]
    gevent.joinall(callers, raise_error=True)

    assert sorted(caller.value.verdict for caller in callers) == ["busy", "ok"]
    assert [caller.value.count for caller in callers] == [1, 2]
    limits.release("user:batched", "t1")
    assert limits.admit(Ask(**{**ask.__dict__, "token": "t3"})).verdict == "ok"
