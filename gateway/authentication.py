"""One DRF authentication class for every `/api/v1/` credential (CONTRACT.md §2),
dispatching on the credential's prefix: API keys to apikeys, session tokens and Auth0
tokens to accounts. Every credential ends in the admission (gateway/admission.py):
the one round trip to the shared cache before the view."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts import auth0, identity, sessions
from accounts.models import Account
from apikeys import keys
from apikeys.authentication import API_KEY_PREFIXES, credential_of
from core.context import client_ip, context
from core.credentials import AUTH0, Credential
from limits import failures
from limits.counters import REVOKED

from .admission import admit


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


def _api_key(token: str, request: Request) -> tuple[Account, Credential]:
    """The key's record comes from its admission: one round trip to the cache that
    also checks the client IP's failed authentications (429), counts the request and
    takes a slot when the view needs one. A key not cached yet is read from the
    database, cached, then admitted."""
    key_hash = keys.hash_key(token)
    subject = f"key:{key_hash}"
    admission = admit(request, subject, key_hash=key_hash)
    if admission.verdict == "unknown":
        if not keys.cache_from_database(key_hash):
            return credential_of(None)  # no such active key (401)
        admission = admit(request, subject, key_hash=key_hash)
    if admission.verdict in ("unknown", "unavailable"):
        # The cache failed (or lost the record at once): the database decides.
        entry = keys.lookup_hash(key_hash, cached=None)
    else:
        entry = keys.lookup_hash(key_hash, cached=REVOKED if admission.verdict == "revoked" else admission.record)
    return credential_of(entry)


class BearerAuthentication(BaseAuthentication):
    """A failed authentication is counted against the client IP; the one past the
    limit answers 429."""

    def authenticate(self, request: Request) -> tuple[Account, Credential] | None:
        ctx = context(request)
        ctx.authenticated = True
        try:
            token = bearer_token(request)
            if token is None:
                return None
            if token.startswith(API_KEY_PREFIXES):
                account, credential = _api_key(token, request)
            else:
                if token.startswith(sessions.PREFIX):
                    account, credential = sessions.authenticate_session(token)
                else:
                    try:
                        claims = auth0.verify(token)
                    except auth0.InvalidToken as exc:
                        raise exceptions.AuthenticationFailed(str(exc)) from None
                    account, credential = identity.account_for_claims(claims), Credential(AUTH0, claims=claims)
                admit(request, f"account:{account.pk}", account.effective_tier)
        except exceptions.AuthenticationFailed:
            ctx.invalid_token = True
            failures.record(client_ip(request))
            raise
        # DRF resolves the caller inside the view, out of the middleware's sight: the
        # usage record and the limits read it from the context.
        ctx.account, ctx.credential = account, credential
        return account, credential

    def authenticate_header(self, request: Request) -> str:
        if context(request).invalid_token:
            return 'Bearer error="invalid_token"'
        return 'Bearer realm="api"'
