"""Running the same call from many threads at once, for tests of what concurrency must not break."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connections

T = TypeVar("T")


def together(n: int, fn: Callable[[], T]) -> list[T | None]:
    """`fn`'s results from `n` threads released at the same instant (None where one did not
    finish); each thread closes its database connections, as a request's would."""
    gate, results = threading.Barrier(n), [None] * n

    def run(i: int) -> None:
        try:
            gate.wait(5)
            results[i] = fn()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results
