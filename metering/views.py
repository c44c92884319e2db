from __future__ import annotations

import datetime as dt

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.models import APIKey
from core.errors import APIError
from core.permissions import IsHuman

from . import serializers, usage

DEFAULT_DAYS = 30
MAX_DAYS = 731

ERRORS = {
    400: OpenApiResponse(description="invalid_request: bad date or granularity, from after to, range too long"),
    401: OpenApiResponse(description="unauthenticated"),
    403: OpenApiResponse(description="forbidden: API keys cannot read usage"),
}

RANGE_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="first day (UTC), default 29 days before `to`"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="last day (UTC), default today"),
]


EARLIEST, LATEST = dt.date(1970, 1, 1), dt.date(9998, 12, 31)


def _range(request: Request) -> tuple[dt.date, dt.date, str]:
    query = serializers.UsageRangeQuery(data=request.query_params)
    if not query.is_valid():
        raise APIError(400, "invalid_request", "from and to are YYYY-MM-DD dates; granularity is day or month.")
    date_to = query.validated_data.get("to") or usage.today()
    date_from = query.validated_data.get("from")
    # Arithmetic on days near date.min/max overflows (a 500, found by the fuzzer).
    if not all(EARLIEST <= day <= LATEST for day in (date_to, date_from or date_to)):
        raise APIError(400, "invalid_request", f"Dates lie between {EARLIEST} and {LATEST}.")
    date_from = date_from or date_to - dt.timedelta(days=DEFAULT_DAYS - 1)
    if date_from > date_to:
        raise APIError(400, "invalid_request", "from is after to.")
    if (date_to - date_from).days >= MAX_DAYS:
        raise APIError(400, "invalid_request", f"A range covers at most {MAX_DAYS} days.")
    return date_from, date_to, query.validated_data["granularity"]


class KeyUsageView(APIView):
    permission_classes = [IsHuman]

    @extend_schema(
        summary="Usage of one of your API keys",
        description="Requests made with one of your keys and the credits they spent, in total, per day "
        "and per endpoint, over `from`…`to` (the last 30 days by default). Someone else's key answers "
        "404. Sign in to call this: API keys are refused with 403.",
        parameters=RANGE_PARAMETERS,
        responses={200: serializers.KeyUsage, **ERRORS, 404: OpenApiResponse(description="not_found")},
    )
    def get(self, request: Request, key_id) -> Response:
        date_from, date_to, _ = _range(request)
        key = APIKey.objects.filter(pk=key_id, account=request.user).first()
        if key is None:
            raise APIError(404, "not_found", "No such API key.")
        return Response(usage.key_usage(key, date_from, date_to))


class AccountUsageView(APIView):
    permission_classes = [IsHuman]

    @extend_schema(
        summary="Your account's usage over every key and session",
        description="Requests made by your account (every key, session and Auth0 token), the errors "
        "among them and the credits spent, as a `series` per day or month, per endpoint and per key, "
        "over `from`…`to` (the last 30 days by default; at most two years). Sign in to call this: "
        "API keys are refused with 403.",
        parameters=[
            *RANGE_PARAMETERS,
            OpenApiParameter("granularity", str, enum=["day", "month"], description="series per day or month"),
        ],
        responses={200: serializers.AccountUsage, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        date_from, date_to, granularity = _range(request)
        return Response(usage.account_usage(request.user, date_from, date_to, granularity))
