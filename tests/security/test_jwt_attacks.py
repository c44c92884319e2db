"""Forged and malformed Auth0 tokens against every kind of endpoint that trusts one:
each is refused with 401, and none mints a session, creates a key or an account,
reaches Flash, or makes billing fetch a URL the token names.

The classic single cases (alg none, HS256 keyed with the public key, expired, wrong
aud/iss, unknown kid) are in tests/accounts/test_auth0.py; this is the sweep of the
less obvious shapes over every entry point."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from django.test import Client

from accounts.models import Account, SessionToken
from apikeys.models import APIKey
from standins.auth0 import SigningKey
from tests.accounts.conftest import b64, hand_made_token
from tests.conftest import bearer

ATTACKER = SigningKey(kid="attacker-key")

# Where a token may be used: login (mints a session), key creation, a paid generation,
# a read relayed with the caller's identity.
ENDPOINTS = [
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/keys"),
    ("post", "/api/v1/generate"),
    ("get", "/api/v1/credits/balance"),
]


def claims(auth0, sub="auth0|mallory", **extra) -> dict:
    now = int(time.time())
    return {"iss": auth0.issuer, "aud": auth0.audience, "sub": sub, "iat": now, "exp": now + 600, **extra}


def signed(payload: dict | bytes, key: SigningKey, **header) -> str:
    if isinstance(payload, bytes):  # a payload that is not a JSON object
        return jwt.api_jws.encode(payload, key.private, algorithm="RS256", headers={"kid": key.kid, **header})
    return jwt.encode(payload, key.private, algorithm="RS256", headers={"kid": key.kid, **header})


def public_pem(key: SigningKey) -> bytes:
    return key.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def attack(name):
    """Builders of forged tokens: (auth0 stand-in, the URL an attacker controls) → token."""

    def register(fn):
        ATTACKS[name] = fn
        return fn

    return register


ATTACKS: dict = {}


@attack("alg None, mixed case")
def _(auth0, elsewhere):
    return hand_made_token({"alg": "None", "kid": auth0.keys[-1].kid}, claims(auth0))


@attack("alg NONE with the real signature kept")
def _(auth0, elsewhere):
    good = auth0.mint("auth0|mallory")
    header = b64(json.dumps({"alg": "NONE", "kid": auth0.keys[-1].kid}).encode())
    return header + "." + good.split(".", 1)[1]


@attack("HS512 keyed with the public key")
def _(auth0, elsewhere):
    import hashlib
    import hmac

    header = {"alg": "HS512", "typ": "JWT", "kid": auth0.keys[-1].kid}
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims(auth0)).encode())
    mac = hmac.new(public_pem(auth0.keys[-1]), signing_input.encode(), hashlib.sha512).digest()
    return signing_input + "." + b64(mac)


@attack("claims PS256 while signed RS256")
def _(auth0, elsewhere):
    token = auth0.mint("auth0|mallory")
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return b64(json.dumps({**header, "alg": "PS256"}).encode()) + "." + token.split(".", 1)[1]


@attack("signature stripped")
def _(auth0, elsewhere):
    return auth0.mint("auth0|mallory").rsplit(".", 1)[0] + "."


@attack("payload swapped under a valid signature")
def _(auth0, elsewhere):
    header, _, signature = auth0.mint("auth0|mallory").split(".")
    return header + "." + b64(json.dumps(claims(auth0, sub="auth0|alice")).encode()) + "." + signature


@attack("jku pointing elsewhere")
def _(auth0, elsewhere):
    return signed(claims(auth0), ATTACKER, jku=elsewhere + "/jwks.json")


@attack("x5u pointing elsewhere")
def _(auth0, elsewhere):
    return signed(claims(auth0), ATTACKER, x5u=elsewhere + "/cert.pem")


@attack("embedded jwk of the attacker's key")
def _(auth0, elsewhere):
    return signed(claims(auth0), ATTACKER, jwk=ATTACKER.jwk())


@attack("embedded jwk under the real kid")
def _(auth0, elsewhere):
    key = SigningKey(kid=auth0.keys[-1].kid)
    return signed(claims(auth0), key, jwk=key.jwk(), jku=elsewhere + "/jwks.json")


@attack("nested: a signed token whose payload is another token")
def _(auth0, elsewhere):
    inner = auth0.mint("auth0|mallory")
    return signed(inner.encode(), auth0.keys[-1], cty="JWT")


@attack("nested: an unsigned wrapper around a valid token")
def _(auth0, elsewhere):
    inner = auth0.mint("auth0|mallory")
    return b64(json.dumps({"alg": "none", "cty": "JWT"}).encode()) + "." + b64(inner.encode()) + "."


@attack("JWE-shaped (five segments)")
def _(auth0, elsewhere):
    header = b64(json.dumps({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": auth0.keys[-1].kid}).encode())
    return ".".join([header, b64(b"k" * 256), b64(b"iv" * 6), b64(b"ciphertext"), b64(b"tag" * 5)])


@attack("kid with a path")
def _(auth0, elsewhere):
    return signed(claims(auth0), SigningKey(kid="../../../../dev/null"))


@attack("kid with SQL")
def _(auth0, elsewhere):
    return signed(claims(auth0), SigningKey(kid="x' OR '1'='1"))


@attack("kid that is not a string")
def _(auth0, elsewhere):
    signing_input = b64(json.dumps({"alg": "RS256", "kid": 7}).encode()) + "." + b64(json.dumps(claims(auth0)).encode())
    return signing_input + "." + b64(b"s" * 256)


@attack("subject that is not a string")
def _(auth0, elsewhere):
    return signed(json.dumps(claims(auth0, sub={"id": "auth0|alice"})).encode(), auth0.keys[-1])


@attack("oversized, validly signed")
def _(auth0, elsewhere):
    return auth0.mint("auth0|mallory", padding="x" * 9000)


@attack("oversized garbage")
def _(auth0, elsewhere):
    return "eyJ" + "A" * 200_000


@pytest.mark.parametrize("name", list(ATTACKS))
@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[p for _, p in ENDPOINTS])
def test_it_refuses_forged_tokens_everywhere(db, alice, auth0, flash, clockchain, method, path, name):
    token = ATTACKS[name](auth0, clockchain.url)
    response = getattr(Client(), method)(path, {"name": "k", "preset": "standard", "prompt": "x"},
                                         content_type="application/json", headers=bearer(token))
    assert response.status_code == 401, (name, response.status_code, response.content[:200])
    assert response.json()["error"]["code"] == "unauthenticated"
    assert not SessionToken.objects.exists()
    assert not APIKey.objects.exists()
    assert list(Account.objects.values_list("external_id", flat=True)) == [alice.external_id]
    assert flash.received() == []
    assert clockchain.received() == [], "billing fetched a URL named in the token"
    # Only Auth0's own key set is ever fetched (once, plus the one refetch an unknown kid allows).
    assert {r.path for r in auth0.received()} <= {"/.well-known/jwks.json"}
    assert len(auth0.received()) <= 2


def test_it_refuses_an_authorization_header_far_too_large_to_be_a_token(db, auth0):
    response = Client().get("/api/v1/auth/me", headers={"Authorization": "Bearer " + "a." * 60_000})
    assert response.status_code == 401
    assert auth0.received() == []  # refused before any key is looked up
