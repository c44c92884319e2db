"""The shared cache (Redis) may be down; the gateway keeps serving without it.

Every cache operation whose failure must not fail a request goes through `quietly`:
limits are then not enforced (fail-open, see docs/resilience.md), keys are checked
against the database, Auth0 keys come from this process's own copy. The outage is
logged once when it starts and once when it ends, not on every request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger("core.cache")
T = TypeVar("T")

_state = {"down": False}
_lock = threading.Lock()


def quietly(operation: Callable[[], T], default: T) -> T:
    """The result of a cache operation, or `default` when the cache cannot answer."""
    try:
        result = operation()
    except Exception as exc:
        with _lock:
            first, _state["down"] = not _state["down"], True
        if first:
            log.warning("cache unavailable (%s): serving without it; rate, concurrency and auth-failure limits "
                        "are not enforced until it answers again", exc.__class__.__name__)
        else:
            log.debug("cache still unavailable: %s", exc.__class__.__name__)
        return default
    if _state["down"]:
        with _lock:
            recovered, _state["down"] = _state["down"], False
        if recovered:
            log.warning("cache available again: limits are enforced")
    return result
