"""Accounts for Auth0 identities, linked to Flash's users on first sight."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.request_json import is_storable, storable
from upstreams import flash

from .models import Account

LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def _claim(claims: dict[str, Any], name: str) -> str:
    """A profile claim, plain or namespaced (Auth0 custom claims are URLs)."""
    value = claims.get(name)
    if value is None:
        value = next((v for k, v in claims.items() if k.startswith("http") and k.endswith("/" + name)), "")
    return value if isinstance(value, str) else ""


def _name(value: str) -> str:
    """A display name as it can be stored: what PostgreSQL cannot hold dropped
    (core.request_json.storable), cut to its column. It is the identity provider's,
    often the person's own typing: a first request must not fail on it."""
    return storable(value)[:Account._meta.get_field("display_name").max_length]


def storable_email(value: str) -> str:
    """An email as it can be stored (Account's and Django's user's), or none: cut to
    fit it would be someone else's."""
    if not is_storable(value) or len(value) > Account._meta.get_field("email").max_length:
        return ""
    return value


def account_for_claims(claims: dict[str, Any]) -> Account:
    """The account of a verified Auth0 identity, made (and linked to Flash) on first
    sight. Flash's resolve is called once even when a new user's first requests
    arrive together: they queue on a per-subject lock, and the one that finds no
    account makes it. If Flash fails, the transaction rolls back: nothing half-made.
    """
    sub = claims["sub"]
    account = Account.objects.filter(external_id=sub).first()
    if account is None:
        account = _create(sub, storable_email(_claim(claims, "email")),
                          _name(_claim(claims, "name") or _claim(claims, "nickname")))
    touch(account)
    return account


def _create(sub: str, email: str, display_name: str) -> Account:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"account:{sub}"])
        existing = Account.objects.filter(external_id=sub).first()
        if existing is not None:
            return existing
        flash_user_id = flash.resolve_user(sub, email=email, display_name=display_name)
        try:
            with transaction.atomic():
                return Account.objects.create(
                    external_id=sub, email=email, display_name=display_name, flash_user_id=flash_user_id
                )
        except IntegrityError:
            # Without advisory locks (SQLite) a racing request may have won.
            return Account.objects.get(external_id=sub)


def touch(account: Account) -> None:
    """Record that the account was seen, at most once a minute (not a write per request)."""
    now = timezone.now()
    if account.last_seen_at is None or now - account.last_seen_at > LAST_SEEN_RESOLUTION:
        Account.objects.filter(pk=account.pk).update(last_seen_at=now)
        account.last_seen_at = now
