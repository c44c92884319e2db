"""Limits and revocation seen by several processes sharing PostgreSQL and Redis, under
the production serving model (gunicorn.conf.py: gevent workers).

Each gunicorn test costs a server start and a flush of the test database, so each
covers several related facts against one server.
"""

import http.client
import json
import re
import threading
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
    return serving_pids_of(log, "/api/v1/keys")


def serving_pids_of(log, path):
    return set(re.findall(rf"^<(\d+)> GET {re.escape(path)}", log.read_text(), re.M))


def test_two_workers_count_requests_per_minute_together(gunicorn_server, alice, alice_token, bob):
    url = gunicorn_server(workers=2, production=True)

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
    url = gunicorn_server(workers=2, production=True)

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


def open_stream(url, key):
    conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=30)
    conn.request("POST", "/api/v1/generate/stream", body=json.dumps({"query": "x"}),
                 headers={**bearer(key), "Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200
    assert response.read1(65536).startswith(b"event: start")
    return conn, response


def test_two_workers_share_concurrency_slots_and_the_failed_authentication_limit(gunicorn_server, alice, flash):
    alice.tier_override = "pro"  # five requests at a time, sixty a minute
    alice.save()
    flash.balances[alice.flash_user_id] = 1000
    _, key = create_key(alice, "k", "live")
    url = gunicorn_server(workers=2, production=True, env={"AUTH_FAILURES_PER_MINUTE": "5"})
    log = gunicorn_server.logs[url]

    # Five streams hold the key's five slots (Flash holds each after its first event)…
    flash.stream_gate = threading.Event()
    streams = []
    try:
        streams = [open_stream(url, key) for _ in range(5)]
        # …so any other request of that key is refused, by either worker.
        for _ in range(6):
            with ThreadPoolExecutor(max_workers=8) as pool:
                refused = list(pool.map(lambda _: requests.get(url + "/api/v1/credits/balance",
                                                               headers=bearer(key), timeout=10), range(8)))
            assert [r.status_code for r in refused] == [429] * 8
            assert {r.json()["error"]["code"] for r in refused} == {"concurrency_limited"}
            if len(serving_pids_of(log, "/api/v1/credits/balance")) == 2:
                break
        assert len(serving_pids_of(log, "/api/v1/credits/balance")) == 2
        flash.stream_gate.set()
        for _, response in streams:
            assert b"event: done" in response.read()
    finally:
        flash.stream_gate.set()
        for conn, _ in streams:
            conn.close()
    assert requests.get(url + "/api/v1/credits/balance", headers=bearer(key), timeout=10).status_code == 200

    # Failed authentications from one address are counted in one place for all workers.
    with ThreadPoolExecutor(max_workers=5) as pool:
        guesses = list(pool.map(lambda n: requests.get(url + "/api/v1/today", timeout=10,
                                                       headers=bearer(f"tp_live_{n:032d}")), range(5)))
    assert [r.status_code for r in guesses] == [401] * 5
    refused = requests.get(url + "/api/v1/today", headers=bearer("tp_live_" + "9" * 32), timeout=10)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert requests.get(url + "/api/v1/credits/balance", headers=bearer(key), timeout=10).status_code == 429
