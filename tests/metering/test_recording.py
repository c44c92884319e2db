from __future__ import annotations

import uuid

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.http import StreamingHttpResponse
from django.test import Client

from core.context import context
from metering.middleware import UsageMiddleware
from metering.models import UsageRecord
from metering.recording import failures
from tests.conftest import flush_usage

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.metering.urls")]


def test_it_records_an_authenticated_call_with_the_route_pattern(as_alice, alice):
    response = as_alice.get("/api/v1/usage", HTTP_X_REQUEST_ID="req-1")
    assert response.status_code == 200
    flush_usage()
    record = UsageRecord.objects.get()
    assert record.account == alice
    assert record.endpoint == "/api/v1/usage"
    assert record.method == "GET"
    assert record.status_code == 200
    assert record.request_id == "req-1"
    assert record.credits_spent == 0
    assert record.response_time_ms >= 0
    assert record.is_test is False


def test_it_records_the_route_not_the_raw_path(as_alice):
    key_id = uuid.uuid4()
    response = as_alice.get(f"/api/v1/keys/{key_id}/usage")
    assert response.status_code == 404
    flush_usage()
    record = UsageRecord.objects.get()
    assert record.endpoint == "/api/v1/keys/<key_id>/usage"
    assert record.status_code == 404
    assert str(key_id) not in record.endpoint


def test_it_records_the_facts_the_relay_annotates(as_alice, alice):
    response = as_alice.post(
        "/api/v1/fake/relayed/7", {"credits_spent": 5, "preset": "hd"}, content_type="application/json"
    )
    assert response.status_code == 200
    flush_usage()
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.method, record.credits_spent, record.preset) == (
        "/api/v1/fake/relayed/<item_id>", "POST", 5, "hd")


@pytest.mark.parametrize("status", [402, 403, 429, 502, 503, 504])
def test_it_records_refused_requests(as_alice, alice, status):
    response = as_alice.get(f"/api/v1/fake/refused/{status}")
    assert response.status_code == status
    flush_usage()
    record = UsageRecord.objects.get()
    assert (record.account, record.status_code, record.endpoint) == (alice, status, "/api/v1/fake/refused/<status>")


def test_it_records_a_crash_as_500(alice_token, alice):
    client = Client(headers={"Authorization": f"Bearer {alice_token}"}, raise_request_exception=False)
    response = client.get("/api/v1/fake/crashed")
    assert response.status_code == 500
    flush_usage()
    assert UsageRecord.objects.get().status_code == 500


def test_it_does_not_record_unauthenticated_calls(client):
    assert client.get("/api/v1/usage").status_code == 401
    assert client.get("/api/v1/usage", HTTP_AUTHORIZATION="Bearer nonsense").status_code == 401
    flush_usage()
    assert not UsageRecord.objects.exists()


def test_it_records_anonymous_public_calls_without_account(client):
    # An unknown path under /api/v1/ is public (404 before any authentication).
    assert client.get("/api/v1/no/such/thing/42").status_code == 404
    flush_usage()
    record = UsageRecord.objects.get()
    assert record.account is None
    assert record.endpoint == "(unmatched)"


def test_it_skips_docs_schema_webhooks_and_health(client):
    client.get("/health")
    client.get("/api/v1/schema/")
    client.post("/api/v1/billing/webhooks/stripe", "{}", content_type="application/json")
    flush_usage()
    assert not UsageRecord.objects.exists()


def test_it_records_a_stream_when_it_closes_with_what_it_learned(as_alice, alice):
    response = as_alice.get("/api/v1/fake/streamed?credits=3")
    assert response.status_code == 200
    flush_usage()
    assert not UsageRecord.objects.exists()  # nothing until the stream has been consumed
    body = b"".join(response.streaming_content)  # the test client closes the response at the end
    assert b"done" in body
    flush_usage()
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.status_code, record.credits_spent, record.preset) == (
        "/api/v1/fake/streamed", 200, 3, "hd")


def test_it_records_a_stream_the_client_abandons(rf, alice):
    # Driven without the test client, whose own end-of-request hook would close the
    # test database connection when the response is closed half-way.
    def view(request):
        def events():
            yield b"event: progress\n\n"
            context(request).credits_spent = 3
            yield b"event: done\n\n"

        return StreamingHttpResponse(events(), content_type="text/event-stream")

    request = rf.get("/api/v1/generate/stream")
    context(request).account = alice
    response = UsageMiddleware(view)(request)
    next(iter(response))
    request_finished.disconnect(close_old_connections)
    try:
        response.close()  # what the server does when the client goes away
    finally:
        request_finished.connect(close_old_connections)
    flush_usage()
    record = UsageRecord.objects.get()
    assert (record.account, record.status_code, record.credits_spent) == (alice, 200, 0)


def test_a_recording_failure_does_not_fail_the_request(as_alice):
    before = failures.value
    response = as_alice.post(
        "/api/v1/fake/relayed/1", {"credits_spent": "not a number"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert failures.value == before + 1
    flush_usage()
    assert list(UsageRecord.objects.values_list("endpoint", "credits_spent")) == []
    # The connection is still usable afterwards: the next request records normally.
    assert as_alice.get("/api/v1/usage").status_code == 200
    flush_usage()
    assert UsageRecord.objects.count() == 1


def test_it_records_a_stream_closed_before_it_started(rf, alice):
    def view(request):
        return StreamingHttpResponse(iter([b"event: done\n\n"]), content_type="text/event-stream")

    request = rf.get("/api/v1/generate/stream")
    context(request).account = alice
    response = UsageMiddleware(view)(request)
    request_finished.disconnect(close_old_connections)
    try:
        response.close()  # the client went away before the first byte
    finally:
        request_finished.connect(close_old_connections)
    flush_usage()
    assert UsageRecord.objects.get().account == alice
