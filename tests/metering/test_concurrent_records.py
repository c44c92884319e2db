from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.test import Client

from metering.models import UsageRecord
from tests.conftest import bearer, flush_usage

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL"),
    pytest.mark.urls("tests.metering.urls"),
]

N = 24


def test_it_leaves_exactly_n_records_for_n_concurrent_requests(alice, alice_token):
    # Enterprise, so that the per-minute limit (free: 10) doesn't refuse the crowd itself.
    alice.tier_override = "enterprise"
    alice.save()
    Client(headers=bearer(alice_token)).get("/api/v1/usage")  # warm the JWKS cache
    flush_usage()
    UsageRecord.objects.all().delete()
    gate = threading.Barrier(N)
    statuses: list[int] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        client = Client(headers=bearer(alice_token))
        try:
            gate.wait(timeout=30)
            path = "/api/v1/usage" if i % 3 else "/api/v1/fake/refused/429"
            status = client.get(path, HTTP_X_REQUEST_ID=f"concurrent-{i}").status_code
            with lock:
                statuses.append(status)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(N)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == sorted(200 if i % 3 else 429 for i in range(N))
    flush_usage()
    assert UsageRecord.objects.count() == N
    assert set(UsageRecord.objects.values_list("request_id", flat=True)) == {f"concurrent-{i}" for i in range(N)}
    assert UsageRecord.objects.filter(status_code=429, account=alice).count() == N // 3
