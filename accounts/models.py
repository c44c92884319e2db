from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Case, CharField, F, IntegerField, Q, Value, When
from django.db.models.lookups import Exact

from core.catalog import Plan, Tier


class Account(models.Model):
    """A person known to billing: one per Auth0 `sub`, linked to Flash's user."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    external_id = models.CharField(max_length=255, unique=True, help_text="Auth0 sub")
    email = models.EmailField(blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    flash_user_id = models.CharField(max_length=64, unique=True)
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.FREE)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.FREE)
    # Set by an operator (e.g. enterprise); wins over the tier the plan implies.
    tier_override = models.CharField(max_length=20, choices=Tier.choices, blank=True)
    stripe_customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    # When the Stripe event that last set the plan happened: a late, older event
    # (Stripe does not deliver in order) must not undo a newer one.
    plan_changed_at = models.DateTimeField(null=True, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="account"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.email or self.external_id

    # DRF's permission classes ask the authenticated "user" these.
    is_authenticated = True
    is_anonymous = False

    @property
    def effective_tier(self) -> str:
        return self.tier_override or self.tier

    @staticmethod
    def effective_tier_expression(through: str = "") -> Case:
        """`effective_tier` as a database expression, to annotate, order and filter by.
        `through` is the lookup path from another model, e.g. "account__" for an API key."""
        return Case(When(**{f"{through}tier_override": ""}, then=F(f"{through}tier")),
                    default=F(f"{through}tier_override"), output_field=CharField())

    @staticmethod
    def effective_tier_rank_expression(through: str = "") -> Case:
        """The rank of `effective_tier` (free 0 < pro 1 < enterprise 2), to order by: the
        tiers' names sort enterprise < free < pro. Tier lists them from least to most."""
        shown = Account.effective_tier_expression(through)
        return Case(*(When(Exact(shown, tier), then=Value(rank)) for rank, tier in enumerate(Tier)),
                    output_field=IntegerField())

    @staticmethod
    def effective_tier_is(tier: str, through: str = "") -> Q:
        """`effective_tier == tier` as a query: the expression's rule, not a second copy."""
        return Q(Exact(Account.effective_tier_expression(through), tier))


class SessionToken(models.Model):
    """A billing session token (`tp_sess_…`), issued by POST /api/v1/auth/login.

    Only the SHA-256 of the token is stored; `prefix` lets operators tell tokens apart.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="session_tokens")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.account})"

    @property
    def is_active(self) -> bool:
        from django.utils import timezone

        return self.revoked_at is None and self.expires_at > timezone.now()
