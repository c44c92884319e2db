import pytest
from django.test import Client

from apikeys.keys import create_key
from tests.conftest import bearer


@pytest.fixture(autouse=True)
def _three_per_minute(settings):
    settings.AUTH_FAILURES_PER_MINUTE = 3


def test_failed_authentications_are_limited_per_client_ip(db, alice):
    _, good = create_key(alice, "k", "live")
    guesser = Client(REMOTE_ADDR="10.1.1.1")
    for n in range(3):
        response = guesser.get("/api/v1/keys", headers=bearer(f"tp_live_{n:032d}"))
        assert response.status_code == 401
    refused = guesser.get("/api/v1/keys", headers=bearer("tp_live_" + "z" * 32))
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    # Even a good credential is not tried from that address for now…
    assert guesser.get("/api/v1/keys", headers=bearer(good)).status_code == 429
    # …while another address is unaffected.
    assert Client(REMOTE_ADDR="10.1.1.2").get("/api/v1/keys", headers=bearer(good)).status_code == 403


def test_bad_auth0_tokens_count_too(db):
    guesser = Client(REMOTE_ADDR="10.1.1.3")
    for _ in range(3):
        assert guesser.get("/api/v1/keys", headers=bearer("not-a-jwt")).status_code == 401
    assert guesser.get("/api/v1/keys", headers=bearer("not-a-jwt")).status_code == 429


def test_successful_authentications_do_not_count(db, alice):
    _, good = create_key(alice, "k", "live")
    caller = Client(REMOTE_ADDR="10.1.1.4")
    for _ in range(5):
        assert caller.get("/api/v1/keys", headers=bearer(good)).status_code == 403
