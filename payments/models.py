"""The grant ledger and the Stripe event log (seeds/004's `credit_grants` and
`billing_events`): every grant is written here before Flash is asked."""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class GrantState(models.TextChoices):
    PENDING = "pending", "Pending"
    # Still undelivered an hour after it was made: retried exactly as a pending grant,
    # and an operator has been alerted (docs/payments.md, "Grant states").
    STUCK = "stuck", "Stuck"
    APPLIED = "applied", "Applied"
    # Refused for a reason retrying cannot fix (last_error says which).
    FAILED = "failed", "Failed"
    # A refund reversal waiting for an operator (see docs/payments.md, "Refunds").
    HELD = "held", "Held for review"


# The states the worker keeps delivering until Flash takes the grant.
UNDELIVERED_STATES = (GrantState.PENDING, GrantState.STUCK)


class GrantSource(models.TextChoices):
    STRIPE = "stripe", "Stripe purchase"
    STRIPE_SUBSCRIPTION = "stripe_subscription", "Stripe subscription"
    STRIPE_REFUND = "stripe_refund", "Stripe refund"
    APPLE = "apple", "Apple in-app purchase"
    SIGNUP = "signup", "Signup"
    MANUAL = "manual", "Manual (operator)"


class TransactionType(models.TextChoices):
    """Flash's admin-grant transaction types that billing sends (seeds/000 §6)."""

    STRIPE_PURCHASE = "stripe_purchase"
    SUBSCRIPTION_GRANT = "subscription_grant"
    APPLE_IAP = "apple_iap"
    SIGNUP_BONUS = "signup_bonus"
    ADMIN_GRANT = "admin_grant"
    REFUND = "refund"


# What `CreditGrant.marker` puts into the description Flash keeps.
MARKER_PATTERN = re.compile(r"\s*\[grant ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\]")


class CreditGrant(models.Model):
    """One grant of credits to one account, and its delivery to Flash.

    `idempotency_key` is unique per source object (a checkout session, an invoice, an
    Apple transaction…), which is what makes a grant exactly-once however often the
    event arrives.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    idempotency_key = models.CharField(max_length=255, unique=True)
    source = models.CharField(max_length=32, choices=GrantSource.choices)
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="credit_grants")
    flash_user_id = models.CharField(max_length=64)
    amount = models.IntegerField(help_text="credits; negative for a refund reversal")
    transaction_type = models.CharField(max_length=32, choices=TransactionType.choices)
    description = models.CharField(max_length=255, blank=True)
    product = models.CharField(max_length=100, blank=True, help_text="package, plan or Apple product id")
    currency = models.CharField(max_length=3, blank=True)
    money_amount = models.IntegerField(null=True, blank=True, help_text="in the currency's minor unit")
    stripe_event_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_object_id = models.CharField(max_length=255, blank=True, help_text="session, invoice or charge id")
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_price_ids = models.JSONField(default=list, blank=True)
    apple_transaction_id = models.CharField(max_length=255, blank=True)
    reason = models.TextField(blank=True, help_text="why an operator granted this")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reverses = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals")

    state = models.CharField(max_length=16, choices=GrantState.choices, default=GrantState.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Set when an attempt may have reached Flash without us hearing back: the next
    # attempt first looks for this grant in Flash's history.
    outcome_unknown = models.BooleanField(default=False)
    flash_transaction_id = models.CharField(max_length=255, blank=True)
    # Each is set once, when the operators were alerted about this grant.
    key_refused_at = models.DateTimeField(null=True, blank=True,
                                          help_text="when Flash first refused billing's own key for it")
    stuck_at = models.DateTimeField(null=True, blank=True, help_text="when it was first marked stuck")
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.amount} credits ({self.transaction_type}) → {self.account_id} [{self.state}]"

    @property
    def marker(self) -> str:
        """Sent in Flash's description, so Flash's history shows whether it arrived."""
        return f"[grant {self.id}]"


class EventState(models.TextChoices):
    STARTED = "started", "Started"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    IGNORED = "ignored", "Ignored"


class StripeEvent(models.Model):
    """A verified Stripe webhook event, stored once (unique Stripe event id)."""

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=EventState.choices, default=EventState.STARTED, db_index=True)
    result = models.TextField(blank=True, help_text="what processing did, or why it failed")
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    mirrored_at = models.DateTimeField(null=True, blank=True, help_text="handed to dj-stripe")
    mirror_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"


class SalesReport(CreditGrant):
    """No table of its own: the admin's entry point to the sales page
    (`payments.sales`), with its own view permission."""

    class Meta:
        proxy = True
        verbose_name = "sales"
        verbose_name_plural = "sales"
