"""The grant ledger's delivery to Flash: exactly once, outage-safe.

A grant row is committed before Flash is called. Delivering it is: claim it with a
compare-and-set that pushes `next_attempt_at` one lease ahead and marks the outcome
unknown (so a worker killed mid-call leaves a row that a later attempt reconciles),
call Flash outside any transaction, record what happened. An attempt that follows
one whose outcome is unknown first looks for the grant's id in Flash's history.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from relay import flash
from relay.upstream import UpstreamError

from .models import CreditGrant, GrantState

log = logging.getLogger("payments.grants")


def record(idempotency_key: str, *, deliver_after_commit: bool = True, **fields: Any) -> tuple[CreditGrant, bool]:
    """Write a grant once per idempotency key; returns (grant, created).

    Must run inside the caller's transaction (with the event row it belongs to); the
    first delivery attempt is made after that transaction commits.
    """
    account = fields["account"]
    fields.setdefault("flash_user_id", account.flash_user_id)
    try:
        with transaction.atomic():
            grant = CreditGrant.objects.create(idempotency_key=idempotency_key, **fields)
    except IntegrityError:
        return CreditGrant.objects.get(idempotency_key=idempotency_key), False
    if deliver_after_commit and grant.state == GrantState.PENDING:
        transaction.on_commit(lambda: deliver_quietly(grant.id))
    log.info("grant %s recorded: %s credits (%s) for account %s", grant.id, grant.amount,
             grant.transaction_type, account.pk)
    return grant, True


def deliver_quietly(grant_id: uuid.UUID) -> None:
    """The first attempt, made while a caller waits: whatever goes wrong is the
    worker's to retry (after the lease), never the caller's error."""
    try:
        deliver(grant_id, timeout=_inline_timeout())
    except Exception:
        log.exception("first delivery attempt of grant %s failed; the worker will retry", grant_id)


def _inline_timeout() -> tuple[float, float]:
    # The first attempt runs while Stripe/Apple/the operator waits for our answer.
    return (settings.UPSTREAM_CONNECT_TIMEOUT, settings.PAYMENTS_GRANT_INLINE_TIMEOUT)


def _lease() -> timedelta:
    return timedelta(seconds=settings.PAYMENTS_GRANT_LEASE_SECONDS)


def backoff(attempts: int) -> timedelta:
    """Exponential with full jitter in its upper half, capped."""
    base = settings.PAYMENTS_GRANT_BACKOFF_BASE
    delay = min(settings.PAYMENTS_GRANT_BACKOFF_MAX, base * (2 ** max(0, attempts - 1)))
    return timedelta(seconds=delay * random.uniform(0.5, 1.0))


def _claim(grant: CreditGrant) -> bool:
    """Take the grant for one attempt, if nobody else did since it was read."""
    now = timezone.now()
    taken = CreditGrant.objects.filter(
        pk=grant.pk, state=GrantState.PENDING, attempts=grant.attempts, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + _lease(), outcome_unknown=True)
    if taken:
        grant.attempts += 1
    return bool(taken)


def deliver(grant_id: uuid.UUID, timeout: tuple[float, float] | None = None) -> str | None:
    """One delivery attempt of a due pending grant; returns its state after, or None
    when it was not due or someone else holds it."""
    grant = CreditGrant.objects.filter(pk=grant_id).first()
    if grant is None or not _claim(grant):
        return None
    return _attempt(grant, timeout)


def process_due(limit: int = 50) -> int:
    """Deliver up to `limit` due grants; several workers may run this at once."""
    now = timezone.now()
    with transaction.atomic():
        due = CreditGrant.objects.filter(state=GrantState.PENDING, next_attempt_at__lte=now).order_by("next_attempt_at")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        claimed = [grant for grant in due[:limit] if _claim(grant)]
    for grant in claimed:
        _attempt(grant)
    return len(claimed)


def _attempt(grant: CreditGrant, timeout: tuple[float, float] | None = None) -> str:
    # The claim set outcome_unknown in the row; `grant` was read before the claim and
    # still holds whether the previous attempt left the outcome unknown.
    was_unknown = grant.outcome_unknown
    try:
        if was_unknown:
            found = find_in_flash(grant)
            if found is not None:
                log.info("grant %s was already applied in Flash (reconciled from history)", grant.id)
                return _finish(grant, applied=True, flash_transaction_id=str(found.get("id", "")),
                               note="reconciled from Flash history")
        body = flash.grant(grant.flash_user_id, grant.amount, grant.transaction_type,
                           f"{grant.description} {grant.marker}".strip(), timeout=timeout)
    except flash.GrantRefused as exc:
        log.error("grant %s refused by Flash: %s", grant.id, exc)
        return _finish(grant, applied=False, error=str(exc), final=True)
    except UpstreamError as exc:
        log.warning("grant %s attempt %s: %s", grant.id, grant.attempts, exc.message)
        final = grant.attempts >= settings.PAYMENTS_GRANT_MAX_ATTEMPTS
        return _finish(grant, applied=False, error=f"{exc.code}: {exc.message}", final=final, unknown=True)
    return _finish(grant, applied=True, flash_transaction_id=str(body.get("transaction_id") or body.get("id") or ""))


def _finish(grant: CreditGrant, *, applied: bool, flash_transaction_id: str = "", error: str = "",
            final: bool = False, unknown: bool = False, note: str = "") -> str:
    now = timezone.now()
    if applied:
        changes: dict[str, Any] = dict(state=GrantState.APPLIED, applied_at=now, outcome_unknown=False,
                                       flash_transaction_id=flash_transaction_id, last_error=note)
    elif final:
        changes = dict(state=GrantState.FAILED, last_error=error, outcome_unknown=unknown)
    else:
        changes = dict(last_error=error, outcome_unknown=unknown, next_attempt_at=now + backoff(grant.attempts))
    # Only the holder of this attempt writes its result (a lease may have expired).
    CreditGrant.objects.filter(pk=grant.pk, attempts=grant.attempts, state=GrantState.PENDING).update(**changes)
    for name, value in changes.items():
        setattr(grant, name, value)
    return grant.state


def find_in_flash(grant: CreditGrant) -> dict | None:
    """Flash's transaction carrying this grant's marker, if it exists (raises
    UpstreamError when the history cannot be read)."""
    page = settings.PAYMENTS_HISTORY_PAGE
    for offset in range(0, settings.PAYMENTS_HISTORY_SCAN, page):
        entries = flash.history(grant.flash_user_id, limit=page, offset=offset)
        for entry in entries:
            if isinstance(entry, dict) and grant.marker in str(entry.get("description", "")):
                return entry
        if len(entries) < page:
            break
    return None


def retry(grant: CreditGrant) -> bool:
    """An operator's retry of a failed grant: pending again, due now, fresh attempts."""
    return bool(
        CreditGrant.objects.filter(pk=grant.pk, state__in=[GrantState.FAILED, GrantState.HELD]).update(
            state=GrantState.PENDING, attempts=0, next_attempt_at=timezone.now(), last_error=""
        )
    )


def reconcile(grant: CreditGrant) -> bool:
    """An operator's check: is this not-applied grant in Flash after all? Marks it
    applied if so (raises UpstreamError when Flash's history cannot be read)."""
    if grant.state == GrantState.APPLIED:
        return True
    found = find_in_flash(grant)
    if found is None:
        return False
    CreditGrant.objects.filter(pk=grant.pk).exclude(state=GrantState.APPLIED).update(
        state=GrantState.APPLIED, applied_at=timezone.now(), outcome_unknown=False,
        flash_transaction_id=str(found.get("id", "")), last_error="reconciled from Flash history",
    )
    return True
