"""The embedded default's database: Django's SQLite backend, with this process's
writers taking turns on a lock that waits cooperatively.

SQLite allows one writer at a time; a second one waits for the first in SQLite's busy
handler, a sleep in C. Under gevent (`make run` serves the production worker class on
the embedded default) that sleep stops every greenlet of the worker, the writer it
waits for too whenever that writer's transaction is itself waiting on the network (the
first sight of an account holds its transaction across Flash's user lookup; a Stripe
webhook's handler may call Stripe). Both then wait out the busy timeout: seen as 20 s
freezes, 503s, and the worker killed for a silent heartbeat when a new user's first
requests came together. Taking this process's turn on a `threading` lock first (a
gevent lock once gevent has patched threading) makes the wait one greenlet's: the
writer holding the turn runs on and commits, then the next one goes. Other processes
(the grant worker, roll-ups) still meet SQLite's own busy wait, which in them blocks
only themselves.

PostgreSQL, which production runs, needs none of this: its waits are psycopg's,
which yield to other greenlets.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base

# One writer of this process at a time, whichever connection (thread or greenlet) it uses.
_turn = threading.Lock()


def _writes(query: str) -> bool:
    # Django's reads are SELECTs; under WAL they never wait for a writer.
    return not query.lstrip()[:6].upper().startswith("SELECT")


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_turn = False

    def _take_turn(self) -> None:
        if self._holds_turn:
            return
        # As long as SQLite itself would have waited, then the same error.
        if not _turn.acquire(timeout=float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))):
            raise OperationalError("database is locked (another writer of this process held it too long)")
        self._holds_turn = True

    def _give_turn(self) -> None:
        if self._holds_turn:
            self._holds_turn = False
            _turn.release()

    def _start_transaction_under_autocommit(self) -> None:
        # transaction.atomic(): BEGIN IMMEDIATE takes SQLite's write lock until the commit.
        self._take_turn()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._give_turn()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self._give_turn()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self._give_turn()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            self._give_turn()

    def create_cursor(self, name: str | None = None) -> Any:
        return self.connection.cursor(factory=lambda connection: _Cursor(connection, self))


class _Cursor(base.SQLiteCursorWrapper):
    """A write outside a transaction (autocommit) takes this process's turn for its
    statement; inside one, the transaction holds it already."""

    def __init__(self, connection: Any, wrapper: DatabaseWrapper) -> None:
        super().__init__(connection)
        self.wrapper = wrapper

    def _in_turn(self, query: str, run: Any) -> Any:
        if self.wrapper._holds_turn or not _writes(query):
            return run()
        self.wrapper._take_turn()
        try:
            return run()
        finally:
            self.wrapper._give_turn()

    def execute(self, query: str, params: Any = None) -> Any:
        return self._in_turn(query, lambda: super(_Cursor, self).execute(query, params))

    def executemany(self, query: str, param_list: Any) -> Any:
        return self._in_turn(query, lambda: super(_Cursor, self).executemany(query, param_list))
