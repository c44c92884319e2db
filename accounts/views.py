"""POST /api/v1/auth/login, GET /api/v1/auth/me, POST /api/v1/auth/logout."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from . import sessions
from .credentials import SESSION
from .permissions import IsAuth0Caller, IsHuman
from .serializers import LoginSerializer, UserSerializer

_ENVELOPE = inline_serializer("AuthError", {"error": inline_serializer("AuthErrorBody", {
    "code": serializers.CharField(), "message": serializers.CharField()})})
_ERRORS = {
    401: OpenApiResponse(_ENVELOPE, description="unauthenticated: missing, malformed, expired or revoked credential"),
    403: OpenApiResponse(_ENVELOPE, description="forbidden: this kind of credential may not call this endpoint"),
    503: OpenApiResponse(_ENVELOPE, description="upstream_unavailable: Auth0 keys or Flash unreachable"),
}


@extend_schema(request=None, responses={200: LoginSerializer, **_ERRORS}, tags=["auth"],
               summary="Exchange an Auth0 access token for a billing session token")
@api_view(["POST"])
@permission_classes([IsAuth0Caller])
def login(request: Request) -> Response:
    token, record = sessions.issue(request.user)
    return Response(LoginSerializer({"session_token": token, "expires_at": record.expires_at,
                                     "user": request.user}).data)


@extend_schema(responses={200: UserSerializer, **_ERRORS}, tags=["auth"], summary="The signed-in user")
@api_view(["GET"])
@permission_classes([IsHuman])
def me(request: Request) -> Response:
    return Response(UserSerializer(request.user).data)


@extend_schema(request=None, responses={204: None, **_ERRORS}, tags=["auth"],
               summary="Revoke the session token used for this request")
@api_view(["POST"])
@permission_classes([IsHuman])
def logout(request: Request) -> Response:
    # An Auth0 token has no billing session behind it: nothing to revoke.
    if request.auth.kind == SESSION:
        sessions.revoke(request.auth.session)
    return Response(status=204)
