"""The error envelope of CONTRACT.md §3 for everything under /api/; HTML elsewhere."""

import logging

import pytest
from django.test import Client

from tests.conftest import bearer

pytestmark = pytest.mark.urls("tests.foundation.urls")


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


def test_it_answers_404_under_api_with_the_envelope(client, db):
    assert_envelope(client.get("/api/v1/no-such-endpoint"), 404, "not_found")


def test_it_answers_404_of_a_drf_view_with_the_envelope(client, db):
    assert_envelope(client.get("/api/v1/test/drf-missing"), 404, "not_found")


def test_it_answers_django_ratelimits_in_drf_views_with_429(client, db):
    response = client.get("/api/v1/test/drf-ratelimited")
    assert_envelope(response, 429, "rate_limited")
    assert int(response["Retry-After"]) > 0


def test_it_keeps_html_404_outside_api(client, db):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_it_answers_405_with_the_envelope_and_allow(client, db):
    response = client.get("/api/v1/test/echo")
    assert_envelope(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]


def test_it_answers_405_of_a_plain_django_view_with_the_envelope(client, db):
    response = client.post("/api/v1/test/plain-get")
    assert_envelope(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET"


def test_it_answers_400_invalid_request_for_bad_json(client, db):
    response = client.post("/api/v1/test/echo", data=b'{"name": ', content_type="application/json")
    body = assert_envelope(response, 400, "invalid_request")
    assert "JSON" in body["error"]["message"]


def test_it_answers_415_for_a_body_that_is_not_json(client, db):
    response = client.post("/api/v1/test/echo", data=b"name=x", content_type="application/x-www-form-urlencoded")
    assert_envelope(response, 415, "invalid_request")


def test_it_accepts_good_json(client, db):
    response = client.post("/api/v1/test/echo", data={"name": "x"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"received": {"name": "x"}}


def test_it_refuses_oversized_bodies_with_413_before_parsing(client, db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/api/v1/test/echo", data=b'{"a": "' + b"x" * 2000 + b'"}',
                           content_type="application/json")
    assert_envelope(response, 413, "request_too_large")


def test_it_refuses_a_non_numeric_content_length(client, db):
    response = client.post("/api/v1/test/echo", data=b"{}", content_type="application/json",
                           CONTENT_LENGTH="lots")
    assert_envelope(response, 400, "invalid_request")


def test_it_answers_401_with_www_authenticate_bearer(client, db):
    response = client.get("/api/v1/test/needs-caller")
    assert_envelope(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_answers_401_for_a_malformed_authorization_header(client, db):
    response = client.get("/api/v1/test/needs-caller", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_envelope(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_answers_401_for_a_token_that_does_not_verify(client, db):
    response = client.get("/api/v1/test/needs-caller", headers=bearer("not-a-jwt"))
    assert_envelope(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/api/v1/test/drf-boom", "/api/v1/test/plain-boom"])
def test_it_answers_500_with_the_envelope_and_logs_the_request_id(db, caplog, path):
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR):
        response = client.get(path, headers={"X-Request-ID": "req-500-check"})
    body = assert_envelope(response, 500, "internal_error")
    assert body["error"]["request_id"] == "req-500-check"
    assert response["X-Request-ID"] == "req-500-check"
    assert b"Traceback" not in response.content
    assert b"kaboom" not in response.content
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged, "the unexpected exception was not logged"
    assert all(r.request_id == "req-500-check" for r in logged)
    assert any("kaboom" in (r.getMessage() + str(r.exc_info or "")) for r in logged)


def test_it_keeps_html_500_outside_api(db):
    client = Client(raise_request_exception=False)
    response = client.get("/plain-boom")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert b"kaboom" not in response.content


def test_it_answers_a_disallowed_host_under_api_with_the_envelope(client, db, settings):
    settings.ALLOWED_HOSTS = ["api.timepointai.com"]
    response = client.get("/api/v1/no-such-endpoint", headers={"Host": "evil.example"})
    assert_envelope(response, 400, "invalid_request")
