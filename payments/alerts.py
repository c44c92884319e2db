"""Telling the operators about a grant that needs a person: one ERROR log line and
one email to `OPERATOR_EMAILS` per alert. Callers decide when an alert is due (each
grant's alerts are guarded by a field set once); this only delivers it."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from .models import CreditGrant

log = logging.getLogger("payments.alerts")

SUBJECT_PREFIX = "[timepoint-billing] "


def grant_alert(grant: CreditGrant, subject: str, explanation: str) -> None:
    """Alert the operators about `grant`. Never raises: a failed email must not undo
    or repeat the state change it reports (the log line is written first)."""
    admin_path = reverse("admin:payments_creditgrant_change", args=[grant.pk])
    body = (
        f"{explanation}\n\n"
        f"Grant: {grant.pk}\n"
        f"Account: {grant.account_id}\n"
        f"Credits: {grant.amount} ({grant.transaction_type}, source {grant.source})\n"
        f"Created: {grant.created_at:%Y-%m-%d %H:%M:%S} UTC\n"
        f"Attempts: {grant.attempts}\n"
        f"Last error: {grant.last_error or '-'}\n"
        f"Admin: {admin_path}\n"
    )
    log.error("ALERT %s: grant %s (%s credits, account %s): %s Last error: %s", subject, grant.pk, grant.amount,
              grant.account_id, explanation, grant.last_error or "-")
    if not settings.OPERATOR_EMAILS:
        log.warning("OPERATOR_EMAILS is empty: the alert about grant %s went to the log only", grant.pk)
        return
    try:
        send_mail(subject=SUBJECT_PREFIX + subject, message=body, from_email=settings.DEFAULT_FROM_EMAIL,
                  recipient_list=settings.OPERATOR_EMAILS)
    except Exception:
        log.exception("the alert email about grant %s could not be sent", grant.pk)
