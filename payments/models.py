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
    # A refund or dispute reversal waiting for an operator (docs/payments.md, "Refunds").
    HELD = "held", "Held for review"
    # A held dispute reversal the dispute's win made unnecessary: never sent.
    RELEASED = "released", "Released (dispute won)"


# The states the worker keeps delivering until Flash takes the grant.
UNDELIVERED_STATES = (GrantState.PENDING, GrantState.STUCK)


class GrantSource(models.TextChoices):
    STRIPE = "stripe", "Stripe purchase"
    STRIPE_SUBSCRIPTION = "stripe_subscription", "Stripe subscription"
    STRIPE_REFUND = "stripe_refund", "Stripe refund"
    STRIPE_DISPUTE = "stripe_dispute", "Stripe dispute"
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


class DifferenceKind(models.TextChoices):
    """What reconciliation can find between Stripe, the ledger and Flash (issue #16)."""

    PAID_NO_GRANT = "paid_no_grant", "Paid, no grant"
    GRANT_OVERDUE = "grant_overdue", "Grant pending or failed past its deadline"
    NOT_IN_FLASH = "not_in_flash", "Applied, not in Flash's history"
    NOT_BILLINGS = "flash_unexplained", "In Flash, no local grant"
    AMOUNT_MISMATCH = "amount_mismatch", "Amount mismatch"
    REVERSAL_MISSING = "reversal_missing", "Refund or dispute without its held reversal"
    UNREADABLE = "unreadable", "Unreadable Stripe object or Flash entry"


class RunOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    CLEAN = "clean", "Clean"
    DIFFERENCES = "differences", "Unexplained differences"
    FAILED = "failed", "Could not complete"


class ReconciliationRun(models.Model):
    """One `reconcile_ledger` run over a window: what each side held, per day, and how
    many differences it found."""

    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    since = models.DateTimeField()
    until = models.DateTimeField()
    repair = models.BooleanField(default=False)
    triggered_by = models.CharField(max_length=150, blank=True, help_text="command line, or the operator")
    outcome = models.CharField(max_length=16, choices=RunOutcome.choices, default=RunOutcome.RUNNING)
    error = models.TextField(blank=True)
    counts = models.JSONField(default=dict, blank=True, help_text="objects read on each side")
    daily = models.JSONField(default=list, blank=True, help_text="per-day totals of the three sides")
    found = models.PositiveIntegerField(default=0)
    unexplained = models.PositiveIntegerField(default=0)
    repaired = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = "reconciliation"
        verbose_name_plural = "reconciliation"

    def __str__(self) -> str:
        return f"run {self.pk} ({self.get_outcome_display()})"


class Difference(models.Model):
    """A difference between the sides, kept across runs under a stable key (so that an
    operator's explanation sticks): open until explained, repaired, or no longer found
    by a run whose window covers it."""

    key = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=32, choices=DifferenceKind.choices, db_index=True)
    occurred_at = models.DateTimeField(db_index=True, help_text="when what it is about happened")
    detail = models.TextField()
    account = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    grant = models.ForeignKey(CreditGrant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    stripe_object_id = models.CharField(max_length=255, blank=True)
    flash_transaction_id = models.CharField(max_length=255, blank=True)
    runs = models.ManyToManyField(ReconciliationRun, related_name="differences")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    repaired_grant = models.ForeignKey(CreditGrant, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+", help_text="recorded by --repair")
    explained_at = models.DateTimeField(null=True, blank=True)
    explained_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    explanation = models.TextField(blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["resolved_at", "explained_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.stripe_object_id or self.flash_transaction_id or self.grant_id}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None and self.explained_at is None


class AutoReload(models.Model):
    """An account's auto-reload settings and saved card (CONTRACT.md §9, "Auto-reload").

    `crossing` numbers the account's drops below the threshold: a reload is claimed at
    most once per crossing (`reloaded_crossing`), and the next crossing starts when a
    balance at or above the threshold is seen after a reload (docs/payments.md)."""

    account = models.OneToOneField("accounts.Account", on_delete=models.CASCADE, primary_key=True,
                                   related_name="auto_reload")
    enabled = models.BooleanField(default=False)
    threshold = models.PositiveIntegerField(default=20, help_text="reload when the balance is below this")
    package = models.CharField(max_length=100, default="100_credits", help_text="the credit package bought")
    monthly_limit = models.PositiveIntegerField(default=3, help_text="reloads per calendar month (UTC)")
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    payment_method_id = models.CharField(max_length=255, blank=True)
    payment_method_brand = models.CharField(max_length=32, blank=True)
    payment_method_last4 = models.CharField(max_length=4, blank=True)
    payment_method_saved_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # When a failed charge set last_error: "Mark as seen" marks only failures the
    # operator's list already showed, not one that landed after it was rendered.
    error_at = models.DateTimeField("failed at", null=True, blank=True)
    # An operator's "Mark as seen" of the failure in last_error (admin): takes it out of
    # the index's "needs attention" box while the customer still sees last_error. The
    # next failure clears both (autoreload.fail()), so it is counted again.
    error_seen_at = models.DateTimeField(null=True, blank=True)
    error_seen_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+")
    crossing = models.PositiveIntegerField(default=0)
    reloaded_crossing = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "auto-reload"
        verbose_name_plural = "auto-reloads"

    def __str__(self) -> str:
        return f"auto-reload of {self.account_id} ({'on' if self.enabled else 'off'})"

    @property
    def has_payment_method(self) -> bool:
        return bool(self.payment_method_id and self.stripe_customer_id)


class ReloadStatus(models.TextChoices):
    # Claimed: the payment intent is being (or about to be) made, or is waiting for
    # Stripe's payment_intent.succeeded.
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Reload(models.Model):
    """One auto-reload: one threshold crossing, one off-session PaymentIntent.

    The unique (account, crossing) pair is what makes concurrent triggers claim one
    reload; `idempotency_key` is sent to Stripe, so a retried or repeated call makes
    no second payment."""

    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="reloads")
    crossing = models.PositiveIntegerField()
    idempotency_key = models.CharField(max_length=255, unique=True)
    package = models.CharField(max_length=100)
    credits = models.PositiveIntegerField()
    amount = models.PositiveIntegerField(help_text="in the currency's minor unit")
    currency = models.CharField(max_length=3)
    balance = models.IntegerField(help_text="the balance seen below the threshold")
    threshold = models.PositiveIntegerField()
    payment_method_id = models.CharField(max_length=255)
    stripe_customer_id = models.CharField(max_length=255)
    payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=ReloadStatus.choices, default=ReloadStatus.PENDING,
                              db_index=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="calls made to Stripe")
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    grant = models.ForeignKey(CreditGrant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    charged_at = models.DateTimeField(null=True, blank=True, help_text="when Stripe made the payment intent")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["account", "crossing"], name="one_reload_per_crossing")]

    def __str__(self) -> str:
        return f"reload {self.pk}: {self.credits} credits for {self.account_id} [{self.status}]"
