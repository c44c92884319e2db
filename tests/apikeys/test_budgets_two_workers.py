"""Budgets and expiry seen by several gunicorn workers sharing PostgreSQL and Redis
(the production serving model: gevent workers)."""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests

from apikeys.keys import create_key, update_key
from tests.apikeys.test_two_workers import serving_pids_of
from tests.conftest import bearer

pytestmark = pytest.mark.gunicorn


def test_it_lets_exactly_the_budgets_generations_reach_flash_from_twenty_at_once(gunicorn_server, alice, flash):
    alice.tier_override = "enterprise"  # twenty at a time, so only the budget refuses
    alice.save()
    flash.balances[alice.flash_user_id] = 1000
    _, key = create_key(alice, "burst", "live", monthly_credit_limit=3 * flash.costs["generate_balanced"])
    url = gunicorn_server(workers=2, production=True)

    def generate(_):
        return requests.post(url + "/api/v1/generate", data=json.dumps({"query": "x"}), timeout=30,
                             headers={**bearer(key), "Content-Type": "application/json"})

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(generate, range(20)))
    assert sorted(r.status_code for r in answers) == [200] * 3 + [402] * 17
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 402} == {"budget_exceeded"}
    assert len(flash.received("/api/v1/timepoints/generate/sync")) == 3
    assert flash.balance_of(alice.flash_user_id) == 1000 - 3 * flash.costs["generate_balanced"]
    assert {r.headers["X-Credits-Spent"] for r in answers if r.status_code == 402} == {"0"}
    log = gunicorn_server.logs[url].read_text()
    assert len({line.split()[0] for line in log.splitlines() if "POST /api/v1/generate " in line}) == 2

    # Either worker refuses the next one, and reads still pass.
    for _ in range(4):
        assert generate(0).status_code == 402
        assert requests.get(url + "/api/v1/credits/balance", headers=bearer(key), timeout=10).status_code == 200


def test_it_applies_an_expiry_in_every_worker_once_it_passes(gunicorn_server, alice):
    key, plaintext = create_key(alice, "k", "live")
    key.rate_limit_override = 100_000  # polled until refused: the minute's limit must not answer first
    key.save()
    url = gunicorn_server(workers=2, production=True)
    for _ in range(6):  # cached by both workers
        assert requests.get(url + "/api/v1/credits/balance", headers=bearer(plaintext), timeout=10).status_code == 200
    expires = datetime.now(UTC) + timedelta(seconds=1)
    update_key(key, {"expires_at": expires})
    while True:
        # Whether a request was sent after the expiry, not when its answer arrives: a loaded
        # machine may answer late a request that was sent in time.
        sent_at = datetime.now(UTC)
        response = requests.get(url + "/api/v1/credits/balance", headers=bearer(plaintext), timeout=10)
        if response.status_code == 401:
            break
        assert response.status_code == 200
        assert sent_at < expires, "a worker accepted the key after its expires_at"
    assert "expired" in response.json()["error"]["message"]
    statuses = [requests.get(url + "/api/v1/credits/balance", headers=bearer(plaintext), timeout=10).status_code
                for _ in range(6)]
    assert statuses == [401] * 6
    assert len(serving_pids_of(gunicorn_server.logs[url], "/api/v1/credits/balance")) == 2
