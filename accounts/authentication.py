"""One DRF authentication class for every `/api/v1/` credential (CONTRACT.md §2),
dispatching on the credential's prefix."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from apikeys import limits
from metering.recording import identified

from . import auth0, identity, sessions
from .credentials import AUTH0, Credential
from .models import Account

API_KEY_PREFIXES = ("tp_live_", "tp_test_")
SESSION_PREFIX = "tp_sess_"


def bearer_token(request: Request) -> str | None:
    """The credential of an `Authorization: Bearer …` header; None when absent.
    A header of another scheme or with no value is malformed (401)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise exceptions.AuthenticationFailed("Use an Authorization: Bearer <credential> header.")
    return token


class BearerAuthentication(BaseAuthentication):
    """Every credential ends in `limits.admit`: the one round trip to the shared cache
    before the view (failed authentications of the client IP, requests per minute, a
    concurrency slot). A failed authentication is counted against the client IP; the
    one past the limit answers 429."""

    def authenticate(self, request: Request) -> tuple[Account, Credential] | None:
        try:
            token = bearer_token(request)
            if token is None:
                return None
            if token.startswith(API_KEY_PREFIXES):
                from apikeys.authentication import authenticate_key

                # The key's record comes from its admission.
                return identified(request, authenticate_key(token, request))
            if token.startswith(SESSION_PREFIX):
                account, credential = sessions.authenticate_session(token)
            else:
                try:
                    claims = auth0.verify(token)
                except auth0.InvalidToken as exc:
                    raise exceptions.AuthenticationFailed(str(exc)) from None
                account, credential = identity.account_for_claims(claims), Credential(AUTH0, claims=claims)
            limits.admit(request, f"account:{account.pk}", account.effective_tier)
            return identified(request, (account, credential))
        except exceptions.AuthenticationFailed:
            request._tp_invalid_token = True
            limits.record_auth_failure(request)
            raise

    def authenticate_header(self, request: Request) -> str:
        if getattr(request, "_tp_invalid_token", False):
            return 'Bearer error="invalid_token"'
        return 'Bearer realm="api"'
