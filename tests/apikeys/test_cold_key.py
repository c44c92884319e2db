"""A burst of requests bearing a key whose record is not cached (its first use, or its
record just expired): a worker reads the key from PostgreSQL once for all of them, and
each is still admitted with the key's limits."""

import threading
import time

import psycopg
import pytest
from django.db import connection
from django.test import Client

from apikeys import keys
from apikeys.keys import create_key
from limits.counters import counters
from tests.relay.conftest import database_url

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="holding the key's table locked from another session needs PostgreSQL"),
]

BURST = 8


def _reads_waiting_on_the_table(conn: psycopg.Connection) -> int:
    return conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
        "AND query LIKE '%%apikeys_apikey%%'").fetchone()[0]


def test_it_reads_a_cold_key_once_for_a_burst_of_its_requests(alice, flash):
    alice.tier_override = "enterprise"  # twenty requests at a time, 300 a minute
    alice.save()
    key, plaintext = create_key(alice, "batch", "live")
    assert counters().read_record(key.key_hash) is None  # never used: not cached
    answers: list[tuple[int, str]] = []

    def balance() -> None:
        try:
            response = Client().get("/api/v1/credits/balance", headers={"Authorization": f"Bearer {plaintext}"})
            answers.append((response.status_code, response.headers.get("X-RateLimit-Remaining")))
        finally:
            connection.close()

    # While another session holds the table, the read of the key waits in PostgreSQL: the
    # burst piles up behind it, and what piles up where shows how many reads were sent.
    with psycopg.connect(database_url()) as holder, psycopg.connect(database_url(), autocommit=True) as watcher:
        holder.execute("LOCK TABLE apikeys_apikey IN ACCESS EXCLUSIVE MODE")
        threads = [threading.Thread(target=balance) for _ in range(BURST)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while (_reads_waiting_on_the_table(watcher) + keys._loads.waiting(key.key_hash) < BURST
               and time.monotonic() < deadline):
            time.sleep(0.01)  # polling for the burst to arrive, not timing a behaviour
        in_database, sharing = _reads_waiting_on_the_table(watcher), keys._loads.waiting(key.key_hash)
        holder.rollback()
    for thread in threads:
        thread.join(30)

    assert (in_database, sharing) == (1, BURST - 1)
    assert counters().read_record(key.key_hash) is not None
    # Each request was then admitted with the key's limits: counted once, and relayed.
    assert sorted(answers) == [(200, str(300 - n)) for n in range(BURST, 0, -1)]
    assert len(flash.received("/api/v1/credits/balance")) == BURST
