"""Concurrent callers asking the same question share one answer.

A burst of a customer's generations (twenty of a key's streams opened at once, a
thousand on an instance) would otherwise ask Flash for the same balance once per stream,
each on its own upstream connection. Under gevent the threading primitives below are
cooperative (monkey-patched); under threads they are what they say."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Call(Generic[T]):
    __slots__ = ("done", "result", "error", "finished", "waiting")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None
        self.error: Exception | None = None
        self.finished = False
        self.waiting = 0


class SharedCalls(Generic[T]):
    """`call(key, fn)` runs `fn()` unless a call for the same key is already running in
    this process, in which case it waits for that one and returns its result (or raises
    its error). Nothing is kept once a call ends: the next caller runs `fn()` again, so an
    answer is never older than the call it came from (at most one round trip)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Hashable, _Call[T]] = {}

    def call(self, key: Hashable, fn: Callable[[], T]) -> T:
        while True:
            with self._lock:
                running = self._running.get(key)
                leader = running is None
                if leader:
                    running = self._running[key] = _Call()
                else:
                    running.waiting += 1
            if leader:
                return self._lead(key, running, fn)
            running.done.wait()
            if running.error is not None:
                raise running.error
            if running.finished:
                return running.result  # type: ignore[return-value]
            # The leader was cancelled (its client went away, the worker is stopping):
            # not an answer for anyone else, so ask again.

    def waiting(self, key: Hashable) -> int:
        """How many callers wait for the running call for `key` (0 when none runs)."""
        with self._lock:
            running = self._running.get(key)
            return running.waiting if running is not None else 0

    def _lead(self, key: Hashable, running: _Call[T], fn: Callable[[], T]) -> T:
        try:
            running.result = fn()
            running.finished = True
            return running.result
        except Exception as exc:
            running.error = exc
            raise
        finally:
            with self._lock:
                del self._running[key]
            running.done.set()
