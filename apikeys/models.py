from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models
from django.utils import timezone

from accounts.models import Account
from core.catalog import Tier, limits_for


class Environment(models.TextChoices):
    LIVE = "live", "Live"
    TEST = "test", "Test"


class APIKey(models.Model):
    """A developer key. Only its SHA-256 and its first 16 characters are stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_keys")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16, db_index=True)
    name = models.CharField(max_length=100)
    environment = models.CharField(max_length=4, choices=Environment.choices, default=Environment.LIVE)
    # Set by an operator (the benches raise it); empty: the tier's requests per minute.
    rate_limit_override = models.PositiveIntegerField(null=True, blank=True, help_text="requests per minute")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # CONTRACT.md §9. Credits this key's roll chain may spend in a calendar month (UTC);
    # empty: no budget.
    monthly_credit_limit = models.PositiveIntegerField(null=True, blank=True, help_text="credits per month (UTC)")
    # Refused from then on; a roll sets the old key's to the end of its grace period.
    expires_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces")
    # The first key of the roll chain: every key rolled from it spends from one monthly
    # budget, so a roll carries the month's spending over (apikeys/budgets.py).
    chain_id = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["account", "is_active"])]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def tier(self) -> Tier:
        """The account's tier: a key has the limits of the account it belongs to."""
        return Tier(self.account.effective_tier)

    @property
    def rate_limit(self) -> int:
        """Requests per minute: the operator's override, else the tier's."""
        if self.rate_limit_override is not None:
            return self.rate_limit_override
        return limits_for(self.tier).requests_per_minute

    @property
    def budget_chain(self) -> uuid.UUID:
        """Whose monthly spending this key's budget counts: its roll chain's."""
        return self.chain_id or self.id

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def concurrent(self) -> int:
        return limits_for(self.tier).concurrent


class TierChange(models.Model):
    """An operator's tier setting for an account, and who made it. The newest one
    is the account's `tier_override` (blank: back to the plan's tier)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tier_changes")
    tier_override = models.CharField(
        max_length=20, choices=Tier.choices, blank=True, help_text="blank: the tier of the account's plan"
    )
    note = models.CharField(max_length=255, help_text="why the tier was changed")
    changed_by = models.CharField(max_length=150, editable=False)
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-changed_at"]

    def __str__(self) -> str:
        return f"{self.account} → {self.tier_override or 'plan tier'}"
