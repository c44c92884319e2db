"""core.coalesce.SharedCalls: callers asking the same question at the same moment share
one call; nothing is kept after it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.coalesce import SharedCalls
from tests.relay.test_many_streams import wait_for


class Gated:
    """A call that counts itself and blocks until its gate opens."""

    def __init__(self, answer: object = 42) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.calls = 0
        self.answer = answer

    def __call__(self) -> object:
        self.calls += 1
        self.started.set()
        assert self.gate.wait(timeout=10), "the test never opened the gate"
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def start_callers(shared: SharedCalls, fn: Gated, count: int, key: str = "u1") -> list:
    """`count` callers for `key`: the first leads, the rest are waiting for it on return."""
    pool = ThreadPoolExecutor(count)
    first = pool.submit(shared.call, key, fn)
    assert fn.started.wait(timeout=10)
    rest = [pool.submit(shared.call, key, fn) for _ in range(count - 1)]
    wait_for(lambda: shared.waiting(key) == count - 1, "the other callers to wait")
    pool.shutdown(wait=False)
    return [first, *rest]


def test_it_makes_one_call_for_callers_asking_at_the_same_moment():
    shared, fn = SharedCalls(), Gated(answer=145)
    futures = start_callers(shared, fn, 8)
    fn.gate.set()
    assert [f.result(timeout=10) for f in futures] == [145] * 8
    assert fn.calls == 1


def test_it_keeps_nothing_once_the_call_ends():
    shared, fn = SharedCalls(), Gated(answer=7)
    fn.gate.set()
    assert shared.call("u1", fn) == 7
    fn.answer = 6
    assert shared.call("u1", fn) == 6
    assert fn.calls == 2
    assert shared.waiting("u1") == 0


def test_it_gives_every_waiting_caller_the_calls_error():
    shared, fn = SharedCalls(), Gated(answer=ConnectionError("Flash is down"))
    futures = start_callers(shared, fn, 4)
    fn.gate.set()
    for future in futures:
        with pytest.raises(ConnectionError, match="Flash is down"):
            future.result(timeout=10)
    assert fn.calls == 1


def test_it_does_not_share_between_keys():
    shared, fn = SharedCalls(), Gated()
    futures = start_callers(shared, fn, 2, key="u1")
    other = Gated(answer=1)
    other.gate.set()
    assert shared.call("u2", other) == 1  # answered while u1's call still runs
    fn.gate.set()
    assert [f.result(timeout=10) for f in futures] == [42, 42]


def test_a_waiting_caller_asks_again_when_the_leader_is_cancelled():
    """A leader stopped by something other than an error (its greenlet killed when its
    client went away) has no answer to share: the others call again."""
    shared = SharedCalls()
    cancelled, answered = Gated(answer=KeyboardInterrupt()), Gated(answer=99)
    answered.gate.set()
    pool = ThreadPoolExecutor(2)
    leader = pool.submit(shared.call, "u1", cancelled)
    assert cancelled.started.wait(timeout=10)
    follower = pool.submit(shared.call, "u1", answered)
    wait_for(lambda: shared.waiting("u1") == 1, "the follower to wait")
    cancelled.gate.set()
    with pytest.raises(KeyboardInterrupt):
        leader.result(timeout=10)
    assert follower.result(timeout=10) == 99
    assert answered.calls == 1
    pool.shutdown()
