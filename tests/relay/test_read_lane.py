"""The read lane (timepoint_billing/read_lane.py): an API key's credit reads answered
beside Django's middleware and DRF. Every case is sent both ways, through the lane and
through Django alone, with a key of its own each: the answers (status, body, headers)
and the usage records must be the same. Requests are WSGI calls, as gunicorn makes them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory
from django.utils import timezone

from apikeys.keys import create_key, hash_key, revoke_key
from apikeys.models import APIKey
from limits import slots
from metering.models import UsageRecord
from tests.conftest import flush_usage
from timepoint_billing.read_lane import ReadLane

# Differ between two requests made a moment apart, whichever way they go.
VOLATILE = {"x-request-id", "x-ratelimit-reset"}


@dataclass
class Answer:
    status: str
    headers: dict[str, str]
    body: bytes

    def same_as(self, other: Answer) -> None:
        assert (self.status, self.body) == (other.status, other.body)
        mine = {k: v for k, v in self.headers.items() if k not in VOLATILE}
        theirs = {k: v for k, v in other.headers.items() if k not in VOLATILE}
        # `RateLimit`'s seconds to the window's end may tick between the two.
        for headers in (mine, theirs):
            if "ratelimit" in headers:
                headers["ratelimit"] = headers["ratelimit"].rsplit(";t=", 1)[0]
        assert mine == theirs
        assert VOLATILE & self.headers.keys() == VOLATILE & other.headers.keys()


def call(app, path: str, method: str = "GET", secure: bool = False, **headers: str) -> Answer:
    """One request to a WSGI app, as a server makes it (the response closed after its
    body). Like Django's test client, a test's connection is not closed by the
    request signals: the test's transaction holds it."""
    environ = RequestFactory().generic(method, path, secure=secure, **headers).environ
    seen: dict = {}

    def start_response(status: str, response_headers: list, exc_info: object = None) -> None:
        seen["status"], seen["headers"] = status, response_headers

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = app(environ, start_response)
        body = b"".join(result)
        getattr(result, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return Answer(seen["status"], {name.lower(): value for name, value in seen["headers"]}, body)


class Refusing:
    """Stands where Django would: records that a request was handed on."""

    def __init__(self) -> None:
        self.handed: list[str] = []

    def __call__(self, environ, start_response):
        self.handed.append(environ["PATH_INFO"])
        start_response("418 I'm a teapot", [])
        return [b""]


@pytest.fixture(scope="module")
def django_app():
    return WSGIHandler()


@pytest.fixture
def keys(alice):
    """Two keys of alice's: one for each way."""
    return create_key(alice, "lane", "live")[1], create_key(alice, "django", "live")[1]


def both(django_app, path: str, lane_key: str, django_key: str, **headers: str) -> tuple[Answer, Answer]:
    through_lane = call(ReadLane(Refusing()), path, HTTP_AUTHORIZATION=f"Bearer {lane_key}", **headers)
    through_django = call(django_app, path, HTTP_AUTHORIZATION=f"Bearer {django_key}", **headers)
    return through_lane, through_django


def records(key_plaintext_prefix: str) -> list[tuple]:
    flush_usage()
    return list(UsageRecord.objects.filter(api_key__prefix=key_plaintext_prefix[:16]).order_by("created_at")
                .values_list("endpoint", "method", "status_code", "credits_spent", "preset", "is_test",
                             "account_id"))


@pytest.mark.parametrize("path", ["/api/v1/credits/balance", "/api/v1/credits/history?limit=1&offset=0",
                                  "/api/v1/credits/costs"])
def test_it_answers_a_read_as_django_does(django_app, alice, flash, keys, path):
    flash._record(alice.flash_user_id, 5, "admin_grant", "a")
    lane, django = both(django_app, path, *keys)

    assert lane.status == "200 OK"
    lane.same_as(django)
    assert records(keys[0]) == records(keys[1]) and len(records(keys[0])) == 1


def test_it_answers_a_test_key_as_django_does(django_app, alice, flash):
    keys = create_key(alice, "lane", "test")[1], create_key(alice, "django", "test")[1]
    lane, django = both(django_app, "/api/v1/credits/balance", *keys)
    assert lane.status == "200 OK"
    lane.same_as(django)
    assert records(keys[0]) == records(keys[1]) == [records(keys[0])[0]] and records(keys[0])[0][5] is True


def test_it_carries_the_request_id_given_to_flash_and_back(alice, flash, keys):
    answer = call(ReadLane(Refusing()), "/api/v1/credits/balance", HTTP_AUTHORIZATION=f"Bearer {keys[0]}",
                  HTTP_X_REQUEST_ID="trace-42")
    assert answer.headers["x-request-id"] == "trace-42"
    assert flash.received("/api/v1/credits/balance")[0].headers["x-request-id"] == "trace-42"


def test_it_refuses_an_unknown_key_as_django_does(django_app, alice):
    lane, django = both(django_app, "/api/v1/credits/balance", "tp_live_" + "x" * 32, "tp_live_" + "y" * 32)
    assert lane.status == "401 Unauthorized"
    lane.same_as(django)


def test_it_refuses_a_revoked_key_as_django_does(django_app, alice, keys):
    for key in APIKey.objects.filter(account=alice):
        revoke_key(key)
    lane, django = both(django_app, "/api/v1/credits/balance", *keys)
    assert lane.status == "401 Unauthorized"
    lane.same_as(django)


def test_it_refuses_an_expired_key_as_django_does(django_app, alice, keys):
    both(django_app, "/api/v1/credits/balance", *keys)  # both cached, as keys in use are
    past = timezone.now() - timedelta(minutes=1)
    APIKey.objects.filter(account=alice).update(expires_at=past)
    cache.clear()  # the records in use are read again, with their expiry
    lane, django = both(django_app, "/api/v1/credits/balance", *keys)
    assert lane.status == "401 Unauthorized"
    lane.same_as(django)


def test_it_counts_and_limits_requests_per_minute_as_django_does(django_app, alice, flash, keys):
    for _ in range(10):  # the free tier's requests per minute
        lane, django = both(django_app, "/api/v1/credits/balance", *keys)
        lane.same_as(django)
    lane, django = both(django_app, "/api/v1/credits/balance", *keys)
    assert lane.status == "429 Too Many Requests" and "retry-after" in lane.headers
    lane.same_as(django)
    assert records(keys[0]) == records(keys[1]) and [r[2] for r in records(keys[0])] == [200] * 10 + [429]


@pytest.mark.parametrize(("fault", "status"), [(500, "502 Bad Gateway"), (404, "404 Not Found")])
def test_it_answers_an_upstream_failure_as_django_does(django_app, alice, flash, keys, fault, status):
    flash.fail(fault, times=2, path="credits/balance")
    lane, django = both(django_app, "/api/v1/credits/balance", *keys)
    assert lane.status == status
    lane.same_as(django)
    assert records(keys[0]) == records(keys[1])


def test_it_gives_the_slot_back_before_answering(alice, flash, keys):
    lane = ReadLane(Refusing())
    # The free tier holds one request at a time: each read must have released its slot.
    statuses = [call(lane, "/api/v1/credits/balance", HTTP_AUTHORIZATION=f"Bearer {keys[0]}").status
                for _ in range(3)]
    assert statuses == ["200 OK"] * 3


@pytest.mark.parametrize(("method", "path", "headers"), [
    ("GET", "/api/v1/credits/balance", {"HTTP_ORIGIN": "https://app.timepointai.com"}),  # CORS: its middleware
    ("GET", "/api/v1/credits/balance", {"HTTP_ACCEPT": "text/html"}),
    ("GET", "/api/v1/credits/history?format=json", {}),
    ("HEAD", "/api/v1/credits/balance", {}),
    ("POST", "/api/v1/credits/balance", {}),
    ("GET", "/api/v1/credits/balance/", {}),
    ("GET", "/api/v1/timepoints/abc", {}),
])
def test_it_hands_anything_else_to_django(alice, keys, method, path, headers):
    django = Refusing()
    call(ReadLane(django), path, method, HTTP_AUTHORIZATION=f"Bearer {keys[0]}", **headers)
    assert django.handed == [path.split("?")[0]]


def test_it_hands_other_credentials_to_django(alice_token):
    django = Refusing()
    call(ReadLane(django), "/api/v1/credits/balance", HTTP_AUTHORIZATION=f"Bearer {alice_token}")
    assert django.handed == ["/api/v1/credits/balance"]


def test_it_hands_a_host_not_allowed_to_django(alice, keys, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    django = Refusing()
    call(ReadLane(django), "/api/v1/credits/balance", HTTP_AUTHORIZATION=f"Bearer {keys[0]}",
         HTTP_HOST="evil.example")
    assert django.handed == ["/api/v1/credits/balance"]


def test_it_sends_productions_security_headers_as_django_does(alice, keys, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    lane = call(ReadLane(Refusing()), "/api/v1/credits/balance", secure=True, HTTP_AUTHORIZATION=f"Bearer {keys[0]}")
    django = call(WSGIHandler(), "/api/v1/credits/balance", secure=True, HTTP_AUTHORIZATION=f"Bearer {keys[1]}")
    assert lane.headers["strict-transport-security"].startswith("max-age=31536000")
    lane.same_as(django)


def test_it_hands_plain_http_to_django_when_https_is_required(alice, keys, settings):
    settings.SECURE_SSL_REDIRECT = True
    django = Refusing()
    call(ReadLane(django), "/api/v1/credits/balance", HTTP_AUTHORIZATION=f"Bearer {keys[0]}")
    assert django.handed == ["/api/v1/credits/balance"]


@pytest.mark.parametrize("headers", [{"HTTP_ACCEPT": "application/json"}, {"HTTP_X_REQUEST_ID": "not a good id!"}])
def test_it_answers_the_usual_variations_as_django_does(django_app, alice, keys, headers):
    lane, django = both(django_app, "/api/v1/credits/balance", *keys, **headers)
    assert lane.status == "200 OK"
    lane.same_as(django)


def test_it_refuses_a_key_with_every_slot_held_as_django_does(django_app, alice, keys):
    for plaintext in keys:  # the free tier's one request at a time, held elsewhere
        slots.take(f"key:{hash_key(plaintext)}", "127.0.0.1", 1)
    lane, django = both(django_app, "/api/v1/credits/balance", *keys)
    assert lane.status == "429 Too Many Requests" and b"concurrency_limited" in lane.body
    lane.same_as(django)


def test_it_refuses_an_address_with_too_many_failed_authentications_as_django_does(django_app, alice, keys,
                                                                                  settings):
    settings.AUTH_FAILURES_PER_MINUTE = 1
    both(django_app, "/api/v1/credits/balance", "tp_live_" + "x" * 32, "tp_live_" + "y" * 32)
    lane, django = both(django_app, "/api/v1/credits/balance", *keys)
    assert lane.status == "429 Too Many Requests"
    lane.same_as(django)


def test_it_answers_flash_being_unreachable_as_django_does(django_app, alice, keys, settings):
    settings.FLASH_URL = "http://127.0.0.1:9"  # nothing listens there
    lane, django = both(django_app, "/api/v1/credits/balance", *keys)
    assert lane.status == "503 Service Unavailable"
    lane.same_as(django)
    assert records(keys[0]) == records(keys[1])


def test_it_leaves_a_path_to_django_once_django_routes_it_elsewhere(alice, keys, settings):
    settings.ROOT_URLCONF = "tests.relay.rerouted_urls"  # the balance's path, another view
    django = Refusing()
    call(ReadLane(django), "/api/v1/credits/balance", HTTP_AUTHORIZATION=f"Bearer {keys[0]}")
    assert django.handed == ["/api/v1/credits/balance"]


@pytest.mark.parametrize(("fault", "level"), [(500, "ERROR"), (404, "WARNING")])
def test_it_logs_a_failed_answer_as_django_does(django_app, alice, flash, keys, caplog, fault, level):
    flash.fail(fault, times=2, path="credits/balance")
    with caplog.at_level(logging.WARNING, logger="django.request"):
        both(django_app, "/api/v1/credits/balance", *keys)
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "django.request"]
    assert len(logged) == 2 and logged[0] == logged[1] and logged[0][0] == level
