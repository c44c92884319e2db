import hashlib
import re

import pytest
from django.db import connection

from apikeys import keys
from apikeys.models import APIKey
from tests.conftest import bearer

KEY_FORMAT = re.compile(r"^tp_(live|test)_[a-z0-9]{32}$")


def test_it_creates_a_live_key_shown_once(as_alice, alice):
    response = as_alice.post("/api/v1/keys", {"name": "my app", "environment": "live"}, content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "key", "prefix", "name", "environment", "tier", "rate_limit", "created_at",
                         "monthly_credit_limit", "expires_at", "credits_spent_this_month", "replaced_by"}
    assert KEY_FORMAT.match(body["key"]) and body["key"].startswith("tp_live_")
    assert body["prefix"] == body["key"][:16]
    assert (body["name"], body["environment"], body["tier"], body["rate_limit"]) == ("my app", "live", "free", 10)
    key = APIKey.objects.get(pk=body["id"])
    assert key.account == alice
    assert key.key_hash == hashlib.sha256(body["key"].encode()).hexdigest()


def test_it_makes_test_keys(as_alice):
    response = as_alice.post("/api/v1/keys", {"name": "ci", "environment": "test"}, content_type="application/json")
    assert response.status_code == 201
    assert response.json()["key"].startswith("tp_test_")


def test_it_stores_no_plaintext_anywhere_in_the_database(as_alice):
    key = as_alice.post("/api/v1/keys", {"name": "x", "environment": "live"}, content_type="application/json").json()[
        "key"
    ]
    secret_part = key[16:]  # everything beyond the stored prefix
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608
            for row in cursor.fetchall():
                assert not any(isinstance(v, str) and secret_part in v for v in row), table


def test_keys_differ_each_time(as_alice):
    made = {
        as_alice.post("/api/v1/keys", {"name": "k", "environment": "live"}, content_type="application/json").json()[
            "key"
        ]
        for _ in range(5)
    }
    assert len(made) == 5


def test_it_takes_the_accounts_tier(as_alice, alice):
    alice.tier = "pro"
    alice.save()
    body = as_alice.post("/api/v1/keys", {"name": "k", "environment": "live"}, content_type="application/json").json()
    assert (body["tier"], body["rate_limit"]) == ("pro", 60)


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "", "environment": "live"},
        {"name": "x" * 101, "environment": "live"},
        {"name": 12, "environment": "live"},
        {"name": None, "environment": "live"},
        {"name": "ok", "environment": "prod"},
        {"name": "ok"},
        {"environment": "live"},
    ],
)
def test_it_refuses_bad_fields(as_alice, payload):
    response = as_alice.post("/api/v1/keys", payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert not APIKey.objects.exists()


def test_it_accepts_a_100_character_name(as_alice):
    payload = {"name": "x" * 100, "environment": "live"}
    response = as_alice.post("/api/v1/keys", payload, content_type="application/json")
    assert response.status_code == 201


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"text"'])
def test_it_refuses_bodies_that_are_not_objects(as_alice, body):
    response = as_alice.post("/api/v1/keys", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_it_caps_active_keys_per_account(as_alice, monkeypatch):
    monkeypatch.setattr(keys, "MAX_ACTIVE_PER_ACCOUNT", 3)
    for _ in range(3):
        assert as_alice.post(
            "/api/v1/keys", {"name": "k", "environment": "live"}, content_type="application/json"
        ).status_code == 201
    response = as_alice.post("/api/v1/keys", {"name": "k", "environment": "live"}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert APIKey.objects.count() == 3
    # A revoked key frees its place.
    key_id = APIKey.objects.first().pk
    assert as_alice.delete(f"/api/v1/keys/{key_id}").status_code == 204
    assert as_alice.post(
        "/api/v1/keys", {"name": "k", "environment": "live"}, content_type="application/json"
    ).status_code == 201


def test_an_api_key_may_not_create_keys(client, alice_key):
    response = client.post(
        "/api/v1/keys", {"name": "k", "environment": "live"}, content_type="application/json", headers=bearer(alice_key)
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert APIKey.objects.count() == 1


def test_it_needs_a_credential(client, db):
    response = client.post("/api/v1/keys", {"name": "k", "environment": "live"}, content_type="application/json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


# A lone surrogate is a legal JSON escape but has no UTF-8 form: echoed in the error
# message it made the answer unrenderable (a 500). json.dumps writes it as the escape.
def test_it_refuses_a_lone_surrogate_with_400_not_500(as_alice):
    body = '{"name": "k", "environment": "\\ud800"}'
    response = as_alice.post("/api/v1/keys", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert not APIKey.objects.exists()
