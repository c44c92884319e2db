"""Limits and revocation seen by several processes sharing PostgreSQL and Redis.

Each gunicorn test costs a server start and a flush of the test database, so each
covers several related facts against one server.
"""

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from rest_framework.exceptions import AuthenticationFailed

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


def serving_pids(log):
    return set(re.findall(r"^<(\d+)> GET /api/v1/keys", log.read_text(), re.M))


def test_two_workers_count_requests_per_minute_together(gunicorn_server, alice, alice_token, bob):
    url = gunicorn_server(workers=2)

    # A free key: the 11th request in its minute is refused, whichever worker serves it.
    _, key = create_key(alice, "k", "live")
    answers, refused = until_refused(url + "/api/v1/keys", bearer(key), 10)
    assert len(answers) == 10
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == [str(n) for n in range(9, -1, -1)]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1

    # An Auth0 caller is counted per account.
    answers, refused = until_refused(url + "/api/v1/keys", bearer(alice_token), 10)
    assert len(answers) == 10 and all(r.status_code == 200 for r in answers)

    # A burst on parallel connections, served by both workers, lets exactly the limit through.
    _, burst_key = create_key(bob, "burst", "live")
    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(
            lambda _: requests.get(url + "/api/v1/keys", headers=bearer(burst_key), timeout=10).status_code,
            range(30),
        ))
    if statuses.count(403) != 10:
        # A window may end during the burst: then at most two windows' worth got through.
        assert 10 < statuses.count(403) <= 20
    assert statuses.count(403) + statuses.count(429) == 30
    assert len(serving_pids(gunicorn_server.logs[url])) == 2


def test_a_revocation_is_seen_across_processes_within_a_second(gunicorn_server, alice, alice_token):
    url = gunicorn_server(workers=2)

    # Revoked here: the server's workers, which cached the key, refuse it at once.
    key, plaintext = create_key(alice, "k", "live")
    for _ in range(4):
        assert requests.get(url + "/api/v1/keys", headers=bearer(plaintext), timeout=10).status_code == 403
    revoke_key(key)
    revoked_at = time.monotonic()
    while requests.get(url + "/api/v1/keys", headers=bearer(plaintext), timeout=10).status_code != 401:
        assert time.monotonic() - revoked_at < 1.0, "the server still accepts a revoked key"
    for _ in range(4):
        assert requests.get(url + "/api/v1/keys", headers=bearer(plaintext), timeout=10).status_code == 401

    # Revoked by the server: this process, which cached the key, refuses it.
    other, other_plaintext = create_key(alice, "k2", "live")
    authenticate_key(other_plaintext)
    response = requests.delete(f"{url}/api/v1/keys/{other.pk}", headers=bearer(alice_token), timeout=10)
    assert response.status_code == 204
    with pytest.raises(AuthenticationFailed):
        authenticate_key(other_plaintext)
