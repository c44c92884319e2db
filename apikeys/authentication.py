"""API-key authentication (`tp_live_…` / `tp_test_…`), called by the bearer dispatcher
in accounts/authentication.py."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.request import Request

from accounts.credentials import API_KEY, Credential
from accounts.models import Account

from . import keys, limits


def authenticate_key(token: str, request: Request | None = None) -> tuple[Account, Credential]:
    """The account and credential of an active key; AuthenticationFailed (401) for an
    unknown or revoked one. Served from the cache: no database query per request.

    With `request`, first the failed-authentication check of its client IP (429), whose
    counter is read in the same cache round trip as the key's entry."""
    if request is None:
        entry = keys.lookup(token)
    else:
        entry_key = keys.cache_key(keys.hash_key(token))
        found = limits.check_auth_failures(request, also=(entry_key,))
        entry = keys.lookup(token, cached=None if found is None else found.get(entry_key))
    if entry is None:
        raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
    keys.mark_used(entry.key)
    return entry.account, Credential(API_KEY, api_key=entry.key)
