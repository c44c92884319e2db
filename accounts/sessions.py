"""Billing session tokens (`tp_sess_…`): issued at login, stored hashed, sliding
expiry, dead the moment they are revoked."""

from __future__ import annotations

import hashlib
import secrets
import string
from datetime import timedelta

from django.utils import timezone
from rest_framework import exceptions

from core.credentials import SESSION, Credential

from . import identity
from .models import Account, SessionToken

PREFIX = "tp_sess_"
ALPHABET = string.ascii_lowercase + string.digits
TOKEN_CHARS = 40
# Sliding expiry is refreshed at most this often, so a busy client does not cost a
# database write per request.
SLIDE_EVERY = timedelta(hours=1)
# A token lives this long after its last use (sliding).
LIFETIME_DAYS = 30
INVALID = "The session token is invalid, expired or revoked."


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _lifetime() -> timedelta:
    return timedelta(days=LIFETIME_DAYS)


def issue(account: Account) -> tuple[str, SessionToken]:
    """A new session token for the account: the token itself (shown once) and its record."""
    token = PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(TOKEN_CHARS))
    now = timezone.now()
    record = SessionToken.objects.create(
        account=account,
        token_hash=_hash(token),
        prefix=token[:16],
        expires_at=now + _lifetime(),
        last_used_at=now,
    )
    return token, record


def authenticate_session(token: str) -> tuple[Account, Credential]:
    """The account and credential of a live session token, or AuthenticationFailed."""
    if len(token) != len(PREFIX) + TOKEN_CHARS:
        raise exceptions.AuthenticationFailed(INVALID)
    record = SessionToken.objects.select_related("account").filter(token_hash=_hash(token)).first()
    now = timezone.now()
    if record is None or record.revoked_at is not None or record.expires_at <= now:
        raise exceptions.AuthenticationFailed(INVALID)
    if record.last_used_at is None or now - record.last_used_at >= SLIDE_EVERY:
        record.last_used_at = now
        record.expires_at = now + _lifetime()
        # Guarded on revoked_at so a slide racing a logout cannot resurrect the token.
        SessionToken.objects.filter(pk=record.pk, revoked_at__isnull=True).update(
            last_used_at=record.last_used_at, expires_at=record.expires_at
        )
    identity.touch(record.account)
    return record.account, Credential(SESSION, session=record)


def revoke(record: SessionToken) -> None:
    """Kill a session token now (idempotent)."""
    SessionToken.objects.filter(pk=record.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
