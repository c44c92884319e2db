"""The embedded default database (SQLite, what `make run` starts on) serialises
concurrent writers instead of answering 503 "briefly unavailable".

Real threads against the test database, which is a file on SQLite: each thread has
its own connection, as each of runserver's request threads does."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client

from accounts.models import Account, SessionToken
from apikeys.models import APIKey
from tests.conftest import bearer

pytestmark = [
    pytest.mark.skipif(connection.vendor != "sqlite", reason="about the embedded SQLite default"),
    pytest.mark.django_db(transaction=True),
]

CALLERS = 8


def together(requests: list[Callable[[], object]]) -> list[int]:
    """Send the requests from one thread each, released at the same moment; their statuses."""
    start = threading.Barrier(len(requests))
    statuses: list[int] = []

    def send(request: Callable[[], object]) -> None:
        try:
            start.wait(timeout=10)
            statuses.append(request().status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(request,)) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def test_it_serves_concurrent_first_logins(auth0, flash):
    tokens = [auth0.mint(f"auth0|newcomer-{n}", email=f"newcomer{n}@example.com") for n in range(CALLERS)]

    statuses = together([lambda token=token: Client().post("/api/v1/auth/login", headers=bearer(token))
                         for token in tokens])

    assert statuses == [200] * CALLERS
    assert Account.objects.count() == CALLERS
    assert SessionToken.objects.count() == CALLERS


def test_it_serves_a_burst_of_key_creations(alice, alice_token):
    client = Client(headers=bearer(alice_token))

    statuses = together([
        lambda n=n: client.post("/api/v1/keys", {"name": f"key {n}", "environment": "live"},
                                content_type="application/json")
        for n in range(CALLERS)
    ])

    assert statuses == [201] * CALLERS
    assert APIKey.objects.filter(account=alice).count() == CALLERS
