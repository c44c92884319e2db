"""The usage writer: usage records leave the request path.

A request's record goes to an in-process queue (`usage_writer.submit`, a list append
under a lock); one background thread (a greenlet under gunicorn's gevent workers)
stores what has queued at least every USAGE_BATCH_INTERVAL seconds (250 ms) with one
COPY per batch (a multi-row INSERT elsewhere than on PostgreSQL), then applies the
low-credit alerts that the balances seen meanwhile call for (`note_balance`: metering
listens to core.signals.balance_seen).

- Exactly once: every record carries a client-made `uid` (unique). A COPY that meets
  a uid already stored fails whole, and the batch is then INSERTed skipping the uids
  already stored (ON CONFLICT DO NOTHING). A batch whose commit failed, or whose
  commit PostgreSQL made but whose answer was lost, is retried whole without a
  duplicate.
- PostgreSQL down: records stay queued and the batch is retried with a backoff (up to
  USAGE_RETRY_MAX_SECONDS). The queue holds at most USAGE_QUEUE_LIMIT records;
  past that new records are dropped, counted (`usage_writer.dropped`) and logged.
- A record the database refuses for itself (say its account was deleted meanwhile)
  does not hold up the others: that batch is stored row by row and the refused row is
  logged and counted in `failures` (with the records `metering.recording` could not make).
- A graceful stop stores what is queued: gunicorn's `worker_exit` hook
  (gunicorn.conf.py) and, for any other process, interpreter exit (atexit) call
  `stop()`. A hard kill (SIGKILL, OOM) loses the records still queued: those of the
  last USAGE_BATCH_INTERVAL, or of the whole outage while PostgreSQL is down. Only
  records: Flash charged the credits when it served the generation.

`flush()` stores everything queued in the calling thread; tests call it before they
read records (they run with BACKGROUND off: the test's own transaction is then the one
that stores them).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections, transaction

from core.db import forget_idle_connections

log = logging.getLogger("metering.writer")


class _FailureCounter:
    """Recording failures since the process started (logged too, each one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def increment(self) -> None:
        with self._lock:
            self.value += 1


failures = _FailureCounter()

# Rows per INSERT statement: one statement, well under PostgreSQL's parameter limit.
BATCH_ROWS = 1000
# False: records wait in the queue until usage_writer.flush() (the in-process tests,
# which store them in their own transaction).
BACKGROUND = True


class UsageWriter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        # One batch at a time, in order, whoever writes it (the thread or a flush()).
        self._writing = threading.Lock()
        self._queue: list[dict[str, Any]] = []
        # (account id, balance) as Flash reported them, in order, for the low-credit alerts.
        self._balances: list[tuple[Any, int]] = []
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopping = False
        self._exit_hook = False
        self.dropped = 0
        self._dropped_logged_at = 0.0

    # --- the request side --------------------------------------------------------------

    def submit(self, row: dict[str, Any]) -> None:
        """Queue one record (UsageRecord field values, `uid` included). Never blocks on
        the database."""
        with self._lock:
            if len(self._queue) >= settings.USAGE_QUEUE_LIMIT:
                self.dropped += 1
                self._log_drop()
                return
            self._queue.append(row)
            # Wake the writer for the first record (it starts its interval then) and
            # for a full batch (which goes at once).
            if len(self._queue) in (1, BATCH_ROWS):
                self._arrived.notify()
        if BACKGROUND:
            self._ensure_running()

    def note_balance(self, account_id: Any, balance: int) -> None:
        """Queue a balance Flash reported for an account: the low-credit alerts are
        applied with the next batch (the request that saw it queues its record too)."""
        with self._lock:
            if len(self._balances) < settings.USAGE_QUEUE_LIMIT:  # alerts are a courtesy
                self._balances.append((account_id, balance))

    def discard(self) -> int:
        """Forget what is queued without storing it (a test starting afresh); returns
        how many records were dropped."""
        with self._writing, self._lock:
            count = len(self._queue)
            self._queue.clear()
            self._balances.clear()
            return count

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def _log_drop(self) -> None:
        now = time.monotonic()
        if self.dropped == 1 or now - self._dropped_logged_at >= 10:
            self._dropped_logged_at = now
            log.error("usage queue full (%s records): records are being dropped, %s so far in this process",
                      settings.USAGE_QUEUE_LIMIT, self.dropped)

    # --- storing -------------------------------------------------------------------------

    def flush(self) -> int:
        """Store everything queued now, in the calling thread. Returns how many records
        were stored (those already stored before are not counted). Raises when the
        database cannot be reached; the records then stay queued."""
        return self._store_queued(everything=True)

    def _store_queued(self, everything: bool) -> int:
        """Store the records queued when called (and, with `everything`, those that
        arrive meanwhile too), in batches of BATCH_ROWS."""
        stored = 0
        with self._writing:
            with self._lock:
                left = len(self._queue)
            while left > 0 or everything:
                with self._lock:
                    batch = self._queue[:BATCH_ROWS if everything else min(left, BATCH_ROWS)]
                if not batch:
                    break
                # Raises when the database cannot be reached: the batch stays at the
                # head of the queue (only this method removes records, under _writing).
                stored += _store(batch)
                with self._lock:
                    del self._queue[:len(batch)]
                left -= len(batch)
            with self._lock:
                balances = self._balances[:]
            if balances:
                _apply_alerts(balances)  # raises like _store: the balances stay queued
                with self._lock:
                    del self._balances[:len(balances)]
        return stored

    def _run(self) -> None:
        backoff = 0.0
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._arrived.wait()
                if self._stopping:
                    return
            # Let the batch fill for one interval (a full batch goes at once).
            deadline = time.monotonic() + max(backoff, settings.USAGE_BATCH_INTERVAL)
            with self._lock:
                while not self._stopping and len(self._queue) < BATCH_ROWS:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._arrived.wait(left)
                if self._stopping:
                    return
            try:
                # What arrived during the interval: records that come while it is being
                # stored make the next batch, not a string of tiny ones.
                self._store_queued(everything=False)
                backoff = 0.0
            except (OperationalError, InterfaceError) as exc:
                # The pool's other idle connections are likely as dead as this one.
                forget_idle_connections()
                backoff = min(settings.USAGE_RETRY_MAX_SECONDS, max(1.0, backoff * 2))
                log.warning("usage records not stored (%s): %s queued, retrying in %.0f s",
                            exc.__class__.__name__, self.pending(), backoff)
            except Exception:
                backoff = min(settings.USAGE_RETRY_MAX_SECONDS, max(1.0, backoff * 2))
                log.exception("usage writer failed; %s records queued", self.pending())
            finally:
                # Hand the connection back (to the pool) between batches.
                connections[DEFAULT_DB_ALIAS].close_if_unusable_or_obsolete()

    def _ensure_running(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            # A forked child inherits no running thread: start its own.
            self._pid = os.getpid()
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
            self._thread.start()
            if not self._exit_hook:
                self._exit_hook = True
                atexit.register(self.stop)

    def stop(self) -> None:
        """Stop the background thread and store what is queued (graceful shutdown)."""
        with self._lock:
            self._stopping = True
            self._arrived.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._lock:
            idle = not self._queue and not self._balances
        if idle:
            return
        try:
            stored = self.flush()
            log.info("usage writer stopped: %s records stored", stored)
        except Exception:
            log.exception("usage writer stopped: %s records could not be stored", self.pending())


# A row refused: by the database (a foreign key, a uid stored twice), or by the driver
# before it could be sent (a value with no form PostgreSQL takes: UnicodeEncodeError,
# a ValueError; an object it cannot adapt, a TypeError). Either is that row's, not the
# batch's: left unsorted it would stay at the head of the queue, every later record
# waiting behind it.
_REFUSED = (DatabaseError, ValueError, TypeError)


def _copy(batch: list[dict[str, Any]]) -> bool:
    """PostgreSQL: the batch in one COPY, in its own transaction; False, with nothing
    stored, when the database refuses a row (a uid already stored by a batch retried
    after a lost answer, an account deleted meanwhile), for _store's INSERT to sort out.
    Building a model instance per record for the INSERT was four fifths of the writer's
    CPU, which it takes from the requests of its process."""
    from .models import UsageRecord

    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        return False
    fields = [field for field in UsageRecord._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    try:
        with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
            table = connection.ops.quote_name(UsageRecord._meta.db_table)
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row([row[field.attname] if field.attname in row else field.get_default()
                                    for field in fields])
    except (OperationalError, InterfaceError):
        raise
    except _REFUSED:  # foreign keys are checked at the commit: a refusal comes here too
        return False
    return True


def _store(batch: list[dict[str, Any]]) -> int:
    """The batch in one COPY (PostgreSQL), else one multi-row INSERT that skips uids
    already stored. Connection failures propagate (the batch is retried); a batch the
    database (or the driver) refuses for some row is stored row by row instead."""
    from .models import UsageRecord

    if _copy(batch):
        return len(batch)
    records = [UsageRecord(**row) for row in batch]
    try:
        with transaction.atomic():
            UsageRecord.objects.bulk_create(records, batch_size=BATCH_ROWS, ignore_conflicts=True)
        stored = len(records)
    except (OperationalError, InterfaceError):
        raise
    except _REFUSED:
        stored = 0
        for record in records:
            try:
                with transaction.atomic():
                    UsageRecord.objects.bulk_create([record], ignore_conflicts=True)
                stored += 1
            except (OperationalError, InterfaceError):
                raise
            except _REFUSED:
                failures.increment()
                log.exception("usage record %s refused by the database; dropped", record.request_id or record.uid)
    return stored


def _apply_alerts(balances: list[tuple[Any, int]]) -> None:
    """What metering.alerts.alert_if_low does for each balance seen, in order, per
    account; an account whose balances are all at or above the threshold (the common
    case) only has its alert row cleared, one DELETE for all of them."""
    from .alerts import alert_if_low, at_or_above_threshold, clear_alerts

    seen: dict[Any, list[int]] = {}
    for account_id, balance in balances:
        seen.setdefault(account_id, []).append(balance)
    only_clearing = [account for account, its in seen.items() if all(map(at_or_above_threshold, its))]
    clear_alerts(only_clearing)
    crossing = [account for account in seen if account not in set(only_clearing)]
    if crossing:
        from accounts.models import Account

        accounts = Account.objects.in_bulk(crossing)
        for account_id in crossing:
            if account_id in accounts:
                for balance in seen[account_id]:
                    alert_if_low(accounts[account_id], balance)


usage_writer = UsageWriter()


def balance_reported(sender: object, account: Any, balance: object, **kwargs: object) -> None:
    """Receives core.signals.balance_seen on the request path: only queued here, the
    alerts are applied with the next batch."""
    if isinstance(balance, int) and not isinstance(balance, bool):
        usage_writer.note_balance(account.pk, balance)
