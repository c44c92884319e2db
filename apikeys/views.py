"""Key management for people (CONTRACT.md §5): API keys themselves get 403 here."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import APIError
from core.permissions import CountedFirst, IsHuman
from core.schema import error_response as error

from . import keys
from .models import APIKey
from .serializers import (
    CreatedKeySerializer,
    CreateKeySerializer,
    KeyListSerializer,
    KeySerializer,
)

ERRORS = {
    401: error("unauthenticated"),
    403: error("forbidden: API keys cannot manage keys"),
    429: error("rate_limited, with Retry-After"),
}


_KEY = {"id": "3f2b6c1d-8e4a-4d7b-9a0c-5e6f7a8b9c0d", "prefix": "tp_test_k7p2m9x4", "name": "my first key",
        "environment": "test", "tier": "free", "rate_limit": 10, "created_at": "2026-11-30T10:00:00Z"}


class KeysView(CountedFirst, APIView):
    permission_classes = [IsHuman]

    @extend_schema(
        responses={200: KeyListSerializer, **ERRORS}, tags=["keys"], summary="List your API keys",
        description="Every key of your account, newest first, revoked ones included (`is_active: false`, "
        "`revoked_at`). The key itself is never shown again after its creation; `prefix` (its first 16 "
        "characters) tells keys apart. Sign in to call this: API keys are refused with 403.",
        examples=[OpenApiExample("Your keys", response_only=True, value={"keys": [{
            **_KEY, "is_active": True, "last_used_at": "2026-11-30T10:05:12Z",
            "revoked_at": None}]})],
    )
    def get(self, request: Request) -> Response:
        own = request.user.api_keys.all()  # each key knows its account: no query per key
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
        description="A new key for programs to call the API with (`Authorization: Bearer tp_live_…`). "
        "`live` keys spend your credits; `test` keys never do: their generations run in a sandbox. "
        "The answer is the only time the key is shown: store it now. The key has your tier's "
        "requests per minute (`rate_limit`). Sign in to call this: API keys are refused with 403.",
        examples=[
            OpenApiExample("A test key", request_only=True, value={"name": "my first key", "environment": "test"}),
            OpenApiExample("Created", response_only=True, status_codes=["201"], value={
                **_KEY, "key": "tp_test_k7p2m9x4c1v8b3n6z5a0s4d2f7g1h9j3"}),
        ],
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
        description="The key is refused (401) from now on, within a second on every server. It stays "
        "in your list as revoked. Sign in to call this: API keys are refused with 403.",
    )
    def delete(self, request: Request, key_id: UUID) -> Response:
        key = APIKey.objects.filter(pk=key_id, account=request.user).first()
        if key is None:
            raise APIError(404, "not_found", "No such key.")
        keys.revoke_key(key)
        return Response(status=204)
