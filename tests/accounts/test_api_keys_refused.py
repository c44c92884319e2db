"""API keys may not call /api/v1/auth/* (CONTRACT.md §5): 403."""

from __future__ import annotations

import hashlib
import secrets
import string

import pytest
from django.test import Client

import apikeys.authentication
from apikeys.models import APIKey
from tests.conftest import bearer

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("Filled in by the keys issue" in (apikeys.authentication.__doc__ or ""),
                       reason="API-key authentication comes with the keys issue; this runs once it is merged"),
]


@pytest.fixture
def alice_key(alice) -> str:
    key = "tp_live_" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(32))
    APIKey.objects.create(account=alice, key_hash=hashlib.sha256(key.encode()).hexdigest(), prefix=key[:16],
                          name="ci")
    return key


@pytest.mark.parametrize(("method", "path"), [("post", "/api/v1/auth/login"), ("get", "/api/v1/auth/me"),
                                              ("post", "/api/v1/auth/logout")])
def test_it_refuses_api_keys(alice_key, method, path):
    response = getattr(Client(), method)(path, headers=bearer(alice_key))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_it_tells_a_key_holder_which_credential_to_send_instead(alice_key):
    response = Client().get("/api/v1/keys", headers=bearer(alice_key))

    assert response.status_code == 403
    message = response.json()["error"]["message"]
    assert "Auth0 access token" in message and "tp_sess_" in message


@pytest.mark.parametrize(("method", "path"), [("post", "/api/v1/auth/login"), ("get", "/api/v1/auth/me"),
                                              ("post", "/api/v1/auth/logout")])
def test_a_refused_key_is_limited_like_every_counted_request(alice_key, method, path):
    # CONTRACT.md §5: every authenticated request counts; responses carry the limit's
    # headers, and past the limit the answer is 429 with Retry-After (as on /keys*).
    client = Client(headers=bearer(alice_key))
    for left in range(9, -1, -1):  # the free tier's 10 a minute
        response = getattr(client, method)(path)
        assert response.status_code == 403
        assert response["X-RateLimit-Remaining"] == str(left)
        assert response["RateLimit"].startswith(f'"minute";r={left};')
    limited = getattr(client, method)(path)
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
