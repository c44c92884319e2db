"""Many slow streams through the production serving model (gunicorn.conf.py: gevent
workers) in a subprocess: each costs a greenlet, so reads keep being answered while a
hundred streams are held open, and a client that goes away frees the upstream stream
and its concurrency slot."""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests

from apikeys.keys import create_key
from metering.models import UsageRecord
from tests.conftest import bearer

pytestmark = pytest.mark.gunicorn

STREAMS = 100
KEYS = 5  # enterprise: 20 concurrent requests per key
BODY = json.dumps({"query": "The storming of the Bastille", "preset": "balanced"})


def wait_for(condition, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def open_stream(url: str, key: str) -> tuple[http.client.HTTPConnection, bytes]:
    """A stream opened and read up to its first whole event (and whatever came with it)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.request("POST", "/api/v1/generate/stream", body=BODY,
                 headers={**bearer(key), "Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200, response.read()
    buffer = b""
    while b"\n\n" not in buffer:
        chunk = response.read1(65536)
        assert chunk, "the stream ended before its first event"
        buffer += chunk
    conn.response = response  # read on until the end, or closed as a client going away
    return conn, buffer


def test_a_hundred_open_streams_leave_reads_answered_and_a_disconnect_frees_everything(
        gunicorn_server, alice, alice_token, flash):
    alice.tier_override = "enterprise"
    alice.save()
    flash.balances[alice.flash_user_id] = 100_000
    # Every stream sends its first event, then one more every half second for minutes.
    flash.stream_events, flash.stream_interval = 400, 0.5
    keys = [create_key(alice, f"k{n}", "live")[1] for n in range(KEYS)]
    url = gunicorn_server(workers=1, production=True)

    opened: list[http.client.HTTPConnection] = []
    with ThreadPoolExecutor(max_workers=10) as pool:
        # Ten at a time: the stand-in's listen backlog is the standard library's five.
        for first in range(0, STREAMS, 10):
            opened += [conn for conn, _ in pool.map(lambda n: open_stream(url, keys[n % KEYS]),
                                                    range(first, first + 10))]
            wait_for(lambda first=first: flash.streams_started >= first + 10, "the stand-in to start the streams")

    try:
        # One worker, a hundred streams in flight: a read is answered all the same…
        read = requests.get(f"{url}/api/v1/credits/balance", headers=bearer(alice_token), timeout=30)
        assert read.status_code == 200
        assert read.json()["balance"] >= 0
        # …while every stream is still held open by Flash.
        assert flash.streams_started == STREAMS
        assert flash.streams_finished == 0 and flash.streams_abandoned == 0
        # Each key holds its 20 slots: one more stream on it is refused.
        refused = requests.post(f"{url}/api/v1/generate/stream", data=BODY, timeout=30,
                                headers={**bearer(keys[0]), "Content-Type": "application/json"})
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "concurrency_limited"
    finally:
        for conn in opened:  # every client goes away mid-stream
            conn.close()

    # The gateway closed each upstream stream…
    wait_for(lambda: flash.streams_abandoned == STREAMS, "Flash to see every stream closed")
    assert flash.streams_finished == 0
    # …and gave its slot back: each key streams again.
    for key in keys:
        conn, first_event = open_stream(url, key)
        assert first_event.startswith(b"event: start")
        conn.close()

    # Every stream left its usage record, with the credits Flash charged for it.
    def stream_records():
        return UsageRecord.objects.filter(endpoint="/api/v1/generate/stream", account=alice)

    wait_for(lambda: stream_records().count() >= STREAMS + 1 + KEYS, "the usage writer to store the records")
    assert stream_records().count() == STREAMS + 1 + KEYS
    cost = flash.costs["generate_balanced"]
    assert stream_records().filter(status_code=200, credits_spent=cost).count() == STREAMS + KEYS


def test_plain_gthread_workers_still_serve_the_application(gunicorn_server, alice, alice_token, flash):
    url = gunicorn_server(workers=1, threads=4)  # gunicorn -k gthread timepoint_billing.wsgi:application
    assert requests.get(f"{url}/api/v1/credits/balance", headers=bearer(alice_token), timeout=30).status_code == 200
    conn, first_event = open_stream(url, alice_token)
    try:
        assert first_event.startswith(b"event: start")
        rest = conn.response.read()
        assert b"event: done" in first_event + rest  # events that arrived together go on together
    finally:
        conn.close()
    wait_for(lambda: UsageRecord.objects.filter(account=alice).count() == 2, "the usage records")


def test_a_graceful_stop_lets_a_stream_in_flight_finish_and_stores_its_record(gunicorn_server, alice, alice_token,
                                                                               flash):
    url = gunicorn_server(workers=1, production=True)
    flash.stream_gate = threading.Event()  # Flash holds the stream after its first event
    try:
        conn, first_event = open_stream(url, alice_token)
        assert first_event.startswith(b"event: start")

        process = gunicorn_server.processes[url]
        process.terminate()  # SIGTERM, as a deploy sends it

        def refusing() -> bool:
            try:
                requests.get(f"{url}/health", timeout=5)
            except requests.ConnectionError:
                return True
            return False

        wait_for(refusing, "the server to stop taking new connections")
        flash.stream_gate.set()
        rest = conn.response.read()
        conn.close()
    finally:
        flash.stream_gate.set()
    assert rest.rstrip().split(b"\n\n")[-1].startswith(b"event: done")
    assert process.wait(timeout=60) == 0
    record = UsageRecord.objects.get(endpoint="/api/v1/generate/stream", account=alice)
    assert (record.status_code, record.credits_spent) == (200, flash.costs["generate_balanced"])
