from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import SessionToken
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def login(token: str):
    return Client().post("/api/v1/auth/login", headers=bearer(token))


def test_it_exchanges_an_auth0_token_for_a_session_token(alice, alice_token):
    response = login(alice_token)
    assert response.status_code == 200
    body = response.json()
    assert body["session_token"].startswith("tp_sess_")
    assert len(body["session_token"]) == len("tp_sess_") + 40
    assert body["session_token"][8:].isalnum() and body["session_token"][8:].islower()
    assert body["user"] == {
        "id": str(alice.id), "external_id": "auth0|alice", "email": "alice@example.com",
        "flash_user_id": alice.flash_user_id, "tier": "free", "plan": "free",
    }
    expires_at = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=29) < expires_at - timezone.now() <= timedelta(days=30)


def test_it_stores_only_the_hash(alice, alice_token):
    token = login(alice_token).json()["session_token"]
    record = SessionToken.objects.get(account=alice)
    assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert record.prefix == token[:16]
    assert token not in {getattr(record, f.attname) for f in SessionToken._meta.fields}


def test_it_issues_a_different_token_each_time(alice, alice_token):
    assert login(alice_token).json()["session_token"] != login(alice_token).json()["session_token"]


def test_it_shows_the_operator_set_tier(alice, auth0):
    alice.tier_override = "enterprise"
    alice.save()
    assert login(auth0.mint(alice.external_id)).json()["user"]["tier"] == "enterprise"


def test_it_refuses_a_session_token(alice, alice_token):
    session_token = login(alice_token).json()["session_token"]
    response = login(session_token)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert "Auth0" in response.json()["error"]["message"]


def test_it_refuses_no_credential(db):
    response = Client().post("/api/v1/auth/login")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_it_makes_the_account_of_a_new_user(auth0, flash):
    response = login(auth0.mint("auth0|newcomer", email="new@example.com", name="New Comer"))
    assert response.status_code == 200
    user = response.json()["user"]
    assert user["external_id"] == "auth0|newcomer"
    assert user["email"] == "new@example.com"
    assert user["flash_user_id"] == flash.users["auth0|newcomer"]
    resolve = flash.received(r"/users/resolve$")
    assert len(resolve) == 1
    assert resolve[0].json() == {"external_id": "auth0|newcomer", "email": "new@example.com",
                                 "display_name": "New Comer"}
    assert resolve[0].headers["x-service-key"] == flash.service_key


def test_it_only_accepts_post(alice_token):
    response = Client().get("/api/v1/auth/login", headers=bearer(alice_token))
    assert response.status_code == 405
