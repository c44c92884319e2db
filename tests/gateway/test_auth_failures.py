import pytest
from django.test import Client

from apikeys.keys import create_key
from tests.conftest import bearer


@pytest.fixture(autouse=True)
def _three_per_minute(settings):
    settings.AUTH_FAILURES_PER_MINUTE = 3


def guesses(addresses, token) -> tuple[Client, list]:
    """Four wrong guesses from one address: three 401s, then the refusal. Windows are
    fixed minutes, so a burst that straddled a boundary is tried once more from a new
    address (a boundary passes only once a minute: a second miss is a real failure)."""
    for address in addresses:
        guesser = Client(REMOTE_ADDR=address)
        answers = [guesser.get("/api/v1/keys", headers=bearer(token(n))) for n in range(4)]
        if answers[3].status_code == 429:
            break
    return guesser, answers


def test_failed_authentications_are_limited_per_client_ip(db, alice):
    _, good = create_key(alice, "k", "live")
    guesser, answers = guesses(["10.1.1.1", "10.1.1.5"], lambda n: f"tp_live_{n:032d}")
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    refused = answers[3]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    # Even a good credential is not tried from that address for now…
    assert guesser.get("/api/v1/keys", headers=bearer(good)).status_code == 429
    # …while another address is unaffected.
    assert Client(REMOTE_ADDR="10.1.1.2").get("/api/v1/keys", headers=bearer(good)).status_code == 403


def test_bad_auth0_tokens_count_too(db):
    _, answers = guesses(["10.1.1.3", "10.1.1.6"], lambda n: "not-a-jwt")
    assert [a.status_code for a in answers] == [401, 401, 401, 429]


def test_successful_authentications_do_not_count(db, alice):
    _, good = create_key(alice, "k", "live")
    caller = Client(REMOTE_ADDR="10.1.1.4")
    for _ in range(5):
        assert caller.get("/api/v1/keys", headers=bearer(good)).status_code == 403
