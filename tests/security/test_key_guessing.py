"""Guessing credentials is limited per client IP through the real auth-failure limit,
whatever the guesser varies: the credential kind, the endpoint, or forwarding headers
the gateway does not trust. (tests/gateway/test_auth_failures.py shows the limit on
one endpoint with one kind of guess.)"""

from __future__ import annotations

import itertools

import pytest
from django.test import Client

from apikeys.keys import create_key
from tests.conftest import bearer

GUESSES = [
    ("get", "/api/v1/keys", "tp_live_" + "a" * 32),
    ("post", "/api/v1/generate", "tp_test_" + "b" * 32),
    ("get", "/api/v1/credits/balance", "tp_sess_" + "c" * 40),
    ("get", "/api/v1/auth/me", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
    ("get", "/api/v1/today", "tp_live_" + "d" * 32),
]


LIMIT = 5


@pytest.fixture(autouse=True)
def _five_per_minute(settings):
    settings.AUTH_FAILURES_PER_MINUTE = LIMIT


def assert_limited(statuses: list[int]) -> None:
    """Never refused before the limit, refused within twice the limit plus one (fixed
    one-minute windows: a boundary may fall inside the burst)."""
    assert statuses[:LIMIT] == [401] * LIMIT
    assert 429 in statuses


def guess(client: Client, n: int, **headers):
    method, path, credential = GUESSES[n % len(GUESSES)]
    return getattr(client, method)(path, headers={**bearer(credential), **headers})


def test_it_counts_every_kind_of_guess_on_every_endpoint_together(db, alice, flash, clockchain):
    guesser = Client(REMOTE_ADDR="198.51.100.1")
    responses = [guess(guesser, n) for n in range(2 * LIMIT + 1)]
    assert_limited([r.status_code for r in responses])
    refused = [r for r in responses if r.status_code == 429]
    assert all(r.json()["error"]["code"] == "rate_limited" and int(r["Retry-After"]) >= 1 for r in refused)
    assert flash.received() == [] and clockchain.received() == []


def test_untrusted_forwarding_headers_do_not_make_a_new_client(db, alice):
    guesser = Client(REMOTE_ADDR="198.51.100.2")
    addresses = (f"203.0.113.{n}" for n in itertools.count(1))
    assert_limited([guess(guesser, n, **{"X-Forwarded-For": next(addresses), "X-Real-IP": next(addresses)})
                    .status_code for n in range(2 * LIMIT + 1)])


def test_behind_a_trusted_proxy_only_the_address_it_appended_counts(db, alice, settings):
    settings.TRUSTED_PROXY_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    proxy = Client(REMOTE_ADDR="10.0.0.1")
    assert_limited([guess(proxy, n, **{"X-Forwarded-For": f"203.0.113.{n}, 198.51.100.3"}).status_code
                    for n in range(2 * LIMIT + 1)])
    # Another real client behind the same proxy is unaffected, and a good key works for it.
    _, good = create_key(alice, "k", "live")
    other = proxy.get("/api/v1/credits/balance", headers={**bearer(good), "X-Forwarded-For": "198.51.100.4"})
    assert other.status_code == 200
