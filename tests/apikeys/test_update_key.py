"""PATCH /api/v1/keys/{id}: a key's name, budget and expiry (CONTRACT.md §9)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from apikeys.keys import create_key, revoke_key
from apikeys.models import APIKey
from tests.conftest import bearer


def patch(client, key_id, body):
    return client.patch(f"/api/v1/keys/{key_id}", data=json.dumps(body), content_type="application/json")


def test_it_changes_name_budget_and_expiry(as_alice, alice):
    key, _ = create_key(alice, "old name", "live")
    expires = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    response = patch(as_alice, key.pk, {"name": "new name", "monthly_credit_limit": 250,
                                        "expires_at": expires.isoformat()})
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["name"], body["monthly_credit_limit"]) == (str(key.pk), "new name", 250)
    assert body["credits_spent_this_month"] == 0 and "key" not in body
    key.refresh_from_db()
    assert (key.name, key.monthly_credit_limit, key.expires_at) == ("new name", 250, expires)


def test_it_changes_only_what_it_is_given_and_null_removes(as_alice, alice):
    key, _ = create_key(alice, "k", "live", monthly_credit_limit=100)
    assert patch(as_alice, key.pk, {"name": "renamed"}).json()["monthly_credit_limit"] == 100
    assert patch(as_alice, key.pk, {"monthly_credit_limit": None}).json()["monthly_credit_limit"] is None
    key.refresh_from_db()
    assert (key.name, key.monthly_credit_limit) == ("renamed", None)


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"monthly_credit_limit": 0},
                                  {"expires_at": "2001-01-01T00:00:00Z"}, ["name"],
                                  # A field PATCH cannot change is refused, not ignored
                                  # beside one it can: the caller would think it changed.
                                  {"name": "renamed", "environment": "test"},
                                  {"monthly_credit_limit": 5, "rate_limit": 1000},
                                  {"name": "renamed", "is_active": True}])
def test_it_refuses_bad_changes_with_400(as_alice, alice, body):
    key, _ = create_key(alice, "k", "live")
    response = patch(as_alice, key.pk, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    key.refresh_from_db()
    assert (key.name, key.monthly_credit_limit, key.expires_at) == ("k", None, None)


def test_a_revoked_unknown_or_someone_elses_key_is_404(as_alice, alice, bob):
    revoked, _ = create_key(alice, "k", "live")
    revoke_key(revoked)
    theirs, _ = create_key(bob, "b", "live")
    for key_id in (revoked.pk, theirs.pk, "3f2b6c1d-8e4a-4d7b-9a0c-5e6f7a8b9c0d"):
        response = patch(as_alice, key_id, {"name": "x"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert APIKey.objects.get(pk=theirs.pk).name == "b"


def test_an_api_key_may_not_change_keys(alice):
    key, plaintext = create_key(alice, "k", "live")
    response = patch(Client(headers=bearer(plaintext)), key.pk, {"monthly_credit_limit": None})
    assert response.status_code == 403


def test_a_new_expiry_applies_to_the_cached_key_at_once(as_alice, alice):
    key, plaintext = create_key(alice, "k", "live")
    as_key = Client(headers=bearer(plaintext))
    assert as_key.get("/api/v1/credits/balance").status_code == 200  # cached now
    soon = datetime.now(UTC) + timedelta(seconds=30)
    assert patch(as_alice, key.pk, {"expires_at": soon.isoformat()}).status_code == 200
    with time_machine.travel(soon + timedelta(seconds=1)):
        response = as_key.get("/api/v1/credits/balance")
    assert response.status_code == 401


def test_it_refuses_a_field_named_with_a_lone_surrogate_with_400_not_500(as_alice, alice):
    # The refusal names the unchangeable field; a lone surrogate (a legal JSON escape with
    # no UTF-8 form) in that name made the answer unrenderable, a 500.
    key, _ = create_key(alice, "k", "live")
    response = as_alice.patch(f"/api/v1/keys/{key.pk}", data='{"name": "new", "\\ud800": 1}',
                              content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    key.refresh_from_db()
    assert key.name == "k"
