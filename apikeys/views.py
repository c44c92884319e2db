"""Key management for people (CONTRACT.md §5): API keys themselves get 403 here."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsHuman
from timepoint_billing.errors import APIError

from . import keys
from .models import APIKey
from .serializers import (
    CreatedKeySerializer,
    CreateKeySerializer,
    ErrorEnvelopeSerializer,
    KeyListSerializer,
    KeySerializer,
)


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorEnvelopeSerializer, description)


ERRORS = {
    401: error("unauthenticated"),
    403: error("forbidden: API keys cannot manage keys"),
    429: error("rate_limited, with Retry-After"),
}


class CountedFirst:
    """Throttle before permissions, so that an API key refused here (403) still
    counts toward its requests per minute like every authenticated request."""

    def check_permissions(self, request: Request) -> None:
        super().check_throttles(request)
        super().check_permissions(request)

    def check_throttles(self, request: Request) -> None:
        """Done in check_permissions, before them."""


class KeysView(CountedFirst, APIView):
    permission_classes = [IsHuman]

    @extend_schema(responses={200: KeyListSerializer, **ERRORS}, tags=["keys"], summary="List your API keys")
    def get(self, request: Request) -> Response:
        own = APIKey.objects.filter(account=request.user)
        return Response({"keys": KeySerializer(own, many=True).data})

    @extend_schema(
        request=CreateKeySerializer,
        responses={
            201: CreatedKeySerializer,
            400: error("invalid_request: bad name or environment, or too many active keys"),
            **ERRORS,
        },
        tags=["keys"],
        summary="Create an API key",
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise APIError(400, "invalid_request", "The body must be a JSON object.")
        form = CreateKeySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        key, plaintext = keys.create_key(request.user, form.validated_data["name"], form.validated_data["environment"])
        key.key = plaintext
        return Response(CreatedKeySerializer(key).data, status=201)


class KeyView(CountedFirst, APIView):
    permission_classes = [IsHuman]

    @extend_schema(
        responses={204: None, 404: error("not_found: no such key of yours"), **ERRORS},
        tags=["keys"],
        summary="Revoke an API key",
    )
    def delete(self, request: Request, key_id: UUID) -> Response:
        key = APIKey.objects.filter(pk=key_id, account=request.user).first()
        if key is None:
            raise APIError(404, "not_found", "No such key.")
        keys.revoke_key(key)
        return Response(status=204)
