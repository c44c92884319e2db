"""PostgreSQL connections come from a pool per process (settings.DATABASES "pool"):
these two helpers keep that pool small and healthy under a thousand greenlets.

- `release_connection()`: a request hands its connection back before it waits on
  anything else (an upstream call, a stream), so connections are held only while
  queries run, never for the length of a generation.
- `forget_idle_connections()`: after PostgreSQL failed a request (a restart, a
  failover), the idle connections in the pool are as dead as the one that failed;
  dropping them at once (no network round trip) means the next request gets a fresh
  one instead of failing too, without a health check on every checkout.
"""

from __future__ import annotations

import logging

from django.db import DEFAULT_DB_ALIAS, connections

log = logging.getLogger("core.db")


def _pool(alias: str) -> object | None:
    # Only PostgreSQL with the pool configured has one; SQLite has no such attribute.
    return getattr(connections[alias], "pool", None)


def release_connection(alias: str = DEFAULT_DB_ALIAS) -> None:
    """Give this thread's (greenlet's) pooled connection back, unless a transaction is
    open on it. Without a pool this does nothing: closing would only mean reconnecting."""
    connection = connections[alias]
    if connection.connection is None or connection.in_atomic_block or _pool(alias) is None:
        return
    connection.close()


def forget_idle_connections(alias: str = DEFAULT_DB_ALIAS) -> None:
    """Drop the pool's idle connections; the pool opens new ones in the background."""
    pool = _pool(alias)
    if pool is None:
        return
    try:
        pool.drain()
    except Exception:  # a pool that cannot even drain will fail the next request itself
        log.warning("could not drain the database pool", exc_info=True)
