"""POST /api/v1/generate/stream: Flash's SSE handed on event by event, through a real
gunicorn."""

from __future__ import annotations

import http.client
import json
import threading
import time
from urllib.parse import urlsplit

import pytest

from tests.conftest import bearer

pytestmark = [pytest.mark.gunicorn, pytest.mark.django_db(transaction=True)]

BODY = json.dumps({"query": "The moon landing", "preset": "balanced"})


def open_stream(gateway: str, token: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    parts = urlsplit(gateway)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    conn.request("POST", "/api/v1/generate/stream", body=BODY,
                 headers={**bearer(token), "Content-Type": "application/json", "Accept-Encoding": "gzip"})
    return conn, conn.getresponse()


def read_event(response: http.client.HTTPResponse, buffer: bytearray) -> bytes:
    """One whole SSE event, reading only as much as has arrived."""
    while b"\n\n" not in buffer:
        chunk = response.read1(65536)
        if not chunk:
            raise EOFError(bytes(buffer))
        buffer += chunk
    end = buffer.index(b"\n\n") + 2
    event = bytes(buffer[:end])
    del buffer[:end]
    return event


def read_all_events(response: http.client.HTTPResponse) -> list[bytes]:
    buffer, events = bytearray(), []
    while True:
        try:
            events.append(read_event(response, buffer))
        except EOFError:
            return events


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_it_hands_on_the_first_event_while_flash_is_still_sending(gateway, alice_token, flash):
    flash.stream_gate = threading.Event()  # Flash sends "start", then waits here
    conn, response = open_stream(gateway, alice_token)
    try:
        assert response.status == 200
        assert response.getheader("Content-Type").startswith("text/event-stream")
        assert response.getheader("X-Accel-Buffering") == "no"
        assert response.getheader("Content-Encoding") is None
        buffer = bytearray()
        first = read_event(response, buffer)
        assert first.startswith(b"event: start")
        # The client holds the first event while Flash is blocked mid-stream.
        assert flash.streams_started == 1
        assert flash.streams_finished == 0
        flash.stream_gate.set()
        rest = []
        while True:
            try:
                rest.append(read_event(response, buffer))
            except EOFError:
                break
    finally:
        conn.close()
    names = [event.split(b"\n", 1)[0] for event in rest]
    assert names == [b"event: progress"] * 3 + [b"event: done"]
    assert json.loads(rest[-1].split(b"data: ", 1)[1])["query"] == "The moon landing"
    assert wait_for(lambda: flash.streams_finished == 1)


def test_the_clients_disconnect_closes_the_upstream(gateway, alice_token, flash):
    flash.stream_gate = threading.Event()
    flash.stream_events = 500
    flash.stream_interval = 0.01
    conn, response = open_stream(gateway, alice_token)
    first = read_event(response, bytearray())
    assert first.startswith(b"event: start")
    response.close()
    conn.close()
    flash.stream_gate.set()
    assert wait_for(lambda: flash.streams_abandoned == 1), (flash.streams_abandoned, flash.streams_finished)
    assert flash.streams_finished == 0


def test_a_break_mid_stream_ends_with_an_error_event(gateway, alice_token, flash):
    flash.stream_break_after = 1
    conn, response = open_stream(gateway, alice_token)
    try:
        events = read_all_events(response)
    finally:
        conn.close()
    names = [event.split(b"\n", 1)[0] for event in events]
    assert names == [b"event: start", b"event: progress", b"event: error"]
    assert json.loads(events[-1].split(b"data: ", 1)[1]) == {
        "error": {"code": "upstream_error", "message": "Flash broke off the stream."}}


def test_flashs_402_passes_through_without_a_stream(gateway, alice, alice_token, flash):
    flash.fail(402, body={"detail": "Insufficient credits", "required": 5}, path="generate/stream")
    conn, response = open_stream(gateway, alice_token)
    try:
        assert response.status == 402
        assert json.loads(response.read()) == {"detail": "Insufficient credits", "required": 5}
    finally:
        conn.close()


@pytest.mark.parametrize("raw_path", [
    "/api/v1/moments/../../admin/",
    "/api/v1/moments/%2e%2e/%2e%2e/credits/admin/grant",
    "/api/v1/moments/%252e%252e/x",
    "/api/v1/moments/a%5c..%5cb",
    "/api/v1/moments/a%00b",
    "/api/v1/moments/a//b",
])
def test_raw_traversal_request_lines_are_refused(gateway, clockchain, raw_path):
    parts = urlsplit(gateway)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("GET", raw_path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 400, (raw_path, response.read())
    finally:
        conn.close()
    assert clockchain.received() == []
