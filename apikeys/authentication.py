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

    With `request`, the key's record comes from the request's admission (limits.admit):
    one round trip to the cache that also checks the client IP's failed
    authentications (429), counts the request and takes a slot when the view needs
    one. A key not cached yet is read from the database, cached, then admitted."""
    if request is None:
        entry = keys.lookup(token)
    else:
        key_hash = keys.hash_key(token)
        subject = f"key:{key_hash}"
        admission = limits.admit(request, subject, key_hash=key_hash)
        if admission.verdict == "unknown":
            entry = keys.lookup(token, cached=None)
            if entry is not None:
                admission = limits.admit(request, subject, key_hash=key_hash)
        elif admission.verdict == "unavailable":  # the cache failed: the database decides
            entry = keys.lookup(token, cached=None)
        else:
            entry = keys.lookup(token, cached=keys.REVOKED if admission.verdict == "revoked" else admission.record)
    if entry is None:
        raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
    keys.mark_used(entry.key)
    return entry.account, Credential(API_KEY, api_key=entry.key)
