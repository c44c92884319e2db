"""The permission set every view picks from."""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .credentials import AUTH0
from .errors import APIError


class IsCaller(BasePermission):
    """Any authenticated caller: Auth0 token, session token or API key."""

    def has_permission(self, request: Request, view: object) -> bool:
        return bool(request.user is not None and getattr(request.user, "is_authenticated", False))


def refuse(request: Request, view: object, message: str) -> None:
    """403 for a caller the view is not for. The request was counted when its credential
    was admitted: its limit answers first (429 past it) and the refusal carries the
    X-RateLimit-* headers, like every counted request (DRF checks permissions before
    throttles, so the refusal runs them itself), class-based views and function views
    alike."""
    check_throttles = getattr(view, "check_throttles", None)
    if check_throttles is not None:
        check_throttles(request)
    raise APIError(403, "forbidden", message)


class IsHuman(IsCaller):
    """A person, not a program: API keys may not manage keys or sessions (403)."""

    def has_permission(self, request: Request, view: object) -> bool:
        if not super().has_permission(request, view):
            return False
        if getattr(request.auth, "is_api_key", False):
            refuse(request, view, "API keys cannot be used for this endpoint: send a signed-in person's "
                                  "Auth0 access token or tp_sess_ session token instead.")
        return True


class IsAuth0Caller(IsCaller):
    """Only an Auth0 access token: login exchanges one for a session token, so a
    session token or API key presented there is refused (403)."""

    def has_permission(self, request: Request, view: object) -> bool:
        if not super().has_permission(request, view):
            return False
        if getattr(request.auth, "kind", None) != AUTH0:
            refuse(request, view, "Log in with an Auth0 access token, not a session token or API key.")
        return True
