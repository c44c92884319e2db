"""The grant ledger's delivery to Flash: exactly once, outage-safe.

A grant row is committed before Flash is called. Delivering it is: claim it with a
compare-and-set that pushes `next_attempt_at` one lease ahead and marks the outcome
unknown (so a worker killed mid-call leaves a row that a later attempt reconciles),
call Flash outside any transaction, record what happened. An attempt that follows
one whose outcome is unknown first looks for the grant's id in Flash's history.

A grant is retried until Flash takes it (CONTRACT.md §6); only a refusal about the
grant itself ends it as failed. Flash refusing billing's own key is an operator's
to fix: the grant stays pending and the operators are alerted once. A grant still
undelivered an hour after it was made is marked stuck (still retried) and alerted
once.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from upstreams import flash
from upstreams.transport import CredentialRefused, UpstreamError

from .alerts import grant_alert
from .models import UNDELIVERED_STATES, CreditGrant, GrantState

log = logging.getLogger("payments.grants")

RECONCILED = "reconciled from Flash history"  # the note of a grant found in Flash after all

# The first attempt runs while Stripe, Apple or the operator waits for our answer: its
# read timeout (seconds).
INLINE_TIMEOUT = 5.0
# A paid grant is retried until Flash takes it (no attempts limit): waits double from
# PAYMENTS_GRANT_BACKOFF_BASE (an operator's setting), staying under FAST_RETRY_SECONDS
# for a grant's first FAST_RETRY_WINDOW_SECONDS; longer outages back off up to
# BACKOFF_MAX_SECONDS (see backoff).
FAST_RETRY_SECONDS = 15.0
FAST_RETRY_WINDOW_SECONDS = 300.0
BACKOFF_MAX_SECONDS = 3600.0
# A grant still undelivered this long after it was made is marked stuck and alerted.
STUCK_AFTER = timedelta(hours=1)
# An attempt that left the outcome unknown looks for the grant's marker in the user's
# Flash transactions made since the grant was (less HISTORY_CLOCK_SKEW: Flash's clock
# and ours may differ a little), a page at a time. A busy user can make hundreds of
# transactions between two attempts, so the search never stops at a count it happened
# to reach: when HISTORY_SCAN entries do not get back to the grant's creation, the
# outcome stays unknown (retried later, stuck after an hour) rather than sent again.
HISTORY_PAGE = 100
HISTORY_SCAN = 10_000
HISTORY_CLOCK_SKEW = timedelta(minutes=10)


def record(idempotency_key: str, *, deliver_after_commit: bool = True, **fields: Any) -> tuple[CreditGrant, bool]:
    """Write a grant once per idempotency key; returns (grant, created). Every grant
    is recorded here: Stripe purchases and plans, Apple purchases, refund and dispute
    reversals, an operator's manual grant, reconciliation's repairs.

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
    return (settings.UPSTREAM_CONNECT_TIMEOUT, INLINE_TIMEOUT)


def _lease() -> timedelta:
    return timedelta(seconds=settings.PAYMENTS_GRANT_LEASE_SECONDS)


# Past the fast-retry window, the wait before the next attempt is at most this share of
# the grant's age: waits then grow geometrically with a long outage (reaching
# BACKOFF_MAX_SECONDS after about four hours).
LONG_OUTAGE_SHARE_OF_AGE = 0.25


def backoff(attempts: int, age: timedelta) -> timedelta:
    """The wait before the next attempt of a grant `age` old that has had `attempts`.

    Exponential from PAYMENTS_GRANT_BACKOFF_BASE, but never above FAST_RETRY_SECONDS
    while the grant is younger than FAST_RETRY_WINDOW_SECONDS (a buyer is waiting, and
    a short outage should cost seconds, not minutes); after that, at most a share of the
    grant's age, capped at BACKOFF_MAX_SECONDS. Full jitter in the upper half."""
    exponential = settings.PAYMENTS_GRANT_BACKOFF_BASE * 2 ** min(max(0, attempts - 1), 32)
    fast = FAST_RETRY_SECONDS
    seconds_old = age.total_seconds()
    if seconds_old < FAST_RETRY_WINDOW_SECONDS:
        ceiling = fast
    else:
        ceiling = max(fast, min(BACKOFF_MAX_SECONDS, seconds_old * LONG_OUTAGE_SHARE_OF_AGE))
    return timedelta(seconds=min(exponential, ceiling) * random.uniform(0.5, 1.0))


def _claim(grant: CreditGrant) -> bool:
    """Take the grant for one attempt, if nobody else did since it was read."""
    now = timezone.now()
    taken = CreditGrant.objects.filter(
        pk=grant.pk, state__in=UNDELIVERED_STATES, attempts=grant.attempts, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + _lease(), outcome_unknown=True)
    if taken:
        grant.attempts += 1
    return bool(taken)


def _renew(grant: CreditGrant) -> bool:
    """A fresh lease for the send that follows a history search (which may take many
    pages), if this attempt still holds the grant: the send then has a whole lease."""
    return bool(CreditGrant.objects.filter(pk=grant.pk, state__in=UNDELIVERED_STATES, attempts=grant.attempts)
                .update(next_attempt_at=timezone.now() + _lease()))


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
        due = CreditGrant.objects.filter(state__in=UNDELIVERED_STATES, next_attempt_at__lte=now).order_by(
            "next_attempt_at")
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
    setting = "FLASH_SERVICE_KEY"  # the key of the history read; the grant itself uses the admin key
    try:
        if was_unknown:
            found = find_in_flash(grant)
            if found is not None:
                log.info("grant %s was already applied in Flash (reconciled from history)", grant.id)
                return _finish(grant, applied=True, flash_transaction_id=str(found.get("id", "")), note=RECONCILED)
            if not _renew(grant):
                # The search outlasted the lease and another attempt took the grant: it
                # searches again and sends; sending here too could apply it twice.
                log.warning("grant %s: lease lost during the history search; left to the other attempt", grant.id)
                return grant.state
        setting = "FLASH_ADMIN_KEY"
        body = flash.grant(grant.flash_user_id, grant.amount, grant.transaction_type,
                           f"{grant.description} {grant.marker}".strip(), timeout=timeout)
    except CredentialRefused as exc:
        # The admin grant carries nothing but the admin key; a history read also carries
        # the grant's Flash user id, which a bare 401 may be about instead.
        if setting == "FLASH_ADMIN_KEY" or exc.names_key:
            return _key_refused(grant, exc, setting, unknown=setting == "FLASH_SERVICE_KEY")
        return _retry_later(grant, exc)
    except flash.GrantRefused as exc:
        log.error("grant %s refused by Flash: %s", grant.id, exc)
        state = _finish(grant, applied=False, error=str(exc), final=True)
        if state == GrantState.FAILED:
            grant_alert(grant, "grant failed", "Flash refused this grant for a reason retrying cannot fix; it "
                                               "will not be sent again unless an operator retries it.")
        return state
    except UpstreamError as exc:
        return _retry_later(grant, exc)
    return _finish(grant, applied=True, flash_transaction_id=str(body.get("transaction_id") or body.get("id") or ""))


def _retry_later(grant: CreditGrant, exc: UpstreamError) -> str:
    """Flash could not be reached or answered an error: the grant may have landed."""
    log.warning("grant %s attempt %s: %s", grant.id, grant.attempts, exc.message)
    return _finish(grant, applied=False, error=f"{exc.code}: {exc.message}", unknown=True)


def _key_refused(grant: CreditGrant, exc: CredentialRefused, setting: str, *, unknown: bool) -> str:
    """Flash refused billing's own key: not the grant's fault, and fixed by an operator,
    so the grant stays pending (retried with backoff) and the operators hear of it once."""
    detail = " ".join(exc.detail.split())[:200]
    error = (f"Flash refuses billing's own key ({exc.status}: {detail}); an operator must fix {setting}. "
             "Retried until Flash takes it.")
    first = grant.key_refused_at is None
    state = _finish(grant, applied=False, error=error, unknown=unknown,
                    extra={"key_refused_at": timezone.now()} if first else None)
    if first and grant.key_refused_at is not None:
        grant_alert(grant, "Flash refuses billing's key", f"Flash refused {setting} while delivering this grant. "
                    "The grant stays pending and is retried until Flash takes it; fix the key and it goes "
                    "through on the next attempt.")
    return state


def _finish(grant: CreditGrant, *, applied: bool, flash_transaction_id: str = "", error: str = "",
            final: bool = False, unknown: bool = False, note: str = "", extra: dict[str, Any] | None = None) -> str:
    """Record the outcome of this attempt; `grant` reflects what was written (nothing,
    when the attempt's lease had been lost to another worker)."""
    now = timezone.now()
    if applied:
        changes = _applied(flash_transaction_id, note)
    elif final:
        changes = dict(state=GrantState.FAILED, last_error=error, outcome_unknown=unknown)
    else:
        changes = dict(last_error=error, outcome_unknown=unknown,
                       next_attempt_at=now + backoff(grant.attempts, now - grant.created_at))
    changes.update(extra or {})
    # Only the holder of this attempt writes its result (a lease may have expired).
    return _write(grant, changes, Q(attempts=grant.attempts, state__in=UNDELIVERED_STATES))


def _applied(flash_transaction_id: str, note: str = "") -> dict[str, Any]:
    return dict(state=GrantState.APPLIED, applied_at=timezone.now(), outcome_unknown=False,
                flash_transaction_id=flash_transaction_id, last_error=note)


def _write(grant: CreditGrant, changes: dict[str, Any], guard: Q) -> str:
    """Write `changes` to the grant's row where `guard` still holds; `grant` reflects
    what was written (nothing, when the guard no longer held)."""
    if CreditGrant.objects.filter(guard, pk=grant.pk).update(**changes):
        for name, value in changes.items():
            setattr(grant, name, value)
    return grant.state


def mark_stuck(limit: int = 100) -> int:
    """Mark grants still undelivered STUCK_AFTER after they were made as stuck (the
    worker keeps retrying them), alerting the operators once per grant. Returns how
    many were newly marked."""
    cutoff = timezone.now() - STUCK_AFTER
    overdue = CreditGrant.objects.filter(state=GrantState.PENDING, created_at__lte=cutoff)
    # Stuck before and retried by an operator since: stuck again, already alerted.
    overdue.filter(stuck_at__isnull=False).update(state=GrantState.STUCK)
    marked = 0
    for grant in overdue.filter(stuck_at__isnull=True).order_by("created_at")[:limit]:
        # The compare-and-set is what makes the alert once only, however many workers run.
        if not CreditGrant.objects.filter(pk=grant.pk, state=GrantState.PENDING, stuck_at__isnull=True).update(
                state=GrantState.STUCK, stuck_at=timezone.now()):
            continue
        grant.refresh_from_db()
        marked += 1
        grant_alert(grant, "grant stuck", f"This grant is still not in Flash {_age(grant)} after it was made. "
                    "It is retried until Flash takes it; the last error says what stands in the way.")
    return marked


def _age(grant: CreditGrant) -> str:
    minutes = int((timezone.now() - grant.created_at).total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def find_in_flash(grant: CreditGrant) -> dict | None:
    """Flash's transaction carrying this grant's marker, if it exists (raises
    UpstreamError when the history cannot be read, or not back to the grant's creation
    within HISTORY_SCAN entries: "not found" must mean not in Flash)."""
    since = grant.created_at - HISTORY_CLOCK_SKEW
    for read, entry in enumerate(flash.history_since(grant.flash_user_id, since, page=HISTORY_PAGE)):
        if grant.marker in str(entry.get("description", "")):
            return entry
        if read + 1 >= HISTORY_SCAN:
            raise UpstreamError(503, "upstream_unavailable", f"Flash's history holds more than {HISTORY_SCAN} "
                                "transactions since this grant was made: not searched to the end, not sent again")
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
    _write(grant, _applied(str(found.get("id", "")), RECONCILED), ~Q(state=GrantState.APPLIED))
    return True
