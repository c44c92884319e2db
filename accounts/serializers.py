from __future__ import annotations

from rest_framework import serializers

from .models import Account


class UserSerializer(serializers.ModelSerializer):
    """The `user` object of CONTRACT.md §4."""

    tier = serializers.CharField(source="effective_tier", read_only=True)

    class Meta:
        model = Account
        fields = ["id", "external_id", "email", "flash_user_id", "tier", "plan"]
        read_only_fields = fields


class LoginSerializer(serializers.Serializer):
    session_token = serializers.CharField(help_text="tp_sess_…, shown once")
    expires_at = serializers.DateTimeField()
    user = UserSerializer()
