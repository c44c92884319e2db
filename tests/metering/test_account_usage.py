from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def _at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def test_it_sums_every_key_and_session_of_the_account(as_alice, alice, bob, make_key, make_record):
    today = dt.datetime.now(dt.UTC).date()
    key = make_key(alice)
    make_record(_at(today), account=alice, api_key=key, credits_spent=3)
    make_record(_at(today), account=alice, credits_spent=1, status_code=429, endpoint="/api/v1/timepoints/<id>")
    make_record(_at(today), account=bob, credits_spent=100)

    body = as_alice.get("/api/v1/usage").json()

    # This request's own record is written after its answer is built, so not counted.
    assert body["total_requests"] == 2
    assert body["errors"] == 1
    assert body["credits_spent"] == 4
    assert body["granularity"] == "day"
    # The per-day rows are named and shaped as in the key usage answer (CONTRACT §5).
    assert set(body) == {"from", "to", "granularity", "total_requests", "errors", "credits_spent", "daily",
                         "by_endpoint", "by_key"}
    assert body["daily"][-1] == {"date": today.isoformat(), "requests": 2, "errors": 1, "credits_spent": 4}
    assert {row["key_id"] for row in body["by_key"]} == {str(key.id), None}
    assert {row["endpoint"] for row in body["by_endpoint"]} == {"/api/v1/generate", "/api/v1/timepoints/<id>"}


def test_it_groups_by_month_across_rolled_and_open_days(as_alice, alice, make_record):
    today = dt.datetime.now(dt.UTC).date()
    this_month = today.replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    make_record(_at(last_month + dt.timedelta(days=3)), account=alice, credits_spent=2)
    make_record(_at(last_month + dt.timedelta(days=4)), account=alice, credits_spent=2)
    make_record(_at(today), account=alice, credits_spent=7)
    call_command("rollup_usage", "--no-purge")  # last month is read from the roll-up now

    body = as_alice.get(f"/api/v1/usage?granularity=month&from={last_month}&to={today}").json()

    assert body["daily"] == [
        {"date": last_month.isoformat(), "requests": 2, "errors": 0, "credits_spent": 4},
        {"date": this_month.isoformat(), "requests": 1, "errors": 0, "credits_spent": 7},
    ]


def test_it_refuses_an_unknown_granularity(as_alice):
    response = as_alice.get("/api/v1/usage?granularity=week")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("query", ["to=0001-01-01", "from=0001-01-01&to=0001-01-02", "to=9999-12-31",
                                   "from=9999-12-30&to=9999-12-31&granularity=month"])
def test_it_refuses_dates_at_the_ends_of_the_calendar(as_alice, query):
    for path in ("/api/v1/usage", "/api/v1/keys/00000000-0000-0000-0000-000000000000/usage"):
        response = as_alice.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query)
        assert response.json()["error"]["code"] == "invalid_request"


def test_it_is_in_the_schema(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/v1/usage" in schema and "/api/v1/keys/{key_id}/usage" in schema
    assert "by_endpoint" in schema
