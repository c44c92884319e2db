from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import SessionToken
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def session_for(token: str) -> str:
    return Client().post("/api/v1/auth/login", headers=bearer(token)).json()["session_token"]


def logout(token: str):
    return Client().post("/api/v1/auth/logout", headers=bearer(token))


def test_it_kills_the_session_token_at_once(alice, alice_token):
    token = session_for(alice_token)
    assert Client().get("/api/v1/auth/me", headers=bearer(token)).status_code == 200

    response = logout(token)
    assert response.status_code == 204
    assert response.content == b""
    after = Client().get("/api/v1/auth/me", headers=bearer(token))
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "unauthenticated"
    assert SessionToken.objects.get().revoked_at is not None


def test_it_leaves_other_sessions_alive(alice, alice_token):
    kept, dropped = session_for(alice_token), session_for(alice_token)
    assert logout(dropped).status_code == 204
    assert Client().get("/api/v1/auth/me", headers=bearer(kept)).status_code == 200


def test_it_answers_204_for_an_auth0_token(alice, alice_token):
    token = session_for(alice_token)
    assert logout(alice_token).status_code == 204
    assert Client().get("/api/v1/auth/me", headers=bearer(token)).status_code == 200


def test_it_cannot_log_out_twice(alice, alice_token):
    token = session_for(alice_token)
    assert logout(token).status_code == 204
    assert logout(token).status_code == 401


def test_it_needs_a_credential(db):
    assert Client().post("/api/v1/auth/logout").status_code == 401
