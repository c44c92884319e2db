"""Low-credit alerts (seeds/003 "Low Credit Alerts"): one email each time an
account's Flash balance crosses below the threshold."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from core import catalog

from .models import LowCreditAlert

log = logging.getLogger("metering.alerts")


def threshold() -> int:
    return catalog.LOW_BALANCE


def at_or_above_threshold(balance: object) -> bool:
    """A balance that, seen on a relayed call, only clears the account's alert."""
    return isinstance(balance, int) and not isinstance(balance, bool) and balance >= threshold()


def clear_alerts(account_ids: list) -> None:
    """Forget the crossing of these accounts (their balance is back at or above the
    threshold): one DELETE statement for all of them. QuerySet.delete() would wrap it in
    a transaction of its own; nothing cascades from an alert row, nor listens for its
    deletion."""
    if account_ids:
        alerts = LowCreditAlert.objects.filter(account_id__in=account_ids)
        alerts._raw_delete(alerts.db)


def alert_if_low(account: Any, balance: int) -> bool:
    """React to a balance seen on a relayed call. Returns True when an email went out.

    The LowCreditAlert row is the memory of the crossing: created (once, the unique
    account makes racing workers agree) when the balance drops below the threshold,
    deleted when it is back at or above it, so the next drop alerts again."""
    try:
        balance = int(balance)
        if balance >= threshold():
            clear_alerts([account.pk])
            return False
        try:
            with transaction.atomic():
                _, created = LowCreditAlert.objects.get_or_create(account=account, defaults={"balance": balance})
        except IntegrityError:  # another worker recorded this crossing first
            return False
        if not created:
            return False
        if account.email:
            send_mail(
                subject="Your TIMEPOINT credits are running low",
                message=(
                    f"Your balance is {balance} credits, below {threshold()}.\n"
                    "Buy credits or change your plan in the portal to keep generating."
                ),
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[account.email],
            )
        return True
    except Exception:
        # An alert is a courtesy: it must never fail the request it rides on.
        log.exception("low-credit alert for account %s failed", getattr(account, "pk", "?"))
        return False
