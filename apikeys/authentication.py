"""API-key authentication (`tp_live_…` / `tp_test_…`), called by the bearer dispatcher
in accounts/authentication.py."""

from __future__ import annotations

from rest_framework import exceptions

from accounts.credentials import API_KEY, Credential
from accounts.models import Account

from . import keys


def authenticate_key(token: str) -> tuple[Account, Credential]:
    """The account and credential of an active key; AuthenticationFailed (401) for an
    unknown or revoked one. Served from the cache: no database query per request."""
    entry = keys.lookup(token)
    if entry is None:
        raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
    keys.mark_used(entry.key)
    return entry.account, Credential(API_KEY, api_key=entry.key)
