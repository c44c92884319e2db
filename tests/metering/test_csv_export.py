from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

pytestmark = pytest.mark.django_db


def _rows(response):
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_it_exports_the_filtered_range(staff_client, alice, bob, make_key, make_record):
    key = make_key(alice)
    in_range = dt.datetime(2026, 3, 5, 10, 30, tzinfo=dt.UTC)
    make_record(in_range, account=alice, api_key=key, credits_spent=5, preset="hd", request_id="r1")
    make_record(in_range, account=bob, request_id="r2")  # another account
    make_record(dt.datetime(2026, 4, 5, tzinfo=dt.UTC), account=alice, request_id="r3")  # another month

    response = staff_client.get(
        f"/admin/metering/usagerecord/export/?account={alice.pk}&created_at__year=2026&created_at__month=3")

    rows = _rows(response)
    assert rows == [{
        "created_at": "2026-03-05 10:30:00+00:00", "request_id": "r1", "account": "alice@example.com",
        "account_id": str(alice.pk), "api_key_prefix": key.prefix, "api_key_id": str(key.pk),
        "endpoint": "/api/v1/generate", "method": "POST", "status_code": "200", "credits_spent": "5",
        "response_time_ms": "10", "preset": "hd", "is_test": "False",
    }]


def test_it_never_exports_key_hashes(staff_client, alice, make_key, make_record):
    key = make_key(alice)
    make_record(dt.datetime(2026, 3, 5, tzinfo=dt.UTC), account=alice, api_key=key)
    body = b"".join(staff_client.get("/admin/metering/usagerecord/export/").streaming_content).decode()
    assert key.key_hash not in body
    assert len(list(csv.reader(io.StringIO(body)))) == 2


def test_it_is_linked_from_the_list_with_its_filters(staff_client, alice):
    body = staff_client.get(f"/admin/metering/usagerecord/?account={alice.pk}").content.decode()
    assert f"/admin/metering/usagerecord/export/?account={alice.pk}" in body


def test_it_is_for_staff_only(client):
    assert client.get("/admin/metering/usagerecord/export/").status_code == 302
