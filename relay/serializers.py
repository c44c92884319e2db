"""Request and response shapes of the relay, for the OpenAPI schema. The relay does
not validate bodies against them: Flash and Clockchain decide (their 4xx pass through)."""

from rest_framework import serializers


class GenerateRequest(serializers.Serializer):
    query = serializers.CharField(help_text="What to generate, e.g. 'The signing of the Magna Carta'.")
    preset = serializers.ChoiceField(choices=["balanced", "hd", "hyper", "gemini3"], required=False,
                                     default="balanced", help_text="hd needs a tier or plan with HD.")
    callback_url = serializers.URLField(required=False, help_text="Flash POSTs the result here when done.")
    request_context = serializers.DictField(required=False, help_text="Opaque; returned with the result.")


class Timepoint(serializers.Serializer):
    id = serializers.CharField()
    query = serializers.CharField(required=False)
    preset = serializers.CharField(required=False)
    visibility = serializers.CharField(required=False)


class VisibilityRequest(serializers.Serializer):
    visibility = serializers.ChoiceField(choices=["public", "private"])


class Balance(serializers.Serializer):
    balance = serializers.IntegerField()


class History(serializers.Serializer):
    transactions = serializers.ListField(child=serializers.DictField())
    total = serializers.IntegerField()


class Costs(serializers.Serializer):
    costs = serializers.DictField(child=serializers.IntegerField())

