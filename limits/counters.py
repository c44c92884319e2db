"""Where limits are counted and API-key records cached: in the shared Redis, one Lua
script per decision (limits/lua/), or, on the embedded default's local-memory cache,
the same decisions made in this process under a lock.

Every key shares the hash tag `{limits}`, so each script's keys sit in one hash slot
and the scripts run on a Redis Cluster too (all limit state is then on one node: a
few small keys per caller, far below what one node serves).

Redis errors propagate: callers wrap these in `core.cache.quietly` and
fail open (docs/resilience.md).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.exceptions import NoScriptError

from limits.batching import Batcher, under_gevent

log = logging.getLogger("limits.counters")
TAG = "{limits}"
# The length of every counting window: requests per minute, failed authentications.
WINDOW_MS = 60_000
REVOKED = "revoked"
_LUA = Path(__file__).resolve().parent / "lua"
_SCRIPTS = ("admit", "fail", "cache_key", "reserve", "settle", "take_balance", "give_balance")
_SOURCES = {name: (_LUA / f"{name}.lua").read_text() for name in _SCRIPTS}
_SHAS = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in _SOURCES.items()}  # noqa: S324 - Redis names scripts so


def authfail_key(ip: str) -> str:
    return f"{TAG}:authfail:{ip}"


def record_key(key_hash: str) -> str:
    return f"{TAG}:key:{key_hash}"


def rpm_key(subject: str) -> str:
    return f"{TAG}:rpm:{subject}"


def slots_key(subject: str) -> str:
    return f"{TAG}:slots:{subject}"


def spent_key(budget: str) -> str:
    """`budget`: whose month, e.g. `<roll chain id>:202611`."""
    return f"{TAG}:spent:{budget}"


def held_key(budget: str) -> str:
    return f"{TAG}:held:{budget}"


def balance_key(user: str) -> str:
    """Billing's copy of a Flash user's balance, for generations' pre-checks."""
    return f"{TAG}:balance:{user}"


@dataclass(frozen=True)
class Reserved:
    """What reserve.lua answered: `verdict` ok, exceeded or unknown; the month's
    credits spent and those held by reservations (this one included when ok)."""

    verdict: str
    spent: int
    held: int


@dataclass(frozen=True)
class Verdict:
    """What admit.lua answered (see the script for the verdicts)."""

    verdict: str
    record: Any  # the API key's cached record when one was read
    count: int  # requests (or, when blocked, failed authentications) this window
    ms_left: int  # until the window ends
    allowed: int  # requests allowed this window


@dataclass(frozen=True)
class Ask:
    """One admission question: whose limits, and which of them."""

    ip: str
    subject: str
    failures_allowed: int = -1  # -1: not checked
    rpm: int | str = -1  # "key": the key record's; -1: not counted
    concurrent: int | str = -1  # "key": the key record's; -1: no slot wanted
    key_hash: str = ""  # read this API key's record
    token: str = ""
    window_ms: int = WINDOW_MS
    slot_ms: int = 0


class RedisCounters:
    """The scripts on the django-redis cache's own connection pool."""

    def __init__(self, cache: Any, batcher: Batcher | None = None) -> None:
        self.cache = cache
        self.batcher = batcher

    def _redis(self) -> Any:
        return self.cache.client.get_client(write=True)

    def _call(self, *command: Any) -> Any:
        """One command on a pooled connection, its reply read, retried on a broken
        connection as redis-py does; without the client's layers around it (command
        wrappers, response callbacks, metrics), which cost as much as the round trip.
        Under gevent, in one write with other requests' commands (limits/batching.py)."""
        if self.batcher is not None:
            return self.batcher.call(*command)
        pool = self._redis().connection_pool
        connection = pool.get_connection()

        def send_and_read() -> Any:
            connection.send_command(*command)
            return connection.read_response()

        try:
            return connection.retry.call_with_retry(send_and_read, lambda _error: connection.disconnect())
        finally:
            pool.release(connection)

    def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        keys = [self.cache.make_key(k) for k in keys]
        try:
            return self._call("EVALSHA", _SHAS[name], len(keys), *keys, *args)
        except NoScriptError:  # a Redis that has not seen it yet (restarted, flushed): EVAL loads it
            return self._call("EVAL", _SOURCES[name], len(keys), *keys, *args)

    def admit(self, ask: Ask) -> Verdict:
        verdict, record, count, left, allowed = self._run(
            "admit",
            [authfail_key(ask.ip), record_key(ask.key_hash or "-"), rpm_key(ask.subject), slots_key(ask.subject)],
            [ask.failures_allowed, ask.rpm, ask.concurrent, ask.window_ms, ask.token, ask.slot_ms,
             "1" if ask.key_hash else "0"],
        )
        return Verdict(verdict.decode(), pickle.loads(record) if record else None, count, left, allowed)  # noqa: S301

    def fail(self, ip: str, window_ms: int) -> tuple[int, int]:
        count, left = self._run("fail", [authfail_key(ip)], [window_ms])
        return count, left

    def release(self, subject: str, token: str) -> None:
        """The ZREM, its reply awaited: when this returns, Redis has removed the slot, so
        the answer that follows it reaches the client only after any worker can take the
        slot again. (Sent behind `CLIENT REPLY SKIP` without awaiting a reply, it saved
        a wait on every request, but Redis sometimes ran a sequential client's next
        admission on another worker's connection first: a free-tier key was refused 429
        for its own finished request in about 1 % of requests under load; see
        docs/performance.md.)"""
        self._call("ZREM", self.cache.make_key(slots_key(subject)), token)

    def read_record(self, key_hash: str) -> Any:
        record, revoked = self._redis().hmget(self.cache.make_key(record_key(key_hash)), "record", "revoked")
        if revoked:
            return REVOKED
        return pickle.loads(record) if record else None  # noqa: S301 - written by cache_record below

    def cache_record(self, key_hash: str, record: Any, rpm: int, concurrent: int, seconds: int,
                     replace: bool = False) -> None:
        self._run("cache_key", [record_key(key_hash)],
                  [seconds * 1000, pickle.dumps(record, pickle.HIGHEST_PROTOCOL), rpm, concurrent,
                   "1" if replace else "0"])

    def revoke_record(self, key_hash: str, seconds: int) -> None:
        name = self.cache.make_key(record_key(key_hash))
        with self._redis().pipeline(transaction=True) as pipe:
            pipe.delete(name).hset(name, "revoked", 1).expire(name, seconds).execute()

    def drop_records(self, key_hashes: list[str]) -> None:
        if key_hashes:
            self._redis().delete(*[self.cache.make_key(record_key(h)) for h in key_hashes])

    def reserve(self, budget: str, limit: int, cost: int, member: str, lifetime_ms: int) -> Reserved:
        verdict, spent, held = self._run("reserve", [spent_key(budget), held_key(budget)],
                                         [limit, cost, member, lifetime_ms])
        return Reserved(verdict.decode(), spent, held)

    def settle(self, budget: str, member: str, credits: int) -> tuple[int, int]:
        spent, held = self._run("settle", [spent_key(budget), held_key(budget)], [member, credits])
        return spent, held

    def seed_spent(self, budget: str, credits: int, seconds: int) -> None:
        """The month's spending rebuilt elsewhere; a counter written meanwhile wins."""
        self._redis().set(self.cache.make_key(spent_key(budget)), credits, nx=True, ex=seconds)

    def read_spent(self, budgets: list[str]) -> list[int | None]:
        if not budgets:
            return []
        values = self._redis().mget([self.cache.make_key(spent_key(b)) for b in budgets])
        return [None if v is None else int(v) for v in values]

    def drop_spent(self, budget: str) -> None:
        self._redis().delete(self.cache.make_key(spent_key(budget)))

    def take_balance(self, user: str, cost: int) -> tuple[bool, int | None]:
        taken, value = self._run("take_balance", [balance_key(user)], [cost])
        return bool(taken), None if value < 0 else value

    def refresh_balance(self, user: str, balance: int, read_id: str, cost: int, seconds: float) -> bool:
        taken, _ = self._run("take_balance", [balance_key(user)],
                             [cost, balance, read_id, max(1, int(seconds * 1000))])
        return bool(taken)

    def give_balance(self, user: str, unspent: int) -> None:
        self._run("give_balance", [balance_key(user)], [unspent])


class LocalCounters:
    """admit.lua and its siblings for a cache that lives in this process (the embedded
    default's local-memory cache): the same answers, made atomic by a lock."""

    _lock = threading.Lock()

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    def _window(self, name: str, window_ms: int, now: float) -> tuple[int, float]:
        count, ends = self.cache.get(name) or (0, 0.0)
        return (0, now + window_ms / 1000) if ends <= now else (count, ends)

    def admit(self, ask: Ask) -> Verdict:
        with self._lock:
            now = time.time()
            if ask.failures_allowed >= 0:
                failures, ends = self._window(authfail_key(ask.ip), ask.window_ms, now)
                if failures >= ask.failures_allowed:
                    return Verdict("blocked", None, failures, int((ends - now) * 1000), 0)
            record, rpm, concurrent = None, ask.rpm, ask.concurrent
            if ask.key_hash:
                entry = self.cache.get(record_key(ask.key_hash))
                if entry == REVOKED:
                    return Verdict("revoked", None, 0, 0, 0)
                if entry is None:
                    return Verdict("unknown", None, 0, 0, 0)
                record = entry[0]
                rpm = entry[1] if rpm == "key" else rpm
                concurrent = entry[2] if concurrent == "key" else concurrent
            count, left = 0, 0
            if int(rpm) >= 0:
                count, ends = self._window(rpm_key(ask.subject), ask.window_ms, now)
                count += 1
                self.cache.set(rpm_key(ask.subject), (count, ends), ends - now + 1)
                left = int((ends - now) * 1000)
                if count > int(rpm):
                    return Verdict("limited", record, count, left, int(rpm))
            if int(concurrent) >= 0:
                slots = {t: e for t, e in (self.cache.get(slots_key(ask.subject)) or {}).items() if e > now}
                if len(slots) >= int(concurrent):
                    return Verdict("busy", record, count, left, int(rpm))
                slots[ask.token] = now + ask.slot_ms / 1000
                self.cache.set(slots_key(ask.subject), slots, ask.slot_ms / 1000 + 1)
            return Verdict("ok", record, count, left, int(rpm))

    def fail(self, ip: str, window_ms: int) -> tuple[int, int]:
        with self._lock:
            now = time.time()
            count, ends = self._window(authfail_key(ip), window_ms, now)
            self.cache.set(authfail_key(ip), (count + 1, ends), ends - now + 1)
            return count + 1, int((ends - now) * 1000)

    def release(self, subject: str, token: str) -> None:
        with self._lock:
            slots = self.cache.get(slots_key(subject)) or {}
            if slots.pop(token, None) is not None:
                self.cache.set(slots_key(subject), slots, max(slots.values(), default=time.time()) - time.time() + 1)

    def read_record(self, key_hash: str) -> Any:
        entry = self.cache.get(record_key(key_hash))
        return entry if entry in (None, REVOKED) else entry[0]

    def cache_record(self, key_hash: str, record: Any, rpm: int, concurrent: int, seconds: int,
                     replace: bool = False) -> None:
        if not replace:
            self.cache.add(record_key(key_hash), (record, rpm, concurrent), seconds)
            return
        with self._lock:
            if self.cache.get(record_key(key_hash)) != REVOKED:
                self.cache.set(record_key(key_hash), (record, rpm, concurrent), seconds)

    def revoke_record(self, key_hash: str, seconds: int) -> None:
        self.cache.set(record_key(key_hash), REVOKED, seconds)

    def drop_records(self, key_hashes: list[str]) -> None:
        self.cache.delete_many([record_key(h) for h in key_hashes])

    def _held(self, budget: str, now: float) -> dict[str, float]:
        return {m: e for m, e in (self.cache.get(held_key(budget)) or {}).items() if e > now}

    @staticmethod
    def _sum(held: dict[str, float]) -> int:
        return sum(int(member.rsplit(":", 1)[1]) for member in held)

    def reserve(self, budget: str, limit: int, cost: int, member: str, lifetime_ms: int) -> Reserved:
        with self._lock:
            spent = self.cache.get(spent_key(budget))
            if spent is None:
                return Reserved("unknown", 0, 0)
            now = time.time()
            held = self._held(budget, now)
            if spent + self._sum(held) + cost > limit:
                return Reserved("exceeded", spent, self._sum(held))
            held[member] = now + lifetime_ms / 1000
            self.cache.set(held_key(budget), held, lifetime_ms / 1000 + 1)
            return Reserved("ok", spent, self._sum(held))

    def settle(self, budget: str, member: str, credits: int) -> tuple[int, int]:
        with self._lock:
            now = time.time()
            held = self._held(budget, now)
            if held.pop(member, None) is not None:
                self.cache.set(held_key(budget), held, max(held.values(), default=now) - now + 1)
            spent = self.cache.get(spent_key(budget))
            if spent is None:
                return -1, self._sum(held)
            # incr keeps the counter's own lifetime (the month's end and a margin).
            return self.cache.incr(spent_key(budget), credits), self._sum(held)

    def seed_spent(self, budget: str, credits: int, seconds: int) -> None:
        with self._lock:
            self.cache.add(spent_key(budget), credits, seconds)

    def read_spent(self, budgets: list[str]) -> list[int | None]:
        return [self.cache.get(spent_key(b)) for b in budgets]

    def drop_spent(self, budget: str) -> None:
        self.cache.delete(spent_key(budget))

    def take_balance(self, user: str, cost: int) -> tuple[bool, int | None]:
        with self._lock:
            copy = self.cache.get(balance_key(user))
            if copy is None:
                return False, None
            before = copy["b"]
            return self._take(user, copy, cost), before

    def refresh_balance(self, user: str, balance: int, read_id: str, cost: int, seconds: float) -> bool:
        with self._lock:
            copy = self.cache.get(balance_key(user)) or {"n": 0, "r": None}
            if copy["r"] != read_id:
                copy.update(b=balance, r=read_id, expires=time.time() + seconds)
                self._keep(user, copy)
            return self._take(user, copy, cost)

    def _take(self, user: str, copy: dict, cost: int) -> bool:
        """take_balance.lua's rule: take when the copy covers the cost; a copy that
        cannot pay and that nobody holds is dropped."""
        if copy["b"] < cost:
            if copy["n"] <= 0:
                self.cache.delete(balance_key(user))
            return False
        copy["b"] -= cost
        copy["n"] += 1
        self._keep(user, copy)
        return True

    def _keep(self, user: str, copy: dict) -> None:
        """The copy stored for what is left of its life (set by its read)."""
        self.cache.set(balance_key(user), copy, max(0.001, copy["expires"] - time.time()))

    def give_balance(self, user: str, unspent: int) -> None:
        with self._lock:
            copy = self.cache.get(balance_key(user))
            if copy is None:
                return
            copy["b"] += max(0, unspent)
            copy["n"] -= 1
            if copy["n"] <= 0:
                self.cache.delete(balance_key(user))
            else:
                self._keep(user, copy)


# One cache object for every greenlet and thread of this process. Django keeps one per
# thread, which under gevent is one per greenlet, i.e. per client connection: a new
# django-redis client (about 0.1 ms) for each of a thousand streams opened at once.
# The connection pool behind it is shared either way. Beside it, under gevent, the one
# batcher of the process for that cache's pool.
_shared: list[Any] = []


def _default_cache() -> tuple[Any, bool, Batcher | None]:
    if not _shared:
        cache = caches.create_connection(DEFAULT_CACHE_ALIAS)
        client = getattr(cache, "client", None)
        redis = hasattr(client, "get_client") and hasattr(cache, "make_key")
        batcher = Batcher(client.get_client(write=True).connection_pool) if redis and under_gevent() else None
        _shared.append((cache, redis, batcher))
    return _shared[0]


@receiver(setting_changed)
def _forget_shared_cache(setting: str, **kwargs: object) -> None:
    if setting == "CACHES":
        _shared.clear()


def counters() -> RedisCounters | LocalCounters:
    """The counters of the default cache as configured now."""
    cache, redis, batcher = _default_cache()
    return RedisCounters(cache, batcher) if redis else LocalCounters(cache)
