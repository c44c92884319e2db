"""A request's concurrency slot is back in Redis before its answer leaves the worker: a
client that sends its next request the moment it reads an answer, to whichever worker,
finds its slot free, however busy Redis and the workers are with others."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from urllib.parse import urlsplit

import pytest

from apikeys.keys import create_key
from tests.apikeys.test_two_workers import serving_pids_of
from tests.conftest import bearer

pytestmark = pytest.mark.gunicorn


def _one_request(url: str, key: str) -> int:
    """On a connection of its own, so that either worker may take it."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", "/api/v1/credits/balance", headers=bearer(key))
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_a_sequential_client_is_never_refused_its_only_slot(gunicorn_server, alice, bob):
    key, plaintext = create_key(alice, "one at a time", "live")  # free tier: one slot
    key.rate_limit_override = 100_000  # only the slot is under test
    key.save()
    bob.tier_override = "enterprise"
    bob.save()
    busy_key, busy = create_key(bob, "busy", "live")
    busy_key.rate_limit_override = 100_000
    busy_key.save()
    url = gunicorn_server(workers=2, production=True)

    stop = threading.Event()

    def keep_busy() -> None:
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        while not stop.is_set():
            conn.request("GET", "/api/v1/credits/balance", headers=bearer(busy))
            conn.getresponse().read()
        conn.close()

    others = [threading.Thread(target=keep_busy) for _ in range(8)]
    for thread in others:
        thread.start()
    try:
        statuses = Counter(_one_request(url, plaintext) for _ in range(1000))
    finally:
        stop.set()
        for thread in others:
            thread.join()
    assert statuses == {200: 1000}
    assert len(serving_pids_of(gunicorn_server.logs[url], "/api/v1/credits/balance")) == 2
