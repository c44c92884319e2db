"""POST /api/v1/auth/login, GET /api/v1/auth/me, POST /api/v1/auth/logout."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from core.credentials import SESSION
from core.permissions import IsAuth0Caller, IsHuman
from core.schema import error_response

from . import sessions
from .serializers import LoginSerializer, UserSerializer

_ERRORS = {
    401: error_response("unauthenticated: missing, malformed, expired or revoked credential"),
    403: error_response("forbidden: this kind of credential may not call this endpoint"),
    503: error_response("upstream_unavailable: Auth0 keys or Flash unreachable"),
}


_USER = {"id": "7d0e9b8c-3f5a-4b61-9c1e-2a4f6d8b0c12", "external_id": "auth0|64f1c2", "email": "ada@example.com",
         "flash_user_id": "0b6a3c1e-92d4-4f7b-8e5a-1c2d3e4f5a6b", "tier": "free", "plan": "free"}


@extend_schema(
    request=None, responses={200: LoginSerializer, **_ERRORS}, tags=["auth"],
    summary="Exchange an Auth0 access token for a session token",
    description="Send an Auth0 access token as `Authorization: Bearer …` and get a billing session "
    "token (`tp_sess_…`) to use in its place. It is shown once, stays valid while it is used (it "
    "expires after 30 days without use) and ends with `POST /api/v1/auth/logout`. The first call "
    "for an Auth0 identity creates its account, with its signup credits. A session token or API key "
    "sent here is refused with 403.",
    examples=[OpenApiExample("Signed in", response_only=True, value={
        "session_token": "tp_sess_4kq9x2m7c1v8b3n6z5a0s4d2f7g1h9j3k2l8p5q0", "expires_at": "2026-12-30T10:00:00Z",
        "user": _USER})],
)
@api_view(["POST"])
@permission_classes([IsAuth0Caller])
def login(request: Request) -> Response:
    token, record = sessions.issue(request.user)
    return Response(LoginSerializer({"session_token": token, "expires_at": record.expires_at,
                                     "user": request.user}).data)


@extend_schema(
    responses={200: UserSerializer, **_ERRORS}, tags=["auth"], summary="Who you are signed in as",
    description="The account behind an Auth0 access token or a session token: its id, Auth0 "
    "identity, email, Flash user id, API tier and plan. API keys are refused with 403.",
    examples=[OpenApiExample("The signed-in account", response_only=True, value=_USER)],
)
@api_view(["GET", "HEAD"])
@permission_classes([IsHuman])
def me(request: Request) -> Response:
    return Response(UserSerializer(request.user).data)


@extend_schema(
    request=None, responses={204: None, **_ERRORS}, tags=["auth"], summary="Sign out",
    description="Revokes the session token this request carries: it is refused (401) from now on. "
    "With an Auth0 access token there is nothing to revoke and the answer is 204 too; API keys are "
    "refused with 403 (revoke a key with `DELETE /api/v1/keys/{key_id}`).",
)
@api_view(["POST"])
@permission_classes([IsHuman])
def logout(request: Request) -> Response:
    # An Auth0 token has no billing session behind it: nothing to revoke.
    if request.auth.kind == SESSION:
        sessions.revoke(request.auth.session)
    return Response(status=204)
