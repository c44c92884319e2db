from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers


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
