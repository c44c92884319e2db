"""Auth0 access-token verification (CONTRACT.md §2).

RS256 only; keys from AUTH0_JWKS_URL, kept in the shared cache so every worker
fetches them once; an unknown `kid` refetches the set once (the same kid again at
most once per JWKS_REFETCH_SECONDS), within JWKS_REFETCH_BUDGET refetches a minute
across all workers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from functools import lru_cache
from typing import Any

import jwt
import requests
from django.conf import settings
from django.core.cache import cache

from core.cache import quietly
from core.errors import APIError
from core.request_json import is_storable

log = logging.getLogger("accounts.auth0")

JWKS_CACHE_KEY = "auth0:jwks"
REFETCH_GUARD_KEY = "auth0:jwks:refetched:"  # + the kid's digest
REFETCH_WINDOW_KEY = "auth0:jwks:refetches"
FETCH_FAILED_KEY = "auth0:jwks:failed"
MAX_TOKEN_BYTES = 8192
# The longest subject an account can be kept under (Account.external_id).
MAX_SUBJECT_CHARS = 255
# Clock skew allowed on exp/nbf/iat.
LEEWAY_SECONDS = 30
# How long the key set is kept (shared cache, or this process's copy while it is down).
JWKS_CACHE_SECONDS = 600
# An unknown kid refetches the key set at most this often. Guarded per kid, not for all
# of them: a forged token must not keep a key Auth0 rotates in a moment later refused
# until the guard ends. A flood of made-up kids (each one a failed authentication,
# limited per client IP) stays within the budget of refetches a minute.
JWKS_REFETCH_SECONDS = 60
JWKS_REFETCH_BUDGET = 30
# A cold key-set fetch that failed is not retried for this long (Auth0 down must not
# turn every request into a connection attempt).
JWKS_FAILURE_BACKOFF_SECONDS = 5
_http = requests.Session()
_http.trust_env = False
# This process's copy of the last key set fetched, for when the shared cache is down
# (Auth0 must not be asked on every request then): (raw JSON, time.monotonic()).
_local: dict[str, tuple[str, float]] = {}
_CACHE_DOWN = object()


class InvalidToken(Exception):
    """The token is not one we accept; the message says why (safe to show)."""


def _fetch_jwks() -> str:
    try:
        response = _http.get(
            settings.AUTH0_JWKS_URL,
            timeout=(settings.UPSTREAM_CONNECT_TIMEOUT, settings.UPSTREAM_READ_TIMEOUT),
        )
        response.raise_for_status()
        raw = response.text
        jwt.PyJWKSet.from_dict(json.loads(raw))  # refuse to cache garbage
    except (requests.RequestException, ValueError, jwt.PyJWKSetError) as exc:
        log.warning("could not fetch Auth0 signing keys: %s", exc.__class__.__name__)
        raise
    _local["jwks"] = (raw, time.monotonic())
    quietly(lambda: cache.set(JWKS_CACHE_KEY, raw, JWKS_CACHE_SECONDS), None)
    return raw


def _cached_jwks() -> str | None:
    """The key set from the shared cache; while the cache is down, this process's own
    recent copy (None: fetch it)."""
    raw = quietly(lambda: cache.get(JWKS_CACHE_KEY), _CACHE_DOWN)
    if raw is not _CACHE_DOWN:
        return raw
    local, fetched_at = _local.get("jwks", (None, 0.0))
    return local if time.monotonic() - fetched_at < JWKS_CACHE_SECONDS else None


@lru_cache(maxsize=8)
def _parse(raw: str) -> dict[str, jwt.PyJWK]:
    """Parsed keys by kid, memoised on the raw JSON so a request pays no RSA parsing."""
    keys = {}
    for key in jwt.PyJWKSet.from_dict(json.loads(raw)).keys:
        if key.key_id:
            keys[key.key_id] = key
    return keys


def _signing_key(kid: str) -> jwt.PyJWK:
    raw = _cached_jwks()
    if raw is None:
        unavailable = APIError(503, "upstream_unavailable", "Auth0 signing keys are unavailable.")
        if quietly(lambda: cache.get(FETCH_FAILED_KEY), None):
            raise unavailable
        try:
            raw = _fetch_jwks()
        except Exception:
            quietly(lambda: cache.set(FETCH_FAILED_KEY, 1, JWKS_FAILURE_BACKOFF_SECONDS), None)
            raise unavailable from None
    key = _parse(raw).get(kid)
    if key is None and _may_refetch(kid):
        try:
            key = _parse(_fetch_jwks()).get(kid)
        except Exception:
            key = None  # keep serving the keys we have; this token just isn't one of them
    if key is None:
        raise InvalidToken("The token is signed by an unknown key.")
    return key


def _may_refetch(kid: str) -> bool:
    """Whether an unknown kid may refetch the key set now: the first time this kid is
    seen this JWKS_REFETCH_SECONDS, within the minute's budget. With the cache down
    nobody can guard refetches across workers: no refetch then."""
    digest = hashlib.sha256(kid.encode()).hexdigest()[:32]
    if not quietly(lambda: cache.add(REFETCH_GUARD_KEY + digest, 1, JWKS_REFETCH_SECONDS), False):
        return False

    def count() -> int:
        if cache.add(REFETCH_WINDOW_KEY, 1, 60):
            return 1
        try:
            return cache.incr(REFETCH_WINDOW_KEY)
        except ValueError:  # the minute ended between the two calls
            return 1

    return quietly(count, JWKS_REFETCH_BUDGET + 1) <= JWKS_REFETCH_BUDGET


def verify(token: str) -> dict[str, Any]:
    """The verified claims of an Auth0 access token, or InvalidToken / APIError(503)."""
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("The token is too large.")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken("The token is malformed.") from None
    if header.get("alg") != "RS256":
        raise InvalidToken("The token must be signed with RS256.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("The token names no signing key.")
    if not settings.AUTH0_ISSUER:
        log.error("AUTH0_DOMAIN/AUTH0_ISSUER is not configured; refusing Auth0 tokens")
        raise InvalidToken("Auth0 tokens are not accepted here.")
    key = _signing_key(kid)
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=settings.AUTH0_AUDIENCE,
            issuer=settings.AUTH0_ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The token has expired.") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("The token is not yet valid.") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("The token is for another audience.") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("The token comes from another issuer.") from None
    except jwt.PyJWTError:
        raise InvalidToken("The token is invalid.") from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidToken("The token has no subject.")
    sub = claims["sub"]
    if len(sub) > MAX_SUBJECT_CHARS or not is_storable(sub):
        raise InvalidToken("The token's subject is longer than any account's or holds NUL or a lone surrogate.")
    return claims
