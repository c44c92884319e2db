from __future__ import annotations

from rest_framework import serializers

from core.catalog import Tier

from .models import APIKey, Environment


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class CreateKeySerializer(serializers.Serializer):
    name = StrictCharField(min_length=1, max_length=100, trim_whitespace=False)
    environment = serializers.ChoiceField(choices=Environment.choices)

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("name must not be blank.")
        return value


class KeyLimits(serializers.Serializer):
    """A key's limits, which follow its account's tier."""

    tier = serializers.ChoiceField(choices=Tier.choices, read_only=True)
    rate_limit = serializers.IntegerField(read_only=True, help_text="requests per minute")


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
        ]
        read_only_fields = fields


class KeyListSerializer(serializers.Serializer):
    keys = KeySerializer(many=True)


class CreatedKeySerializer(KeyLimits, serializers.ModelSerializer):
    """The one answer that carries the plaintext key."""

    key = serializers.CharField(help_text="Shown this once; store it now.")

    class Meta:
        model = APIKey
        fields = ["id", "key", "prefix", "name", "environment", "tier", "rate_limit", "created_at"]
        read_only_fields = fields

