"""POST /api/v1/keys/{id}/roll: a new key, the old one working for a grace period
(CONTRACT.md §9)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from apikeys.keys import create_key, revoke_key
from apikeys.models import APIKey
from tests.conftest import bearer


def roll(client, key_id, body=None):
    return client.post(f"/api/v1/keys/{key_id}/roll", data=json.dumps(body or {}), content_type="application/json")


def balance(plaintext):
    return Client(headers=bearer(plaintext)).get("/api/v1/credits/balance")


def test_the_new_key_has_the_old_ones_settings_and_is_shown_once(as_alice, alice):
    old, _ = create_key(alice, "deploy bot", "test", monthly_credit_limit=300)
    old.rate_limit_override = 42
    old.save()
    response = roll(as_alice, old.pk)
    assert response.status_code == 201
    body = response.json()
    assert body["key"].startswith("tp_test_") and body["prefix"] == body["key"][:16]
    assert (body["name"], body["environment"], body["rate_limit"], body["monthly_credit_limit"]) == (
        "deploy bot", "test", 42, 300)
    assert body["id"] != str(old.pk) and body["replaced_by"] is None
    listed = {k["id"]: k for k in as_alice.get("/api/v1/keys").json()["keys"]}
    assert body["key"] not in json.dumps(listed)
    assert listed[str(old.pk)]["replaced_by"] == body["id"]


def test_the_old_key_works_during_the_grace_period_and_is_refused_after(as_alice, alice, flash):
    old, old_plaintext = create_key(alice, "k", "live")
    assert balance(old_plaintext).status_code == 200  # cached in the workers now
    rolled_at = datetime.now(UTC)
    new_plaintext = roll(as_alice, old.pk, {"grace_seconds": 3600}).json()["key"]
    listed = {k["id"]: k for k in as_alice.get("/api/v1/keys").json()["keys"]}
    grace_ends = datetime.fromisoformat(listed[str(old.pk)]["expires_at"].replace("Z", "+00:00"))
    assert rolled_at + timedelta(seconds=3599) <= grace_ends <= datetime.now(UTC) + timedelta(seconds=3600)
    with time_machine.travel(grace_ends - timedelta(seconds=1)):
        assert balance(old_plaintext).status_code == 200
        assert balance(new_plaintext).status_code == 200
    with time_machine.travel(grace_ends + timedelta(seconds=1)):
        refused = balance(old_plaintext)
        assert refused.status_code == 401 and "expired" in refused.json()["error"]["message"]
        assert balance(new_plaintext).status_code == 200


def test_a_grace_of_zero_refuses_the_old_key_at_once(as_alice, alice):
    old, old_plaintext = create_key(alice, "k", "live")
    assert balance(old_plaintext).status_code == 200
    new_plaintext = roll(as_alice, old.pk, {"grace_seconds": 0}).json()["key"]
    assert balance(old_plaintext).status_code == 401
    assert balance(new_plaintext).status_code == 200


def test_the_default_grace_is_a_day(as_alice, alice):
    old, _ = create_key(alice, "k", "live")
    roll(as_alice, old.pk)
    old.refresh_from_db()
    assert timedelta(hours=23, minutes=59) < old.expires_at - datetime.now(UTC) <= timedelta(days=1)


def test_a_grace_period_never_extends_an_earlier_expiry(as_alice, alice):
    soon = datetime.now(UTC) + timedelta(minutes=10)
    old, _ = create_key(alice, "k", "live", expires_at=soon)
    roll(as_alice, old.pk, {"grace_seconds": 86400})
    old.refresh_from_db()
    assert old.expires_at == soon


@pytest.mark.parametrize("put_off", [None, timedelta(days=300)], ids=["no expiry", "a later one"])
def test_a_rolled_keys_expiry_is_never_put_off(as_alice, alice, put_off):
    old, old_plaintext = create_key(alice, "k", "live")
    roll(as_alice, old.pk, {"grace_seconds": 0})
    expires_at = None if put_off is None else (datetime.now(UTC) + put_off).isoformat()

    response = as_alice.patch(f"/api/v1/keys/{old.pk}", data=json.dumps({"expires_at": expires_at}),
                              content_type="application/json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert balance(old_plaintext).status_code == 401  # still retired


def test_a_rolled_keys_grace_can_be_cut_short(as_alice, alice):
    old, old_plaintext = create_key(alice, "k", "live")
    roll(as_alice, old.pk, {"grace_seconds": 86400})
    sooner = datetime.now(UTC) + timedelta(hours=1)

    response = as_alice.patch(f"/api/v1/keys/{old.pk}", data=json.dumps({"expires_at": sooner.isoformat(),
                                                                          "name": "going"}),
                              content_type="application/json")

    assert response.status_code == 200
    old.refresh_from_db()
    assert old.expires_at == sooner and old.name == "going"


def test_rolling_twice_or_a_revoked_key_is_409(as_alice, alice):
    old, _ = create_key(alice, "k", "live")
    assert roll(as_alice, old.pk).status_code == 201
    again = roll(as_alice, old.pk)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    revoked, _ = create_key(alice, "r", "live")
    revoke_key(revoked)
    assert roll(as_alice, revoked.pk).status_code == 409
    assert APIKey.objects.filter(account=alice).count() == 3


@pytest.mark.parametrize("body", [{"grace_seconds": -1}, {"grace_seconds": 604801}, {"grace_seconds": "60"}])
def test_a_bad_grace_period_is_400_and_rolls_nothing(as_alice, alice, body):
    old, _ = create_key(alice, "k", "live")
    response = roll(as_alice, old.pk, body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert APIKey.objects.count() == 1


def test_someone_elses_key_is_404(as_alice, bob):
    theirs, _ = create_key(bob, "b", "live")
    assert roll(as_alice, theirs.pk).status_code == 404
    assert APIKey.objects.count() == 1
