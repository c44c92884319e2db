"""A key past its expires_at is refused with 401 (CONTRACT.md §9)."""

from datetime import UTC, datetime, timedelta

import time_machine
from django.test import Client

from apikeys.keys import create_key
from tests.conftest import bearer


def test_it_works_until_expires_at_and_is_refused_from_then_on(alice, flash):
    expires = datetime.now(UTC) + timedelta(hours=1)
    _, plaintext = create_key(alice, "k", "live", expires_at=expires)
    client = Client(headers=bearer(plaintext))
    with time_machine.travel(expires - timedelta(seconds=1)):
        assert client.get("/api/v1/credits/balance").status_code == 200
    with time_machine.travel(expires):
        response = client.get("/api/v1/credits/balance")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert "expired" in response.json()["error"]["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert len(flash.received("/api/v1/credits/balance")) == 1


def test_an_expired_key_is_refused_when_not_cached_yet(alice):
    expires = datetime.now(UTC) + timedelta(minutes=5)
    _, plaintext = create_key(alice, "k", "live", expires_at=expires)
    with time_machine.travel(expires + timedelta(days=1)):
        response = Client(headers=bearer(plaintext)).post("/api/v1/generate", {"query": "x"},
                                                          content_type="application/json")
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_a_key_without_expiry_never_expires(alice):
    _, plaintext = create_key(alice, "k", "live")
    with time_machine.travel(datetime.now(UTC) + timedelta(days=3650)):
        assert Client(headers=bearer(plaintext)).get("/api/v1/credits/balance").status_code == 200


def test_an_expired_key_no_longer_takes_a_place_among_the_active_keys(as_alice, alice, monkeypatch):
    from apikeys import keys

    monkeypatch.setattr(keys, "MAX_ACTIVE_PER_ACCOUNT", 2)
    expires = datetime.now(UTC) + timedelta(minutes=1)
    create_key(alice, "short-lived", "live", expires_at=expires)
    create_key(alice, "k", "live")
    body = {"name": "k2", "environment": "live"}
    assert as_alice.post("/api/v1/keys", body, content_type="application/json").status_code == 400
    with time_machine.travel(expires + timedelta(seconds=1)):
        assert as_alice.post("/api/v1/keys", body, content_type="application/json").status_code == 201
