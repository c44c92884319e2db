"""Key management for people (CONTRACT.md §5): API keys themselves get 403 here."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import APIError
from core.permissions import IsHuman
from core.schema import error_response as error

from . import budgets, keys
from .models import APIKey
from .serializers import (
    CreatedKeySerializer,
    CreateKeySerializer,
    KeyListSerializer,
    KeySerializer,
    RollKeySerializer,
    UpdateKeySerializer,
)

ERRORS = {
    401: error("unauthenticated"),
    403: error("forbidden: API keys cannot manage keys"),
    429: error("rate_limited, with Retry-After"),
}


_KEY = {"id": "3f2b6c1d-8e4a-4d7b-9a0c-5e6f7a8b9c0d", "prefix": "tp_test_k7p2m9x4", "name": "my first key",
        "environment": "test", "tier": "free", "rate_limit": 10, "created_at": "2026-11-30T10:00:00Z",
        "monthly_credit_limit": 500, "expires_at": None, "credits_spent_this_month": 0, "replaced_by": None}


def _body(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise APIError(400, "invalid_request", "The body must be a JSON object.")
    return request.data


def _own_key(request: Request, key_id: UUID, *, active: bool = False) -> APIKey:
    """The caller's key (only if not revoked, with `active`); 404 for anyone else's, as
    for one that does not exist."""
    mine = APIKey.objects.select_related("account").filter(pk=key_id, account=request.user)
    key = (mine.filter(is_active=True) if active else mine).first()
    if key is None:
        raise APIError(404, "not_found", "No such key.")
    return key


class KeysView(APIView):
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
        own = list(request.user.api_keys.all())  # each key knows its account: no query per key
        return Response({"keys": KeySerializer(budgets.with_spending(own), many=True).data})

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
        form = CreateKeySerializer(data=_body(request))
        form.is_valid(raise_exception=True)
        data = form.validated_data
        key, plaintext = keys.create_key(request.user, data["name"], data["environment"],
                                         monthly_credit_limit=data.get("monthly_credit_limit"),
                                         expires_at=data.get("expires_at"))
        key.key = plaintext
        return Response(CreatedKeySerializer(budgets.with_spending([key])[0]).data, status=201)


class KeyView(APIView):
    permission_classes = [IsHuman]

    @extend_schema(
        responses={204: None, 404: error("not_found: no such key of yours"), **ERRORS},
        tags=["keys"],
        summary="Revoke an API key",
        description="The key is refused (401) from now on, within a second on every server. It stays "
        "in your list as revoked. Sign in to call this: API keys are refused with 403.",
    )
    def delete(self, request: Request, key_id: UUID) -> Response:
        key = _own_key(request, key_id)
        keys.revoke_key(key)
        return Response(status=204)

    @extend_schema(
        request=UpdateKeySerializer,
        responses={200: KeySerializer, 400: error("invalid_request: a bad field"),
                   404: error("not_found: no such key of yours, or it is revoked"),
                   409: error("conflict: a rolled key's expiry put off or removed"), **ERRORS},
        tags=["keys"], summary="Change an API key's name, budget or expiry",
        description="Any of `name`, `monthly_credit_limit` (credits per calendar month, UTC, or null for no "
        "budget) and `expires_at` (ISO 8601, in the future, at most 366 days ahead, or null for never). "
        "Every server applies the change to the key's next request. A revoked key answers 404; a rolled "
        "key's expiry can only be brought forward (409 otherwise). Sign in to call this: API keys are "
        "refused with 403.",
        examples=[OpenApiExample("A budget and an expiry", request_only=True,
                                 value={"monthly_credit_limit": 500, "expires_at": "2027-03-01T00:00:00Z"})],
    )
    def patch(self, request: Request, key_id: UUID) -> Response:
        key = _own_key(request, key_id, active=True)
        form = UpdateKeySerializer(data=_body(request), partial=True)
        form.is_valid(raise_exception=True)
        keys.update_key(key, form.validated_data)
        return Response(KeySerializer(budgets.with_spending([key])[0]).data)


class RollKeyView(APIView):
    permission_classes = [IsHuman]

    @extend_schema(
        request=RollKeySerializer,
        responses={201: CreatedKeySerializer, 400: error("invalid_request: a bad grace_seconds"),
                   404: error("not_found: no such key of yours"),
                   409: error("conflict: the key is revoked or was rolled already"), **ERRORS},
        tags=["keys"], summary="Roll an API key",
        description="Replaces a key without an outage: a new key (shown this once) with the old one's name, "
        "environment, rate limit and monthly budget; the month's spending carries over (the budget counts "
        "the whole roll chain). The old key keeps working for `grace_seconds` (0 to 604800, default 86400), "
        "then is refused (401); its listing shows that `expires_at` and `replaced_by`, the new key's id. "
        "Rolling a revoked key or one rolled before answers 409 `conflict`. Sign in to call this: API keys "
        "are refused with 403.",
        examples=[OpenApiExample("An hour's grace", request_only=True, value={"grace_seconds": 3600})],
    )
    def post(self, request: Request, key_id: UUID) -> Response:
        key = _own_key(request, key_id)
        form = RollKeySerializer(data=_body(request))
        form.is_valid(raise_exception=True)
        new, plaintext = keys.roll_key(key, form.validated_data["grace_seconds"])
        new.key = plaintext
        return Response(CreatedKeySerializer(budgets.with_spending([new])[0]).data, status=201)
