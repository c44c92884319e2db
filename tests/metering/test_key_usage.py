from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest
from django.test import Client

from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def _today():
    return dt.datetime.now(dt.UTC).date()


def _at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def test_it_answers_the_contract_shape(as_alice, alice, make_key, make_record):
    key = make_key(alice)
    today = _today()
    make_record(_at(today, 0), account=alice, api_key=key, credits_spent=5, endpoint="/api/v1/generate")
    make_record(_at(today, 0), account=alice, api_key=key, status_code=402, endpoint="/api/v1/generate")
    make_record(_at(today - dt.timedelta(days=2)), account=alice, api_key=key, endpoint="/api/v1/credits/balance")
    make_record(_at(today), account=alice, api_key=None)  # not this key

    response = as_alice.get(f"/api/v1/keys/{key.id}/usage")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"key_id", "total_requests", "credits_spent", "daily", "by_endpoint"}
    assert body["key_id"] == str(key.id)
    assert body["total_requests"] == 3
    assert body["credits_spent"] == 5
    assert len(body["daily"]) == 30  # default range: the last 30 days, zero-filled
    assert body["daily"][-1] == {"date": today.isoformat(), "requests": 2, "errors": 1, "credits_spent": 5}
    assert body["daily"][-3]["requests"] == 1
    assert body["by_endpoint"] == [
        {"endpoint": "/api/v1/generate", "requests": 2, "credits_spent": 5},
        {"endpoint": "/api/v1/credits/balance", "requests": 1, "credits_spent": 0},
    ]


def test_it_honours_from_and_to(as_alice, alice, make_key, make_record):
    key = make_key(alice)
    today = _today()
    make_record(_at(today - dt.timedelta(days=40)), account=alice, api_key=key)
    make_record(_at(today), account=alice, api_key=key)
    frm = (today - dt.timedelta(days=45)).isoformat()
    to = (today - dt.timedelta(days=35)).isoformat()
    body = as_alice.get(f"/api/v1/keys/{key.id}/usage?from={frm}&to={to}").json()
    assert body["total_requests"] == 1
    assert [d["date"] for d in body["daily"]][0] == frm
    assert len(body["daily"]) == 11


@pytest.mark.parametrize("query", ["from=yesterday", "to=2026-13-01", "from=2026-05-02&to=2026-05-01"])
def test_it_refuses_bad_dates(as_alice, alice, make_key, query):
    key = make_key(alice)
    response = as_alice.get(f"/api/v1/keys/{key.id}/usage?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_someone_elses_key_is_not_found(as_alice, bob, make_key, make_record):
    key = make_key(bob)
    make_record(_at(_today()), account=bob, api_key=key)
    for key_id in (key.id, uuid.uuid4()):
        response = as_alice.get(f"/api/v1/keys/{key_id}/usage")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_it_needs_a_credential(client, alice, make_key):
    assert client.get(f"/api/v1/keys/{make_key(alice).id}/usage").status_code == 401


def test_an_api_key_may_not_read_usage(alice, make_key):
    token = "tp_live_" + "a" * 32
    key = make_key(alice)
    key.key_hash = hashlib.sha256(token.encode()).hexdigest()
    key.prefix = token[:16]
    key.save()
    response = Client(headers=bearer(token)).get(f"/api/v1/keys/{key.id}/usage")
    if response.status_code == 401:
        pytest.skip("API-key authentication is not on this branch yet (keys issue)")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("path", ["/api/v1/keys/{id}/usage", "/api/v1/usage"])
def test_an_api_key_refused_here_is_limited_like_every_counted_request(alice, make_key, path):
    # CONTRACT.md §5: every authenticated request counts; responses carry the limit's
    # headers, and past the limit the answer is 429 with Retry-After (as on /keys*).
    token = "tp_live_" + "b" * 32
    key = make_key(alice)
    key.key_hash, key.prefix = hashlib.sha256(token.encode()).hexdigest(), token[:16]
    key.save()
    client = Client(headers=bearer(token))
    for left in range(9, -1, -1):  # the free tier's 10 a minute
        response = client.get(path.format(id=key.id))
        assert response.status_code == 403
        assert response["X-RateLimit-Remaining"] == str(left) and "RateLimit-Policy" in response
    limited = client.get(path.format(id=key.id))
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
