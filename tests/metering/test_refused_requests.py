"""Requests refused before their authentication ran (CONTRACT.md §7: "Rejected requests
(401 aside) are recorded too"): an unsafe relay path, a body too large or not read
whole. Each leaves one usage record, attributed to the API key it bore."""

from __future__ import annotations

import pytest
from django.test import Client

from apikeys import keys
from apikeys.authentication import authenticate_key
from core.bodies import REFUSAL
from metering.models import UsageRecord
from tests.conftest import bearer, flush_usage

pytestmark = pytest.mark.django_db

UNSAFE_PATHS = [
    ("/api/v1/browse/%2e%2e/x", "/api/v1/browse/<path>"),
    ("/api/v1/moments/a%5cb", "/api/v1/moments/<path>"),
    ("/api/v1/graph/neighbors/a%00", "/api/v1/graph/neighbors/<path>"),
]


@pytest.fixture
def key_client(alice):
    """A key in use: its record is in the cache, where a refused request's key is read."""
    key, plaintext = keys.create_key(alice, "ci")
    authenticate_key(plaintext)
    return key, Client(headers=bearer(plaintext))


def test_a_key_not_in_use_is_not_looked_up_for_a_refused_request(alice, clockchain, django_assert_num_queries):
    # Refusals come before any limit: a database lookup per made-up key would be free
    # work for anyone. A key whose record is not cached is left off the record.
    _key, plaintext = keys.create_key(alice, "never used")
    client = Client(headers=bearer(plaintext))

    with django_assert_num_queries(0):
        assert client.get(UNSAFE_PATHS[0][0]).status_code == 400
    flush_usage()
    assert UsageRecord.objects.get().api_key is None


@pytest.mark.parametrize(("path", "endpoint"), UNSAFE_PATHS)
def test_it_records_a_refused_path_against_the_key(key_client, alice, clockchain, path, endpoint):
    key, client = key_client
    assert client.get(path).status_code == 400
    flush_usage()
    record = UsageRecord.objects.get()
    assert (record.account, record.api_key, record.status_code, record.endpoint) == (alice, key, 400, endpoint)
    assert clockchain.received() == []


def test_it_records_a_body_too_large_against_the_key(key_client, alice, flash, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    key, client = key_client
    response = client.post("/api/v1/generate", {"query": "x" * 2000}, content_type="application/json")
    assert response.status_code == 413
    flush_usage()
    record = UsageRecord.objects.get()
    assert (record.account, record.api_key, record.status_code, record.endpoint, record.credits_spent) == (
        alice, key, 413, "/api/v1/generate", 0)
    assert flash.received() == []


def test_it_records_a_body_not_read_whole_against_the_key(key_client, alice, flash):
    key, client = key_client
    # What core.bodies.WholeBodies leaves for a body cut short (under a server).
    response = client.post("/api/v1/generate", b"", content_type="application/json",
                           **{REFUSAL: (400, "The request body could not be read whole.")})
    assert response.status_code == 400
    flush_usage()
    record = UsageRecord.objects.get()
    assert (record.account, record.api_key, record.status_code, record.endpoint) == (
        alice, key, 400, "/api/v1/generate")
    assert flash.received() == []


def test_the_key_usage_endpoint_counts_the_refused_requests(key_client, as_alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    key, client = key_client
    for path, _endpoint in UNSAFE_PATHS:
        assert client.get(path).status_code == 400
    assert client.post("/api/v1/generate", "x" * 2000, content_type="application/json").status_code == 413
    flush_usage()
    usage = as_alice.get(f"/api/v1/keys/{key.id}/usage").json()
    assert usage["total_requests"] == 4
    assert usage["daily"][-1]["errors"] == 4

