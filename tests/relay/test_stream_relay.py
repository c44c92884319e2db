"""The stream endpoint's checks, in-process (the gunicorn tests cover the wire)."""

import json

from metering.models import UsageRecord
from tests.conftest import flush_usage


def stream(client, body):
    return client.post("/api/v1/generate/stream", data=json.dumps(body), content_type="application/json")


def test_it_streams_flashs_events_and_reports_credits(as_alice, alice, flash):
    response = stream(as_alice, {"query": "x", "callback_url": "https://example.com/h", "request_context": {"a": 1}})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    body = b"".join(response.streaming_content)
    assert body.count(b"event: progress") == 3
    assert b"event: done" in body
    assert b"event: error" not in body
    (sent,) = flash.received("generate/stream")
    assert sent.json()["request_context"] == {"a": 1}
    assert sent.json()["callback_url"] == "https://example.com/h"
    assert sent.headers["x-user-id"] == alice.flash_user_id
    assert sent.headers.get("accept-encoding") == "identity"
    flush_usage()  # the stream's record was queued when the client closed it
    record = UsageRecord.objects.get()
    assert (record.credits_spent, record.preset) == (flash.costs["generate_balanced"], "balanced")


def test_it_refuses_hd_without_an_hd_tier(as_alice, flash):
    response = stream(as_alice, {"query": "x", "preset": "hd"})
    assert response.status_code == 403
    assert flash.received("generate/stream") == []


def test_it_refuses_402_when_the_balance_cannot_pay(as_alice, alice, flash):
    flash.balances[alice.flash_user_id] = 1
    response = stream(as_alice, {"query": "x"})
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_credits"
    assert flash.received("generate/stream") == []


def test_an_upstream_5xx_before_the_stream_is_502(as_alice, flash):
    flash.fail(500, path="generate/stream")
    response = stream(as_alice, {"query": "x"})
    assert response.status_code == 502
    flush_usage()
    assert UsageRecord.objects.get().credits_spent == 0


def test_a_refused_connection_is_503(as_alice, flash):
    flash.down()
    response = stream(as_alice, {"query": "x"})
    assert response.status_code == 503


def test_an_open_stream_holds_its_concurrency_slot_until_it_ends(as_alice, flash):
    import threading

    flash.stream_gate = threading.Event()  # Flash sends its first event, then waits
    try:
        first = stream(as_alice, {"query": "x"})
        assert first.status_code == 200
        second = stream(as_alice, {"query": "y"})  # free tier: one request at a time
        assert second.status_code == 429
        assert second.json()["error"]["code"] == "concurrency_limited"
        assert second["Retry-After"]
        flash.stream_gate.set()
        assert b"event: done" in b"".join(first.streaming_content)  # the client closes it at the end
        assert stream(as_alice, {"query": "z"}).status_code == 200
    finally:
        flash.stream_gate.set()


def _read_until(events, name: bytes) -> None:
    """Read pieces until one carries the event (events that arrived together come in one piece)."""
    for chunk in events:
        if b"\nevent: " + name in b"\n" + chunk:
            return
    raise AssertionError(f"no {name!r} event")


def test_the_slot_is_free_once_the_last_event_reaches_the_client(as_alice, flash):
    """A client that opens its next stream the moment it reads `done` (before the
    connection closes) is not refused for the slot of the one that ended."""
    first = stream(as_alice, {"query": "x"})
    events = iter(first.streaming_content)
    _read_until(events, b"done")  # the response is still open
    try:
        second = stream(as_alice, {"query": "y"})  # free tier: one request at a time
        assert second.status_code == 200
        b"".join(second.streaming_content)
    finally:
        first.close()


def test_the_slot_is_free_once_a_broken_streams_error_event_reaches_the_client(as_alice, flash):
    flash.stream_break_after = 1
    first = stream(as_alice, {"query": "x"})
    events = iter(first.streaming_content)
    _read_until(events, b"error")
    flash.stream_break_after = None
    try:
        assert stream(as_alice, {"query": "y"}).status_code == 200
    finally:
        first.close()


def test_it_streams_to_a_client_that_accepts_only_event_streams(as_alice, flash):
    response = as_alice.post("/api/v1/generate/stream", data=json.dumps({"query": "x"}),
                             content_type="application/json", headers={"Accept": "text/event-stream"})
    assert response.status_code == 200
    assert b"event: done" in b"".join(response.streaming_content)


def test_its_refusals_stay_json_for_an_event_stream_client(as_alice, flash):
    response = as_alice.post("/api/v1/generate/stream", data=json.dumps({"query": "x", "preset": "hd"}),
                             content_type="application/json", headers={"Accept": "text/event-stream"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
