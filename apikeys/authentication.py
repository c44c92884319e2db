"""API keys as credentials (`tp_live_…` / `tp_test_…`): the bearer dispatcher
(gateway/authentication.py) finds the key through its admission, then
`credential_of` makes it the request's credential."""

from __future__ import annotations

from datetime import UTC

from rest_framework import exceptions

from accounts.models import Account
from core.credentials import API_KEY, Credential

from . import keys

API_KEY_PREFIXES = ("tp_live_", "tp_test_")


def credential_of(entry: keys.CachedKey | None) -> tuple[Account, Credential]:
    """The account and credential of a key found active (marked used, at most once a
    minute); AuthenticationFailed (401) for a key not found (unknown or revoked) or
    past its expires_at."""
    if entry is None:
        raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
    # Checked on the record the admission read (it carries expires_at): no other round
    # trip, and every worker refuses the key from the same instant.
    if entry.key.is_expired():
        expired = entry.key.expires_at.astimezone(UTC)
        raise exceptions.AuthenticationFailed(f"This API key expired at {expired:%Y-%m-%dT%H:%M:%SZ}.")
    keys.mark_used(entry.key)
    return entry.account, Credential(API_KEY, api_key=entry.key)


def presented_key(authorization: str) -> keys.CachedKey | None:
    """The active, unexpired key an `Authorization: Bearer …` header bears, if its
    record is cached (a key in use), without admitting the request: nothing counted
    against its limits, no last use marked. For the usage record of a request refused
    before its authentication ran (metering.recording). The cache only: these
    refusals come before any limit, so a database lookup here would be one query per
    request for anyone sending made-up keys."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(API_KEY_PREFIXES):
        return None
    entry = keys.lookup_hash(keys.hash_key(token), database=False)
    if entry is None or entry.key.is_expired():
        return None
    return entry


def authenticate_key(token: str) -> tuple[Account, Credential]:
    """The account and credential of an active key, outside any request: served from
    the cache (no database query once cached)."""
    return credential_of(keys.lookup(token))
