"""The usage writer (metering/writer.py): records leave the request path, are stored in
batches, survive a PostgreSQL outage without duplicates and are stored on a graceful
stop. In process first (the test's own transaction stores what flush_usage() finds
queued), then under gunicorn with the background writer as production runs it."""

from __future__ import annotations

import logging
import os
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apikeys.keys import create_key
from metering.models import UsageRecord
from metering.recording import failures
from metering.writer import usage_writer
from tests.conftest import bearer, flush_usage

pytestmark = pytest.mark.urls("tests.metering.urls")


def wait_for(condition, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


@pytest.mark.django_db
def test_it_answers_before_storing_and_stores_a_batch_in_one_statement(as_alice, alice):
    for n in range(5):
        assert as_alice.get("/api/v1/usage", HTTP_X_REQUEST_ID=f"batch-{n}").status_code == 200
    assert not UsageRecord.objects.exists()  # answered; the records wait in the queue

    with CaptureQueriesContext(connection) as queries:
        flush_usage()
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    # PostgreSQL: one COPY (which Django's query log does not see); elsewhere one INSERT.
    assert len(inserts) == (0 if connection.vendor == "postgresql" else 1)
    assert sorted(UsageRecord.objects.values_list("request_id", flat=True)) == [f"batch-{n}" for n in range(5)]


def _row(request_id: str, **fields) -> dict:
    return {"uid": uuid.uuid4(), "account_id": None, "api_key_id": None, "endpoint": "/api/v1/usage",
            "method": "GET", "status_code": 200, "credits_spent": 0, "response_time_ms": 1, "preset": None,
            "created_at": timezone.now(), "request_id": request_id, "is_test": False, **fields}


@pytest.mark.django_db
def test_a_batch_that_comes_again_is_stored_once(alice):
    """A batch retried after its commit's answer was lost: the records stored the first
    time are skipped, the others stored."""
    first = [_row(f"again-{n}", account_id=alice.pk) for n in range(3)]
    for row in first:
        usage_writer.submit(row)
    flush_usage()
    for row in [*first, _row("again-new", account_id=alice.pk)]:
        usage_writer.submit(row)
    flush_usage()
    stored = sorted(UsageRecord.objects.values_list("request_id", flat=True))
    assert stored == ["again-0", "again-1", "again-2", "again-new"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refused", [
    # Its account deleted meanwhile: the database refuses it when the batch commits.
    {"account_id": uuid.uuid4()},
    # A value the driver cannot send (a lone surrogate, a legal JSON escape, had a way in).
    {"preset": "\ud800"},
], ids=["by the database", "by the driver"])
def test_a_record_refused_does_not_hold_up_its_batch(alice, caplog, refused):
    """That record is dropped, logged and counted; the others are stored, and nothing
    stays queued behind it."""
    refused_before = failures.value
    rows = [_row("kept-0", account_id=alice.pk), _row("odd-one", **{"account_id": alice.pk, **refused}),
            _row("kept-1", account_id=alice.pk)]
    with caplog.at_level(logging.ERROR, logger="metering.writer"):
        for row in rows:
            usage_writer.submit(row)
        flush_usage()
    assert sorted(UsageRecord.objects.values_list("request_id", flat=True)) == ["kept-0", "kept-1"]
    assert usage_writer.pending() == 0
    assert failures.value == refused_before + 1
    assert "usage record odd-one refused by the database" in caplog.text


@pytest.mark.django_db
def test_a_full_queue_drops_new_records_and_says_so(as_alice, settings, caplog):
    settings.USAGE_QUEUE_LIMIT = 3
    dropped = usage_writer.dropped
    with caplog.at_level(logging.ERROR, logger="metering.writer"):
        for n in range(5):
            assert as_alice.get("/api/v1/usage", HTTP_X_REQUEST_ID=f"bound-{n}").status_code == 200
    assert usage_writer.dropped == dropped + 2
    assert "usage queue full (3 records)" in caplog.text
    flush_usage()
    assert sorted(UsageRecord.objects.values_list("request_id", flat=True)) == ["bound-0", "bound-1", "bound-2"]


# --- under gunicorn, with the background writer ---------------------------------------


def _balance_reads(url: str, key: str, count: int, prefix: str) -> None:
    for n in range(count):
        response = requests.get(f"{url}/api/v1/credits/balance",
                                headers={**bearer(key), "X-Request-ID": f"{prefix}-{n}"}, timeout=30)
        assert response.status_code == 200, response.text


@pytest.mark.gunicorn
def test_a_graceful_stop_stores_what_is_queued(gunicorn_server, alice):
    _, key = create_key(alice, "k", "live")
    # The writer would wait an hour (or a full batch) before storing on its own.
    url = gunicorn_server(workers=2, production=True, env={"USAGE_BATCH_INTERVAL": "3600"})
    _balance_reads(url, key, 8, "stop")
    assert not UsageRecord.objects.filter(request_id__startswith="stop-").exists()

    assert gunicorn_server.stop(url) == 0
    stored = UsageRecord.objects.filter(request_id__startswith="stop-")
    assert sorted(stored.values_list("request_id", flat=True)) == sorted(f"stop-{n}" for n in range(8))


@pytest.mark.gunicorn
def test_records_wait_out_a_postgresql_outage_and_are_stored_once(gunicorn_server, alice):
    from tests.resilience.test_database_restart import CuttableRelay

    settings_dict = connection.settings_dict
    relay = CuttableRelay((settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432)))
    relay.restore()
    parts = urlsplit(os.environ["DATABASE_URL"])
    netloc = parts.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{relay.port}"
    _, key = create_key(alice, "k", "live")
    url = gunicorn_server(workers=1, production=True, env={
        "DATABASE_URL": urlunsplit(parts._replace(netloc=netloc, path="/" + settings_dict["NAME"])),
        "USAGE_RETRY_MAX_SECONDS": "1"})
    try:
        _balance_reads(url, key, 1, "before")  # the key's record is cached from here on
        wait_for(lambda: UsageRecord.objects.filter(request_id="before-0").exists(), "the first record")

        relay.cut()
        # The key is served from Redis and Flash answers: reads go on, their records queue.
        _balance_reads(url, key, 8, "outage")  # a free key: ten a minute
        relay.restore()

        outage = UsageRecord.objects.filter(request_id__startswith="outage-")
        wait_for(lambda: outage.count() == 8, "the queued records to be stored")
        assert gunicorn_server.stop(url) == 0
        assert sorted(outage.values_list("request_id", flat=True)) == sorted(f"outage-{n}" for n in range(8))
        assert UsageRecord.objects.filter(account=alice).count() == 9
    finally:
        relay.cut()
