from __future__ import annotations

from rest_framework import serializers


class UsageRangeQuery(serializers.Serializer):
    # "from" is a keyword: declared through the fields dict below.
    to = serializers.DateField(required=False)
    granularity = serializers.ChoiceField(choices=["day", "month"], required=False, default="day")


UsageRangeQuery._declared_fields["from"] = serializers.DateField(required=False)


class DailyUsage(serializers.Serializer):
    date = serializers.DateField()
    requests = serializers.IntegerField()
    errors = serializers.IntegerField()
    credits_spent = serializers.IntegerField()


class EndpointUsage(serializers.Serializer):
    endpoint = serializers.CharField(help_text="the route pattern, e.g. /api/v1/timepoints/<id>")
    requests = serializers.IntegerField()
    credits_spent = serializers.IntegerField()


class KeyShare(serializers.Serializer):
    key_id = serializers.UUIDField(allow_null=True, help_text="null: Auth0 or session calls")
    requests = serializers.IntegerField()
    credits_spent = serializers.IntegerField()


class KeyUsage(serializers.Serializer):
    key_id = serializers.UUIDField()
    total_requests = serializers.IntegerField()
    credits_spent = serializers.IntegerField()
    daily = DailyUsage(many=True)
    by_endpoint = EndpointUsage(many=True)


class PeriodUsage(DailyUsage):
    date = serializers.DateField(help_text="the day, or the first day of the month")


class AccountUsage(serializers.Serializer):
    to = serializers.DateField()
    granularity = serializers.ChoiceField(choices=["day", "month"])
    total_requests = serializers.IntegerField()
    errors = serializers.IntegerField(help_text="requests answered with a status of 400 or more")
    credits_spent = serializers.IntegerField()
    daily = PeriodUsage(many=True, help_text="one row per day (per month with granularity=month), zero-filled")
    by_endpoint = EndpointUsage(many=True)
    by_key = KeyShare(many=True)


AccountUsage._declared_fields["from"] = serializers.DateField()
