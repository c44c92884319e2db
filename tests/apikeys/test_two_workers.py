"""Limits and revocation seen by several processes sharing PostgreSQL and Redis."""

import time

import pytest
import requests

from apikeys.authentication import authenticate_key
from apikeys.keys import create_key, revoke_key
from tests.conftest import bearer

pytestmark = pytest.mark.gunicorn


def until_refused(url, headers, limit):
    answers = []
    for _ in range(3 * limit + 3):
        response = requests.get(url, headers=headers, timeout=10)
        rolled_over = answers and abs(int(response.headers["X-RateLimit-Reset"])
                                      - int(answers[-1].headers["X-RateLimit-Reset"])) > 2
        if rolled_over and response.status_code != 429:
            answers = []  # a fixed window ended between two requests
        if response.status_code == 429:
            return answers, response
        answers.append(response)
    raise AssertionError("never refused")


def test_two_workers_count_a_keys_requests_together(gunicorn_server, alice):
    url = gunicorn_server(workers=2)
    _, plaintext = create_key(alice, "k", "live")
    answers, refused = until_refused(url + "/api/v1/keys", bearer(plaintext), 10)
    assert len(answers) == 10
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == [str(n) for n in range(9, -1, -1)]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1


def test_two_workers_count_an_accounts_requests_together(gunicorn_server, alice, alice_token):
    url = gunicorn_server(workers=2)
    answers, refused = until_refused(url + "/api/v1/keys", bearer(alice_token), 10)
    assert len(answers) == 10 and all(r.status_code == 200 for r in answers)
    assert refused.status_code == 429


def test_a_revocation_here_is_seen_by_the_server_within_a_second(gunicorn_server, alice):
    url = gunicorn_server(workers=2)
    key, plaintext = create_key(alice, "k", "live")
    for _ in range(4):  # cached by whichever workers served these
        assert requests.get(url + "/api/v1/keys", headers=bearer(plaintext), timeout=10).status_code == 403
    revoke_key(key)
    revoked_at = time.monotonic()
    while requests.get(url + "/api/v1/keys", headers=bearer(plaintext), timeout=10).status_code != 401:
        assert time.monotonic() - revoked_at < 1.0, "the server still accepts a revoked key"
    for _ in range(4):
        assert requests.get(url + "/api/v1/keys", headers=bearer(plaintext), timeout=10).status_code == 401


def test_a_revocation_by_the_server_is_seen_here(gunicorn_server, alice, alice_token):
    url = gunicorn_server(workers=2)
    key, plaintext = create_key(alice, "k", "live")
    authenticate_key(plaintext)  # cached in this process's view of Redis
    assert requests.delete(f"{url}/api/v1/keys/{key.pk}", headers=bearer(alice_token), timeout=10).status_code == 204
    with pytest.raises(Exception, match="revoked"):
        authenticate_key(plaintext)
