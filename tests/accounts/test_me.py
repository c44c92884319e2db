from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import SessionToken
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def session_for(token: str) -> str:
    return Client().post("/api/v1/auth/login", headers=bearer(token)).json()["session_token"]


def me(token: str):
    return Client().get("/api/v1/auth/me", headers=bearer(token))


USER_FIELDS = {"id", "external_id", "email", "flash_user_id", "tier", "plan"}


def test_it_answers_the_user_for_an_auth0_token(alice, alice_token):
    response = me(alice_token)
    assert response.status_code == 200
    assert set(response.json()) == USER_FIELDS
    assert response.json()["id"] == str(alice.id)


def test_it_answers_the_user_for_a_session_token(alice, alice_token):
    response = me(session_for(alice_token))
    assert response.status_code == 200
    assert response.json()["external_id"] == alice.external_id


def test_it_is_the_same_user_as_login_answered(alice, alice_token):
    login = Client().post("/api/v1/auth/login", headers=bearer(alice_token)).json()
    assert me(login["session_token"]).json() == login["user"]


def test_it_refuses_an_unknown_session_token(db):
    response = me("tp_sess_" + "a" * 40)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_it_refuses_an_expired_session_token(alice, alice_token):
    token = session_for(alice_token)
    SessionToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert me(token).status_code == 401


def test_it_slides_the_expiry_at_most_once_an_hour(alice, alice_token):
    token = session_for(alice_token)
    record = SessionToken.objects.get()
    first_expiry = record.expires_at

    assert me(token).status_code == 200
    assert SessionToken.objects.get().expires_at == first_expiry  # used within the hour: no write

    two_hours_ago = timezone.now() - timedelta(hours=2)
    SessionToken.objects.update(last_used_at=two_hours_ago, expires_at=two_hours_ago + timedelta(days=30))
    assert me(token).status_code == 200
    record.refresh_from_db()
    assert record.expires_at > first_expiry - timedelta(seconds=1)
    assert record.expires_at > timezone.now() + timedelta(days=29, hours=23)
    assert record.last_used_at > two_hours_ago


def test_it_answers_head_like_every_other_get(alice_token):
    response = Client().head("/api/v1/auth/me", headers=bearer(alice_token))
    assert response.status_code == 200
    assert response.content == b""
