from __future__ import annotations

from datetime import datetime

from rest_framework import serializers

from core.catalog import Tier
from core.fields import StrictCharField, StrictIntegerField

from .keys import expiry_problem
from .models import APIKey, Environment

MAX_GRACE_SECONDS = 7 * 24 * 3600
DEFAULT_GRACE_SECONDS = 24 * 3600


class KeySettings(serializers.Serializer):
    """The settings a key's owner chooses: its name, budget and expiry."""

    name = StrictCharField(min_length=1, max_length=100, trim_whitespace=False)
    monthly_credit_limit = StrictIntegerField(
        min_value=1, max_value=2**31 - 1, allow_null=True, required=False,
        help_text="Credits this key may spend per calendar month (UTC); null: no budget. Generations past it "
                  "are refused with 402 budget_exceeded before anything is spent.")
    expires_at = serializers.DateTimeField(
        allow_null=True, required=False,
        help_text="When the key stops working (ISO 8601, in the future, at most 366 days ahead); null: never.")

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("name must not be blank.")
        return value

    def validate_expires_at(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        problem = expiry_problem(value)
        if problem:
            raise serializers.ValidationError(f"expires_at {problem}.")
        return value


class CreateKeySerializer(KeySettings):
    environment = serializers.ChoiceField(choices=Environment.choices)


class UpdateKeySerializer(KeySettings):
    """PATCH: any of the settings; the others stay as they are."""

    name = StrictCharField(min_length=1, max_length=100, trim_whitespace=False, required=False)

    def validate(self, attrs: dict) -> dict:
        # Refused rather than ignored: beside a change that is made, an ignored one would
        # look made too (CONTRACT.md §9 names the three fields a PATCH may change).
        fixed = sorted(set(self.initial_data) - set(self.fields))
        if fixed:
            raise serializers.ValidationError(f"Only name, monthly_credit_limit and expires_at can be changed, "
                                              f"not {', '.join(name[:40] for name in fixed[:5])}.")
        if not attrs:
            raise serializers.ValidationError("Give at least one of name, monthly_credit_limit, expires_at.")
        return attrs


class RollKeySerializer(serializers.Serializer):
    grace_seconds = StrictIntegerField(
        min_value=0, max_value=MAX_GRACE_SECONDS, default=DEFAULT_GRACE_SECONDS,
        help_text="How long the old key keeps working, in seconds (0 to 604800, default 86400).")


class KeyLimits(serializers.Serializer):
    """A key's limits, which follow its account's tier, and its budget. Serialised keys
    carry `credits_spent_this_month` (apikeys.budgets.with_spending)."""

    tier = serializers.ChoiceField(choices=Tier.choices, read_only=True)
    rate_limit = serializers.IntegerField(read_only=True, help_text="requests per minute")
    credits_spent_this_month = serializers.IntegerField(
        read_only=True, help_text="Credits spent this calendar month (UTC) by this key and the keys it was "
                                  "rolled from.")


class KeySerializer(KeyLimits, serializers.ModelSerializer):
    """A key as its owner sees it: never the key itself nor its hash."""

    class Meta:
        model = APIKey
        fields = [
            "id",
            "prefix",
            "name",
            "environment",
            "tier",
            "rate_limit",
            "is_active",
            "created_at",
            "last_used_at",
            "revoked_at",
            "monthly_credit_limit",
            "expires_at",
            "credits_spent_this_month",
            "replaced_by",
        ]
        read_only_fields = fields


class KeyListSerializer(serializers.Serializer):
    keys = KeySerializer(many=True)


class CreatedKeySerializer(KeyLimits, serializers.ModelSerializer):
    """The one answer that carries the plaintext key."""

    key = serializers.CharField(help_text="Shown this once; store it now.")

    class Meta:
        model = APIKey
        fields = ["id", "key", "prefix", "name", "environment", "tier", "rate_limit", "created_at",
                  "monthly_credit_limit", "expires_at", "credits_spent_this_month", "replaced_by"]
        read_only_fields = fields

