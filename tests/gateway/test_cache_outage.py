"""With the shared cache down, keys are checked against the database and limits are
not enforced: answers stay correct, never a 500."""

import pytest

from apikeys.keys import create_key, revoke_key
from gateway.admission import acquire_slot
from tests.conftest import bearer


@pytest.fixture
def dead_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.1, "SOCKET_TIMEOUT": 0.1},
        }
    }


def test_keys_still_authenticate_and_revoke_from_the_database(client, alice, dead_cache):
    key, plaintext = create_key(alice, "k", "live")
    response = client.get("/api/v1/keys", headers=bearer(plaintext))
    assert response.status_code == 403  # authenticated, and refused as an API key here
    assert "X-RateLimit-Limit" not in response
    revoke_key(key)
    assert client.get("/api/v1/keys", headers=bearer(plaintext)).status_code == 401


def test_slots_are_not_enforced(alice, dead_cache):
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    request = Request(APIRequestFactory().get("/"))
    request.user, request.auth = alice, None
    first, second = acquire_slot(request), acquire_slot(request)
    first.release()
    second.release()
