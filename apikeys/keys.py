"""Making, finding and revoking developer keys (CONTRACT.md §5).

A key's record and its account are cached by hash for a short time so that
verifying a key costs no database query. Revocation overwrites the cache entry
with a tombstone, so every worker refuses the key on its next request; the
tombstone (instead of a plain delete) also stops a request that read the row
just before the revocation from caching it again.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import string
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from core.cache import quietly
from core.coalesce import SharedCalls
from core.errors import APIError
from limits.counters import REVOKED, counters

from . import budgets
from .models import APIKey, Environment

log = logging.getLogger("apikeys.keys")

ALPHABET = string.ascii_lowercase + string.digits
SECRET_LENGTH = 32
PREFIX_LENGTH = 16
MAX_ACTIVE_PER_ACCOUNT = 25
# Further than this ahead an expiry is a typo or no expiry at all (CONTRACT.md §9).
MAX_EXPIRY = timedelta(days=366)
# How long a worker trusts a cached key record; revocation overwrites it at once.
CACHE_SECONDS = 30
# last_used_at is written at most this often per key.
LAST_USED_RESOLUTION_SECONDS = 60


def expiry_problem(expires_at: datetime) -> str | None:
    """Why `expires_at` cannot be a key's expiry ("must be …"), or None when it can."""
    now = timezone.now()
    if expires_at <= now:
        return "must be in the future"
    if expires_at > now + MAX_EXPIRY:
        return f"must be at most {MAX_EXPIRY.days} days ahead"
    return None


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_plaintext(environment: str) -> str:
    return f"tp_{environment}_" + "".join(secrets.choice(ALPHABET) for _ in range(SECRET_LENGTH))


def _new_secret(environment: str) -> tuple[str, dict[str, str]]:
    """A new plaintext and the fields a key stores of it (its hash and its prefix, never
    the plaintext itself), for `APIKey.objects.create(**fields)`."""
    plaintext = generate_plaintext(environment)
    return plaintext, {"key_hash": hash_key(plaintext), "prefix": plaintext[:PREFIX_LENGTH]}


@dataclass
class CachedKey:
    """What a worker needs to serve a key's request: the key and its account."""

    key: APIKey
    account: Account


def create_key(account: Account, name: str, environment: str = Environment.LIVE, *,
               monthly_credit_limit: int | None = None, expires_at: datetime | None = None) -> tuple[APIKey, str]:
    """A new key for the account and its plaintext, which is never stored.

    Raises APIError 400 when the account already has the maximum of active keys.
    """
    if environment not in Environment.values:
        raise APIError(400, "invalid_request", "environment must be 'live' or 'test'.")
    with transaction.atomic():
        # The account row serialises concurrent creations, so the cap holds under races.
        locked = Account.objects.select_for_update().get(pk=account.pk)
        # An expired key (a rolled key past its grace) no longer takes a place.
        active = APIKey.objects.filter(account=locked, is_active=True).exclude(expires_at__lte=timezone.now()).count()
        if active >= MAX_ACTIVE_PER_ACCOUNT:
            message = f"An account may have at most {MAX_ACTIVE_PER_ACCOUNT} active keys; revoke one first."
            raise APIError(400, "invalid_request", message)
        plaintext, stored = _new_secret(environment)
        key = APIKey.objects.create(
            account=locked,
            **stored,
            name=name,
            environment=environment,
            monthly_credit_limit=monthly_credit_limit,
            expires_at=expires_at,
        )
    return key, plaintext


def _recache(key: APIKey) -> None:
    """Replace the key's cached record with the row as it is now (its expiry or budget
    changed), so that every worker applies the change on its next request. A
    revocation's tombstone is kept."""
    key = APIKey.objects.select_related("account").get(pk=key.pk)
    if key.is_active:
        _cache(key, replace=True)


def _cache(key: APIKey, *, replace: bool = False) -> CachedKey:
    """The key's record as the admission reads it, written to the cache. The limits
    travel with the record, so that the admission script can apply them."""
    entry = CachedKey(key=key, account=key.account)
    quietly(lambda: counters().cache_record(key.key_hash, entry, key.rate_limit, key.concurrent, CACHE_SECONDS,
                                            replace=replace), None)
    return entry


UPDATABLE = ("name", "monthly_credit_limit", "expires_at")


def rolled_expiry_refusal(key: APIKey, expires_at: datetime | None) -> str | None:
    """Why a rolled key may not take this expiry (None when it may): its grace ends
    when it ends, or sooner. A later or no expiry would bring the retired key back
    beside its replacement, for good."""
    if key.replaced_by_id is None:
        return None
    if expires_at is None or key.expires_at is None or expires_at > key.expires_at:
        return ("This key was rolled: its expiry can only be brought forward, not put off or removed; "
                "its replacement is the key to keep.")
    return None


def update_key(key: APIKey, changes: dict) -> APIKey:
    """Change a key's name, budget or expiry (CONTRACT.md §9); applied by every worker
    on its next request. Raises 409 for a rolled key's expiry put off or removed."""
    fields = [name for name in UPDATABLE if name in changes]
    if not fields:
        return key
    with transaction.atomic():
        # Locked as roll_key locks it, and read again: a roll committed since `key` was
        # read is seen (409 for its expiry put off), never overwritten by this change.
        key.refresh_from_db(from_queryset=APIKey.objects.select_for_update(), fields=[*UPDATABLE, "replaced_by"])
        if "expires_at" in changes and (refusal := rolled_expiry_refusal(key, changes["expires_at"])):
            raise APIError(409, "conflict", refusal)
        # The chain's counter is kept only while the key has a budget: one set where there
        # was none may be stale, one removed is no longer kept. A changed limit keeps it.
        budget_changed = ("monthly_credit_limit" in changes
                          and (changes["monthly_credit_limit"] is None) != (key.monthly_credit_limit is None))
        for name in fields:
            setattr(key, name, changes[name])
        key.save(update_fields=fields)
    if budget_changed:
        budgets.forget_spending(key)
    _recache(key)
    return key


def roll_key(key: APIKey, grace_seconds: int) -> tuple[APIKey, str]:
    """A new key with the old one's name, environment, rate limit and budget (its roll
    chain's spending carries over); the old key expires `grace_seconds` from now (or
    earlier, if it was to expire before). Raises 409 for a key revoked or rolled before.

    The cap on active keys does not apply: the old key goes by itself within a week."""
    with transaction.atomic():
        old = APIKey.objects.select_for_update().filter(pk=key.pk).first()
        if old is None or not old.is_active or old.replaced_by_id is not None:
            raise APIError(409, "conflict", "This key was revoked or rolled already; roll its replacement instead.")
        plaintext, stored = _new_secret(old.environment)
        new = APIKey.objects.create(
            account_id=old.account_id,
            **stored,
            name=old.name,
            environment=old.environment,
            rate_limit_override=old.rate_limit_override,
            monthly_credit_limit=old.monthly_credit_limit,
            chain_id=old.budget_chain,
        )
        ends = timezone.now() + timedelta(seconds=grace_seconds)
        old.expires_at = ends if old.expires_at is None else min(old.expires_at, ends)
        old.replaced_by = new
        old.save(update_fields=["expires_at", "replaced_by"])
    _recache(old)
    return new, plaintext


def revoke_key(key: APIKey) -> APIKey:
    """Deactivate the key everywhere at once. Revoking a revoked key changes nothing."""
    now = timezone.now()
    APIKey.objects.filter(pk=key.pk, is_active=True).update(is_active=False, revoked_at=now)
    quietly(lambda: counters().revoke_record(key.key_hash, CACHE_SECONDS * 2), None)
    key.refresh_from_db()
    return key


def drop_cached_keys(account: Account) -> None:
    """Forget the cached records of the account's keys: they carry the account (its
    plan and tier) and the limits that follow from it. A `save()` of the account does
    this through a signal; call it after changing plan, tier or override with
    `.update()`."""
    hashes = APIKey.objects.filter(account_id=account.pk, is_active=True).values_list("key_hash", flat=True)
    quietly(lambda: counters().drop_records(list(hashes)), None)


_UNREAD = object()


def lookup(plaintext: str) -> CachedKey | None:
    """The active key with this plaintext and its account, from the cache when it can."""
    return lookup_hash(hash_key(plaintext))


def lookup_hash(key_hash: str, cached: object = _UNREAD, database: bool = True) -> CachedKey | None:
    """`lookup` for a caller that has hashed the plaintext already (the gateway names
    the key's cache entry by its hash): the key is hashed once per request.
    `cached`: the cache entry of this key (None when absent, REVOKED) if the caller
    already read it, in a round trip shared with other reads (the admission).
    `database=False`: the cache only, for a caller no limit protects."""
    entry = quietly(lambda: counters().read_record(key_hash), None) if cached is _UNREAD else cached
    if entry == REVOKED:
        return None
    if entry is None and not database:
        return None
    if entry is None:
        entry = _from_database(key_hash)
        if entry is None:
            return None
    # The lookup was by hash; comparing again in constant time keeps it so whatever
    # the cache or the database did with the string.
    if not secrets.compare_digest(entry.key.key_hash, key_hash):
        return None
    return entry


def _from_database(key_hash: str) -> CachedKey | None:
    """The active key with this hash from the database, its record cached."""
    key = APIKey.objects.select_related("account").filter(key_hash=key_hash, is_active=True).first()
    if key is None:
        return None
    # Added, never overwriting: a tombstone written by a revocation meanwhile wins.
    return _cache(key)


_loads: SharedCalls[bool] = SharedCalls()


def cache_from_database(key_hash: str) -> bool:
    """Cache the record of a key the cache does not hold (first use, or its record
    expired); whether the key is active. A worker's requests bearing the same key at
    that moment (a customer's batch opening twenty streams at once) share one database
    read rather than each reading the row, writing the record and waiting for a pooled
    connection to do so. The callers then read the record from the cache, each its own
    copy."""
    return _loads.call(key_hash, lambda: _from_database(key_hash) is not None)


# Key id → when this process last claimed the minute's last-use write (monotonic).
_marked: dict[object, float] = {}


def mark_used(key: APIKey) -> None:
    """Record last use at most once a minute per key, not a write per request.

    The shared cache decides which worker writes; a worker that asked within the last
    minute already knows the answer for this minute, so it skips the round trip."""
    resolution = LAST_USED_RESOLUTION_SECONDS
    now = time.monotonic()
    if now - _marked.get(key.pk, -resolution) < resolution:
        return
    if len(_marked) > 10_000:  # keys come and go; the memo must not grow without bound
        _marked.clear()
    _marked[key.pk] = now
    if quietly(lambda: cache.add(f"apikey:used:{key.pk}", 1, resolution), False):
        now = timezone.now()
        APIKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
