"""Auto-reload (CONTRACT.md §9): buy an account's chosen package with its saved card
when a balance billing reads falls below its threshold.

How one reload happens, exactly once (docs/payments.md, "Auto-reload"):

1. `balance_reported` receives core.signals.balance_seen on the request path. An
   account without auto-reload on costs a set lookup (`enabled_accounts`, a memo of
   this process refreshed every ENABLED_REFRESH_SECONDS: a relayed read by API key
   touches no database, and this must not add one); an account with it on, one indexed
   read of its settings; nothing else unless the balance is below the threshold and
   the current crossing has no reload yet.
2. `claim` locks the settings row, checks again (enabled, card saved, monthly cap),
   and writes a `Reload` row unique per (account, crossing): concurrent reads claim
   one. The row is the outbox: committed before Stripe is called.
3. `charge` makes the off-session PaymentIntent under the reload's idempotency key,
   after the response has been sent (`request_finished`), so a balance read never
   waits for Stripe. A reload whose first attempt never ran or never heard back is
   charged again by the payments worker (`process_due`) with the same key: Stripe
   answers with the first payment, never a second one.
4. Stripe's `payment_intent.succeeded` grants the credits through the grant ledger
   (webhooks.py); a declined payment turns auto-reload off, records why and emails
   the account.
"""

from __future__ import annotations

import logging
import math
import time
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from core.calendar import month_start
from core.catalog import CURRENCY, PACKAGES, cents
from core.db import release_connection
from core.errors import APIError
from upstreams import stripe as stripe_api

from .models import AutoReload, Reload, ReloadStatus

log = logging.getLogger("payments.autoreload")

# A reload's first attempt runs after the response; the worker takes over a reload
# still uncharged this long after its last attempt began.
LEASE = timedelta(seconds=60)
BACKOFF_MAX = timedelta(hours=1)
# Stripe keeps an idempotency key's answer 24 hours: past that, a retry could pay
# twice, so a reload Stripe never answered in time is given up (failed) before then.
GIVE_UP_AFTER = timedelta(hours=23)

# How stale this process's list of accounts with auto-reload on may be: an account
# that turns it on is reloaded by every worker within this many seconds (at once by the
# one that saved it). One query per worker per period, on the request path.
ENABLED_REFRESH_SECONDS = 10.0
# The settings' bounds, for the API and the portal's form alike.
MAX_THRESHOLD = 1_000_000
MAX_MONTHLY_LIMIT = 100
_enabled: tuple[float, frozenset] = (-math.inf, frozenset())

# The reloads claimed during the current request, charged once its response is sent.
# Made by the balance_seen receiver (sent only on the request path), so the requests of
# accounts without auto-reload never touch it; None elsewhere (the worker, a test, a
# shell calling claim()): charged at once.
_after_response: ContextVar[list[int] | None] = ContextVar("autoreload_after_response", default=None)


def counted_this_month(prefix: str = "") -> Q:
    """The reloads that count toward the monthly cap (`prefix`: the path to Reload from
    another model): those that charged or may still charge this calendar month (UTC); a
    declined one paid nothing."""
    return Q(**{f"{prefix}created_at__gte": month_start(timezone.now()),
                f"{prefix}status__in": [ReloadStatus.PENDING, ReloadStatus.SUCCEEDED]})


def reloads_this_month(account_id: Any) -> int:
    return Reload.objects.filter(counted_this_month(), account_id=account_id).count()


def settings_for(account: Any) -> AutoReload:
    """The account's settings, made (disabled) on first use."""
    row, _ = AutoReload.objects.get_or_create(account=account)
    return row


# --- the trigger ---------------------------------------------------------------------


def enabled_accounts() -> frozenset:
    """The ids of accounts with auto-reload on and a card saved, as of at most
    ENABLED_REFRESH_SECONDS ago. Only a shortcut: the claim checks the row itself."""
    global _enabled
    read_at, ids = _enabled
    now = time.monotonic()
    if now - read_at >= ENABLED_REFRESH_SECONDS:
        # Stamped before the query: under gevent the query lets other requests run, and
        # they keep the list they have rather than all reading it again at once.
        _enabled = (now, ids)
        ids = frozenset(AutoReload.objects.filter(enabled=True).exclude(payment_method_id="")
                        .values_list("account_id", flat=True))
        _enabled = (now, ids)
        release_connection()  # on the request path, maybe before a stream: not held
    return ids


def forget_enabled() -> None:
    """This process reads the list again on the next balance (a setting changed here)."""
    global _enabled
    _enabled = (-math.inf, frozenset())



def balance_reported(sender: object, account: Any, balance: object, **kwargs: object) -> None:
    """core.signals.balance_seen: never fails the request it rides on."""
    if not isinstance(balance, int) or isinstance(balance, bool) or account is None:
        return
    try:
        if account.pk not in enabled_accounts():
            return
    except Exception:
        log.exception("the accounts with auto-reload on could not be read")
        return
    try:
        if _after_response.get() is None:
            _after_response.set([])
        note_balance(account, balance)
    except Exception:
        log.exception("auto-reload check for account %s failed", getattr(account, "pk", "?"))
    finally:
        # Sent before and after Flash is called, a generation's stream included: the
        # pooled connection goes back now rather than being held for the stream.
        release_connection()


def note_balance(account: Any, balance: int) -> Reload | None:
    """React to a balance billing read: claim a reload when it is due; start the next
    crossing when the balance is back at or above the threshold after a reload."""
    row = AutoReload.objects.filter(account_id=account.pk).only(
        "enabled", "threshold", "payment_method_id", "stripe_customer_id", "crossing", "reloaded_crossing").first()
    if row is None:
        return None
    if balance >= row.threshold:
        if row.reloaded_crossing == row.crossing:
            # Compare-and-set: racing reads start the next crossing once.
            AutoReload.objects.filter(pk=row.pk, crossing=row.crossing).update(crossing=F("crossing") + 1)
        return None
    return claim(account, balance) if is_due(row, balance) else None


def is_due(row: AutoReload, balance: int) -> bool:
    """Whether the balance calls for a reload the current crossing has not had yet:
    asked first without a lock (most reads end here), then again under it."""
    return (row.enabled and row.has_payment_method and balance < row.threshold
            and row.reloaded_crossing != row.crossing)


def claim(account: Any, balance: int) -> Reload | None:
    """The reload of the account's current crossing, if this caller is the one to make
    it (None when another did, or it is not due). Committed before Stripe is called."""
    with transaction.atomic():
        row = AutoReload.objects.select_for_update().filter(account_id=account.pk).first()
        if row is None or not is_due(row, balance):
            return None
        package = PACKAGES.get(row.package)
        if package is None:
            log.error("auto-reload of account %s names unknown package %r", account.pk, row.package)
            return None
        if reloads_this_month(account.pk) >= row.monthly_limit:
            log.info("auto-reload of account %s: monthly limit %s reached", account.pk, row.monthly_limit)
            return None
        try:
            with transaction.atomic():
                reload = Reload.objects.create(
                    account_id=account.pk, crossing=row.crossing,
                    idempotency_key=f"autoreload:{account.pk}:{row.crossing}", package=package.id,
                    credits=package.credits, amount=cents(package.price), currency=CURRENCY, balance=balance,
                    threshold=row.threshold, payment_method_id=row.payment_method_id,
                    stripe_customer_id=row.stripe_customer_id, next_attempt_at=timezone.now() + LEASE)
        except IntegrityError:  # the crossing's reload exists (the row lock makes this rare)
            return None
        AutoReload.objects.filter(pk=row.pk).update(reloaded_crossing=row.crossing)
        transaction.on_commit(lambda: _charge_soon(reload.pk))
    log.info("auto-reload %s claimed for account %s (balance %s < %s)", reload.pk, account.pk, balance,
             row.threshold)
    return reload


def _charge_soon(reload_id: int) -> None:
    pending = _after_response.get()
    if pending is None:
        charge_quietly(reload_id)
    else:
        pending.append(reload_id)


def request_finished(**kwargs: object) -> None:
    """The response is sent (WSGI servers close it after writing): charge the reloads
    this request claimed. Every request ends here, so one that noted no balance of an
    account with auto-reload on costs a lookup; resetting here also keeps a thread that
    serves the next request from inheriting this one's list."""
    pending = _after_response.get()
    if pending is None:
        return
    _after_response.set(None)
    if not pending:
        return
    for reload_id in pending:
        charge_quietly(reload_id)
    # Django's own request_finished receiver has already run: give back the pooled
    # connection the charge used, or the pool would lose it with this greenlet.
    release_connection()


# --- the charge ----------------------------------------------------------------------


def charge_quietly(reload_id: int) -> None:
    """The first attempt: whatever goes wrong is the worker's to retry."""
    try:
        charge(reload_id)
    except Exception:
        log.exception("first charge attempt of reload %s failed; the worker will retry", reload_id)


def charge(reload_id: int, *, due_only: bool = False) -> str | None:
    """One attempt to make the reload's PaymentIntent; returns the reload's status, or
    None when another attempt holds it (or it needs none)."""
    reload = Reload.objects.filter(pk=reload_id, status=ReloadStatus.PENDING, payment_intent_id="").first()
    if reload is None:
        return None
    now = timezone.now()
    if now - reload.created_at > GIVE_UP_AFTER:
        return fail(reload, "Stripe could not be reached to make the payment; nothing was charged. "
                            "Turn auto-reload on again to retry.", notify=True)
    # Compare-and-set on attempts: one attempt at a time holds the lease.
    guard = Reload.objects.filter(pk=reload.pk, status=ReloadStatus.PENDING, payment_intent_id="",
                                  attempts=reload.attempts)
    if due_only:
        guard = guard.filter(next_attempt_at__lte=now)
    if not guard.update(attempts=F("attempts") + 1, next_attempt_at=now + LEASE):
        return None
    reload.attempts += 1
    try:
        intent = stripe_api.create_payment_intent(reload.idempotency_key, **payment_params(reload))
    except stripe_api.PaymentRefused as exc:
        if exc.payment_intent:
            Reload.objects.filter(pk=reload.pk, payment_intent_id="").update(payment_intent_id=exc.payment_intent)
        return fail(reload, exc.message + (f" ({exc.code})" if exc.code else ""), notify=True)
    except stripe_api.PaymentUnknown as exc:
        wait = min(LEASE * (2 ** reload.attempts), BACKOFF_MAX)
        Reload.objects.filter(pk=reload.pk, status=ReloadStatus.PENDING).update(
            error=str(exc), next_attempt_at=timezone.now() + wait)
        log.warning("reload %s: %s; retried in %s", reload.pk, exc, wait)
        return ReloadStatus.PENDING
    Reload.objects.filter(pk=reload.pk).update(payment_intent_id=intent["id"], charged_at=timezone.now(), error="")
    log.info("reload %s: payment intent %s %s", reload.pk, intent["id"], intent.get("status"))
    return ReloadStatus.PENDING


def payment_params(reload: Reload) -> dict[str, Any]:
    return {
        "amount": reload.amount, "currency": reload.currency, "customer": reload.stripe_customer_id,
        "payment_method": reload.payment_method_id, "off_session": True, "confirm": True,
        "description": f"Auto-reload: {reload.credits} credits",
        "metadata": {"account_id": str(reload.account_id), "package": reload.package,
                     "credits": str(reload.credits), "auto_reload": "1"},
    }


def process_due(limit: int = 50) -> int:
    """The worker's part: charge reloads whose first attempt never ran or never heard
    back (the same idempotency key: at most one payment each). Returns attempts made."""
    due = list(Reload.objects.filter(status=ReloadStatus.PENDING, payment_intent_id="",
                                     next_attempt_at__lte=timezone.now()).order_by("next_attempt_at")
               .values_list("pk", flat=True)[:limit])
    return sum(1 for reload_id in due if charge(reload_id, due_only=True) is not None)


# --- outcomes --------------------------------------------------------------------------


def succeed(reload: Reload, grant: Any) -> None:
    """Stripe confirmed the payment: the reload is done, with the grant it paid for.
    Only a pending reload (the same compare-and-set on the status as fail())."""
    Reload.objects.filter(pk=reload.pk, status=ReloadStatus.PENDING).update(
        status=ReloadStatus.SUCCEEDED, grant=grant, finished_at=timezone.now(), error="")


def fail(reload: Reload, error: str, *, notify: bool) -> str:
    """The reload paid nothing: auto-reload off with the reason; one email, sent by
    whichever of the API answer and the webhook records the failure first (the
    compare-and-set on the status decides)."""
    with transaction.atomic():
        if not Reload.objects.filter(pk=reload.pk, status=ReloadStatus.PENDING).update(
                status=ReloadStatus.FAILED, error=error, finished_at=timezone.now()):
            return ReloadStatus.FAILED
        _turn_off(reload.account, error, reload.credits, notify=notify)
    log.warning("reload %s of account %s failed: %s; auto-reload turned off", reload.pk, reload.account_id, error)
    return ReloadStatus.FAILED


def fail_unmatched(account: Any, error: str, credits: int | None) -> None:
    """A failed auto-reload payment with no reload of billing's to match it (made before
    a restore of the database, or at Stripe by hand with the metadata): CONTRACT.md §9's
    rule holds all the same, auto-reload off with the reason and the account emailed.
    Once per event: the webhook stores each event once."""
    with transaction.atomic():
        AutoReload.objects.get_or_create(account=account)
        _turn_off(account, error, credits, notify=True)
    log.warning("an auto-reload payment of account %s failed with no reload matching it: %s; auto-reload turned "
                "off", account.pk, error)


def _turn_off(account: Any, error: str, credits: int | None, *, notify: bool) -> None:
    now = timezone.now()
    # A new failure is news to operators even if they marked the last one as seen.
    AutoReload.objects.filter(account_id=account.pk).update(enabled=False, last_error=error, error_at=now,
                                                            error_seen_at=None, error_seen_by=None)
    transaction.on_commit(forget_enabled)
    if notify:
        # After the commit: a rolled-back failure (a webhook that failed) sends none.
        transaction.on_commit(lambda: email_failure(account, credits, error))


def email_failure(account: Any, credits: int | None, error: str) -> None:
    """Never raises: the failure is recorded whether or not the email goes out."""
    email = account.email
    if not email:
        return
    what = f"{credits} credits" if credits else "credits"
    try:
        send_mail(
            subject="Your TIMEPOINT auto-reload failed",
            message=(f"We could not buy {what} with your saved card: {error}\n\n"
                     "Auto-reload is now off. Update your card and turn it on again in the portal."),
            from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[email])
    except Exception:
        log.exception("the auto-reload failure email for account %s could not be sent", account.pk)


def reload_for_intent(intent: dict, account_id: Any) -> Reload | None:
    """The reload a payment intent paid for: by its id, else the account's oldest
    pending reload not yet linked (the webhook can arrive before the API answer)."""
    found = Reload.objects.filter(payment_intent_id=intent.get("id") or "-").first()
    if found is None:
        found = (Reload.objects.select_for_update().filter(account_id=account_id, status=ReloadStatus.PENDING,
                                                           payment_intent_id="").order_by("created_at").first())
        if found is not None:
            Reload.objects.filter(pk=found.pk).update(payment_intent_id=intent.get("id") or "")
    return found


def describe(account: Any) -> dict[str, Any]:
    """The contract's view of the account's auto-reload."""
    row = AutoReload.objects.filter(account_id=account.pk).first() or AutoReload(account_id=account.pk)
    return {
        "enabled": row.enabled, "threshold": row.threshold, "package": row.package,
        "monthly_limit": row.monthly_limit, "reloads_this_month": reloads_this_month(account.pk),
        "payment_method": ({"brand": row.payment_method_brand, "last4": row.payment_method_last4}
                           if row.has_payment_method else None),
        "last_error": row.last_error or None,
    }


def update(account: Any, changes: dict[str, Any]) -> None:
    """Apply a PUT's fields; enabling needs a saved card (APIError 400 otherwise).
    Turning it on again starts a new crossing, so a reload that failed can be retried."""
    with transaction.atomic():
        row, _ = AutoReload.objects.select_for_update().get_or_create(account=account)
        turning_on = changes.get("enabled") is True and not row.enabled
        if changes.get("enabled", row.enabled) and not row.has_payment_method:
            raise APIError(400, "invalid_request", "Save a card first (POST /api/v1/billing/payment-method).")
        for name, value in changes.items():
            setattr(row, name, value)
        if turning_on:
            row.last_error = ""
            if row.reloaded_crossing == row.crossing:
                row.crossing += 1
        row.save()
    forget_enabled()


def unseen_failures(rows: QuerySet) -> QuerySet:
    """Those of `rows` that a failed charge turned off and no operator has marked seen."""
    return rows.filter(enabled=False, error_seen_at__isnull=True).exclude(last_error="")


def mark_seen(rows: QuerySet, user: Any, listed_at: datetime | None = None) -> int:
    """An operator's "Mark as seen" of the failures that turned these auto-reloads off:
    out of the index's "needs attention" box until a charge fails again. `last_error`
    stays what the account holder reads (CONTRACT.md §9). With `listed_at` (when the
    operator's list was rendered), a failure that came after it is not marked: the
    operator has not seen it. Returns how many were marked."""
    failed = unseen_failures(rows)
    if listed_at is not None:
        failed = failed.exclude(error_at__gt=listed_at)
    return failed.update(error_seen_at=timezone.now(), error_seen_by=user)


def save_payment_method(account: Any, customer: str, payment_method_id: str, brand: str, last4: str) -> None:
    """The card a setup-mode Checkout saved; the next reloads pay with it."""
    settings_for(account)
    AutoReload.objects.filter(pk=account.pk).update(
        stripe_customer_id=customer, payment_method_id=payment_method_id, payment_method_brand=brand[:32],
        payment_method_last4=last4[:4], payment_method_saved_at=timezone.now(), last_error="")
