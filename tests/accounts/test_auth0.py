"""Auth0 access-token verification (CONTRACT.md §2), over real HTTP to the stand-in's JWKS."""

from __future__ import annotations

import socket
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from django.test import Client

from accounts import auth0 as auth0_module
from standins.auth0 import SigningKey
from tests.accounts.conftest import hand_made_token

pytestmark = pytest.mark.django_db

INVALID = 'Bearer error="invalid_token"'


def assert_rejected(response) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == INVALID
    assert response.json()["error"]["code"] == "unauthenticated"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def jwks_fetches(auth0) -> int:
    return len(auth0.received(r"/\.well-known/jwks\.json$"))


def test_it_accepts_a_valid_token(alice, auth0, call_me):
    response = call_me(auth0.mint(alice.external_id))
    assert response.status_code == 200
    assert response.json()["external_id"] == alice.external_id


def test_it_asks_for_a_credential_when_none_is_given(db):
    response = Client().get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthenticated"


def test_it_rejects_alg_none(alice, auth0, call_me):
    now = int(time.time())
    token = hand_made_token(
        {"alg": "none", "typ": "JWT", "kid": auth0.keys[-1].kid},
        {"iss": auth0.issuer, "aud": auth0.audience, "sub": alice.external_id, "iat": now, "exp": now + 600},
    )
    assert_rejected(call_me(token))


def test_it_rejects_hs256_signed_with_the_public_key(alice, auth0, call_me):
    public_pem = auth0.keys[-1].private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    token = hand_made_token(
        {"alg": "HS256", "typ": "JWT", "kid": auth0.keys[-1].kid},
        {"iss": auth0.issuer, "aud": auth0.audience, "sub": alice.external_id, "iat": now, "exp": now + 600},
        secret=public_pem,
    )
    assert_rejected(call_me(token))


def test_it_rejects_an_expired_token(alice, auth0, call_me):
    assert_rejected(call_me(auth0.mint(alice.external_id, expires_in=-120)))


def test_it_tolerates_a_little_clock_skew(alice, auth0, call_me):
    assert call_me(auth0.mint(alice.external_id, expires_in=-5)).status_code == 200


def test_it_rejects_a_token_not_yet_valid(alice, auth0, call_me):
    assert_rejected(call_me(auth0.mint(alice.external_id, nbf=int(time.time()) + 600)))


def test_it_rejects_a_token_without_exp(alice, auth0, call_me):
    assert_rejected(call_me(auth0.mint(alice.external_id, exp=None)))


def test_it_rejects_the_wrong_audience(alice, auth0, call_me):
    assert_rejected(call_me(auth0.mint(alice.external_id, aud="https://someone-else.example")))


def test_it_rejects_the_wrong_issuer(alice, auth0, call_me):
    assert_rejected(call_me(auth0.mint(alice.external_id, iss="https://evil.example/")))


def test_it_rejects_a_token_signed_by_an_unknown_key(alice, auth0, call_me):
    assert_rejected(call_me(auth0.mint(alice.external_id, key=SigningKey())))


def test_it_rejects_a_good_kid_with_a_forged_signature(alice, auth0, call_me):
    forger = SigningKey(kid=auth0.keys[-1].kid)
    assert_rejected(call_me(auth0.mint(alice.external_id, key=forger)))


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.", "x" * 9000])
def test_it_rejects_malformed_tokens(alice, call_me, token):
    assert_rejected(call_me(token))


def test_it_rejects_a_header_of_another_scheme(alice, alice_token):
    response = Client().get("/api/v1/auth/me", headers={"Authorization": f"Token {alice_token}"})
    assert_rejected(response)


def test_it_accepts_a_key_rotated_in_after_the_keys_were_cached(alice, auth0, call_me):
    assert call_me(auth0.mint(alice.external_id)).status_code == 200
    assert jwks_fetches(auth0) == 1

    auth0.rotate()
    assert call_me(auth0.mint(alice.external_id)).status_code == 200
    assert jwks_fetches(auth0) == 2
    # The old key is still published and still works, without another fetch.
    assert call_me(auth0.mint(alice.external_id, key=auth0.keys[0])).status_code == 200
    assert jwks_fetches(auth0) == 2


def test_it_refetches_for_an_unknown_kid_once_a_minute(alice, auth0, call_me):
    assert call_me(auth0.mint(alice.external_id)).status_code == 200
    forged = SigningKey()
    for _ in range(5):
        assert_rejected(call_me(auth0.mint(alice.external_id, key=forged)))
    assert jwks_fetches(auth0) == 2  # the first fill and one refetch, not one per bad token


def test_it_accepts_a_key_rotated_in_just_after_a_forged_kid_made_it_refetch(alice, auth0, call_me):
    assert call_me(auth0.mint(alice.external_id)).status_code == 200
    assert_rejected(call_me(auth0.mint(alice.external_id, key=SigningKey())))
    auth0.rotate()
    assert call_me(auth0.mint(alice.external_id)).status_code == 200
    assert jwks_fetches(auth0) == 3


def test_a_flood_of_made_up_kids_refetches_within_the_minutes_budget(alice, auth0, call_me):
    assert call_me(auth0.mint(alice.external_id)).status_code == 200
    for n in range(auth0_module.JWKS_REFETCH_BUDGET + 5):
        assert_rejected(call_me(auth0.mint(alice.external_id, headers={"kid": f"made-up-{n}"})))
    assert jwks_fetches(auth0) == 1 + auth0_module.JWKS_REFETCH_BUDGET


def test_it_answers_503_when_auth0_is_unreachable_and_no_key_is_cached(alice, auth0, call_me, settings):
    # A port nobody listens on (the stand-in's down() leaves pooled keep-alive
    # connections served, so it would not look unreachable to a pooled client).
    settings.AUTH0_JWKS_URL = f"http://127.0.0.1:{closed_port()}/.well-known/jwks.json"
    response = call_me(auth0.mint(alice.external_id))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"


def test_it_answers_503_when_the_jwks_is_garbage(alice, auth0, call_me):
    auth0.fail(200, body={"not": "a key set"}, path=r"jwks")
    response = call_me(auth0.mint(alice.external_id))
    assert response.status_code == 503


def test_it_keeps_using_cached_keys_while_auth0_is_down(alice, auth0, call_me, settings):
    token = auth0.mint(alice.external_id)
    assert call_me(token).status_code == 200
    settings.AUTH0_JWKS_URL = f"http://127.0.0.1:{closed_port()}/.well-known/jwks.json"
    assert call_me(token).status_code == 200
    # An unknown kid during the outage is a bad token, not an outage.
    assert_rejected(call_me(auth0.mint(alice.external_id, key=SigningKey())))


def test_it_rejects_a_token_without_kid(alice, auth0, call_me):
    token = jwt.encode({"iss": auth0.issuer, "aud": auth0.audience, "sub": alice.external_id,
                        "exp": int(time.time()) + 600}, auth0.keys[-1].private, algorithm="RS256")
    assert_rejected(call_me(token))


def test_it_does_not_hammer_auth0_while_its_keys_cannot_be_fetched(alice, auth0, call_me):
    auth0.fail(503, path=r"jwks", times=None)
    for _ in range(5):
        assert call_me(auth0.mint(alice.external_id)).status_code == 503
    assert jwks_fetches(auth0) == 1  # later requests within the backoff fail fast
