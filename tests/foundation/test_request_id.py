"""X-Request-ID: taken from the client when well-formed, made otherwise, returned,
and on every log line of the request."""

import logging
import re

import pytest

from core.logs import request_id_var

MADE = re.compile(r"^[0-9a-f]{32}$")


def test_it_returns_the_clients_request_id(client, db):
    response = client.get("/health", headers={"X-Request-ID": "client-id.42:a_b"})
    assert response["X-Request-ID"] == "client-id.42:a_b"


def test_it_returns_the_request_id_on_api_errors(client, db):
    response = client.get("/api/v1/no-such-endpoint", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404
    assert response["X-Request-ID"] == "abc-123"


def test_it_makes_one_when_none_is_given(client, db):
    first = client.get("/health")["X-Request-ID"]
    second = client.get("/health")["X-Request-ID"]
    assert MADE.match(first) and MADE.match(second)
    assert first != second


@pytest.mark.parametrize("given", ["has space", "x" * 129, "semi;colon", "new\\nline", "<script>", "ünïcode"])
def test_it_replaces_a_malformed_request_id(client, db, given):
    response = client.get("/health", headers={"X-Request-ID": given})
    assert MADE.match(response["X-Request-ID"])


def test_it_puts_the_request_id_on_the_requests_log_lines(client, db, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.get("/api/v1/no-such-endpoint", headers={"X-Request-ID": "trace-me-1"})
    lines = [r for r in caplog.records if r.name == "django.request"]
    assert lines, "Django logs a 404 as a warning"
    assert {r.request_id for r in lines} == {"trace-me-1"}


def test_it_forgets_the_request_id_after_the_request(client, db, caplog):
    client.get("/health", headers={"X-Request-ID": "gone-after"})
    assert request_id_var.get() == "-"
    with caplog.at_level(logging.INFO):
        logging.getLogger("tests").info("outside any request")
    assert caplog.records[-1].request_id == "-"
