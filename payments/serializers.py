from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from core.catalog import PACKAGES
from core.fields import StrictBooleanField, StrictIntegerField

from .autoreload import MAX_MONTHLY_LIMIT, MAX_THRESHOLD


class PlanSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    credits_per_month = serializers.IntegerField()
    price = serializers.CharField()
    currency = serializers.CharField()
    hd = serializers.BooleanField()
    tier = serializers.CharField()


class PackageSerializer(serializers.Serializer):
    id = serializers.CharField()
    credits = serializers.IntegerField()
    price = serializers.CharField()
    currency = serializers.CharField()


class AppleProductSerializer(serializers.Serializer):
    product_id = serializers.CharField()
    credits = serializers.IntegerField()


class PlansSerializer(serializers.Serializer):
    plans = PlanSerializer(many=True)
    packages = PackageSerializer(many=True)
    apple_products = AppleProductSerializer(many=True)


class CheckoutRequestSerializer(serializers.Serializer):
    package = serializers.CharField(required=False)
    plan = serializers.CharField(required=False)


class CheckoutSerializer(serializers.Serializer):
    checkout_url = serializers.URLField()
    session_id = serializers.CharField()


@extend_schema_serializer(component_name="Portal")  # the name the published schema has always had
class BillingPortalSerializer(serializers.Serializer):
    url = serializers.URLField()


class WebhookAckSerializer(serializers.Serializer):
    received = serializers.BooleanField()


class ReceiptRequestSerializer(serializers.Serializer):
    signed_transaction = serializers.CharField(required=False, max_length=20000)
    receipt_data = serializers.CharField(required=False, max_length=200000)

    def validate(self, attrs: dict) -> dict:
        if bool(attrs.get("signed_transaction")) == bool(attrs.get("receipt_data")):
            raise serializers.ValidationError("Give exactly one of signed_transaction or receipt_data.")
        return attrs


class ReceiptSerializer(serializers.Serializer):
    granted = serializers.BooleanField()
    credits = serializers.IntegerField()
    transaction_id = serializers.CharField()


class PaymentMethodSummarySerializer(serializers.Serializer):
    brand = serializers.CharField()
    last4 = serializers.CharField()


class AutoReloadSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    threshold = serializers.IntegerField()
    package = serializers.CharField()
    monthly_limit = serializers.IntegerField()
    reloads_this_month = serializers.IntegerField()
    payment_method = PaymentMethodSummarySerializer(allow_null=True)
    last_error = serializers.CharField(allow_null=True)


class AutoReloadUpdateSerializer(serializers.Serializer):
    enabled = StrictBooleanField(required=False)
    threshold = StrictIntegerField(required=False, min_value=1, max_value=MAX_THRESHOLD)
    package = serializers.ChoiceField(required=False, choices=sorted(PACKAGES))
    monthly_limit = StrictIntegerField(required=False, min_value=1, max_value=MAX_MONTHLY_LIMIT)

    # What GET answers besides the settings: a client may PUT back the object it read, so
    # these are ignored rather than refused (they are billing's to set, never the caller's).
    READ_ONLY = frozenset({"reloads_this_month", "payment_method", "last_error"})

    def validate(self, attrs: dict) -> dict:
        unknown = set(self.initial_data) - set(self.fields) - self.READ_ONLY
        if unknown:
            raise serializers.ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
        if not attrs:
            raise serializers.ValidationError("Give at least one of enabled, threshold, package, monthly_limit.")
        return attrs
