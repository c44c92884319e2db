"""Billing session tokens (`tp_sess_…`). Filled in by the identity issue."""

from __future__ import annotations

from rest_framework import exceptions


def authenticate_session(token: str):
    raise exceptions.AuthenticationFailed("Session tokens are not accepted yet.")
