"""API-key authentication (`tp_live_…` / `tp_test_…`). Filled in by the keys issue."""

from __future__ import annotations

from rest_framework import exceptions


def authenticate_key(token: str):
    raise exceptions.AuthenticationFailed("API keys are not accepted yet.")
