"""The limit scripts of a gevent worker's requests, sent to Redis together: one write
and one read carry the commands of every request that reached Redis while the previous
exchange was under way (or in the same pass of gevent's loop); each request still
waits for its own reply.

Why: on these machines the socket write that wakes Redis costs more CPU than the
command it carries, and a relayed read makes two round trips (admission, slot release;
CONTRACT.md §5's shared limits). Under load a worker's requests reach Redis together,
so the busier it is, the more each write carries (docs/performance.md). Nothing is
answered before its reply is read: a slot's release is still done when the client gets
its answer, which a release sent without awaiting its reply was not.

Only under gevent's monkey-patching (gunicorn.conf.py): a thread of a gthread worker,
a test or a management command calls Redis directly, as before.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import ResponseError


def under_gevent() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is in requirements.txt
        return False
    return bool(monkey.is_module_patched("socket"))


class Batcher:
    """The commands of one process for one connection pool, one exchange at a time.

    A caller queues its command and waits; a sender greenlet of the batcher's own
    (never a caller's, which may be gone by the time it is needed) takes everything
    queued, sends it as one pipeline on a pooled connection, hands each caller its
    reply or its error, and goes on while commands are queued."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.waiting: list[tuple[tuple[Any, ...], Any]] = []
        self.sender: Any = None
        self.exchanges = 0  # pipelines sent, for tests and benches

    def call(self, *command: Any) -> Any:
        """Send one command with the others waiting and return its reply; raise its
        error reply, or the exchange's failure (a connection error, a timeout)."""
        from gevent import spawn
        from gevent.event import AsyncResult

        result = AsyncResult()
        self.waiting.append((command, result))
        # A sender that has not started yet will find this command; one that has
        # ended (or was killed) is replaced.
        if self.sender is None or self.sender.dead:
            self.sender = spawn(self._send_waiting)
        return result.get()

    def _send_waiting(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, []
            try:
                replies = self._exchange([command for command, _ in batch])
            except BaseException as error:
                for _, result in batch:
                    result.set_exception(error)
                if not isinstance(error, Exception):  # killed (the worker's exit): no caller waits forever
                    for _, result in self.waiting:
                        result.set_exception(error)
                    self.waiting = []
                    raise
                continue
            for (_, result), reply in zip(batch, replies, strict=True):
                if isinstance(reply, ResponseError):
                    result.set_exception(reply)
                else:
                    result.set(reply)

    def _exchange(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """One write, then every reply, on a pooled connection; retried on a broken
        connection as redis-py retries a pipeline. A command's error reply is returned
        in its place: the connection is fine and the others' replies follow it."""
        self.exchanges += 1
        connection = self.pool.get_connection()

        def send_and_read() -> list[Any]:
            connection.send_packed_command(connection.pack_commands(commands))
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(connection.read_response())
                except ResponseError as error:
                    replies.append(error)
            return replies

        try:
            return connection.retry.call_with_retry(send_and_read, lambda _error: connection.disconnect())
        finally:
            self.pool.release(connection)
