"""POST /api/v1/keys with a monthly budget and an expiry (CONTRACT.md §9)."""

from datetime import UTC, datetime, timedelta

import pytest

from apikeys.models import APIKey


def create(client, **fields):
    return client.post("/api/v1/keys", {"name": "k", "environment": "live", **fields},
                       content_type="application/json")


def test_it_creates_a_key_with_a_budget_and_an_expiry(as_alice):
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    response = create(as_alice, monthly_credit_limit=500, expires_at=expires.isoformat())
    assert response.status_code == 201
    body = response.json()
    assert body["monthly_credit_limit"] == 500
    assert datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00")) == expires
    assert (body["credits_spent_this_month"], body["replaced_by"]) == (0, None)
    key = APIKey.objects.get(pk=body["id"])
    assert (key.monthly_credit_limit, key.expires_at) == (500, expires)


def test_it_creates_a_key_without_either_by_default(as_alice):
    body = create(as_alice).json()
    assert (body["monthly_credit_limit"], body["expires_at"]) == (None, None)


@pytest.mark.parametrize("fields", [
    {"monthly_credit_limit": 0},
    {"monthly_credit_limit": -5},
    {"monthly_credit_limit": "100"},
    {"monthly_credit_limit": 2.5},
    {"monthly_credit_limit": True},
    {"monthly_credit_limit": 2**40},
    {"expires_at": "yesterday"},
    {"expires_at": "2020-01-01T00:00:00Z"},
    {"expires_at": (datetime.now(UTC) + timedelta(days=367)).isoformat()},
])
def test_it_refuses_a_bad_budget_or_expiry_with_400_and_makes_nothing(as_alice, fields):
    response = create(as_alice, **fields)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert not APIKey.objects.exists()


def test_it_accepts_an_expiry_366_days_ahead(as_alice):
    response = create(as_alice, expires_at=(datetime.now(UTC) + timedelta(days=365, hours=23)).isoformat())
    assert response.status_code == 201
