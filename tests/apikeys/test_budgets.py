"""Monthly credit budgets of API keys, reserved before Flash is called (CONTRACT.md §9)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.test import Client, override_settings

from apikeys.keys import create_key
from limits.counters import LocalCounters, counters
from standins import Flash
from tests.conftest import bearer, flush_usage

GENERATE = "/api/v1/timepoints/generate/sync"


def generate(client, path="/api/v1/generate", preset="balanced"):
    return client.post(path, data=json.dumps({"query": "x", "preset": preset}), content_type="application/json")


def budgeted(account, limit, environment="live"):
    key, plaintext = create_key(account, "budgeted", environment, monthly_credit_limit=limit)
    return key, Client(headers=bearer(plaintext))


def test_it_refuses_a_generation_past_the_budget_before_flash_is_called(alice, flash):
    _, client = budgeted(alice, 12)  # two balanced generations (5 each), not a third
    assert [generate(client).status_code for _ in range(2)] == [200, 200]
    refused = generate(client)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert "12" in refused.json()["error"]["message"]
    assert len(flash.received(GENERATE)) == 2
    assert flash.balance_of(alice.flash_user_id) == 90
    # A cheaper generation still fits.
    assert generate(client, preset="hyper").status_code == 200


@pytest.mark.parametrize("preset", ["weird", "Balanced"])
def test_a_budgeted_key_spends_only_presets_the_cost_table_prices(alice, flash, preset):
    # Unpriced, the generation would pass the budget and be recorded as free while
    # Flash charged it (the stand-in charges an unknown preset as balanced).
    key, client = budgeted(alice, 1)

    refused = generate(client, preset=preset)

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_request"
    assert "balanced, gemini3, hd, hyper" in refused.json()["error"]["message"]
    assert flash.received(GENERATE) == []
    assert generate(client).json()["error"]["code"] == "budget_exceeded"  # a priced one meets the budget


def test_a_budgeted_key_does_not_generate_while_the_cost_table_cannot_be_read(alice, flash):
    # Unpriced, the generation would reserve nothing and be recorded against the budget
    # as free while Flash charged it: the budget would no longer bound the spending.
    _, client = budgeted(alice, 100)
    flash.fail(503, path="credits/costs")

    refused = generate(client)

    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "upstream_unavailable"
    assert (refused["X-Credits-Spent"], refused["X-Budget-Remaining"]) == ("0", "100")
    assert flash.received(GENERATE) == []


def test_a_key_without_a_budget_leaves_an_unpriced_preset_to_flash(alice, flash):
    _, plaintext = create_key(alice, "no budget", "live")

    response = generate(Client(headers=bearer(plaintext)), preset="weird")

    assert response.status_code == 200
    assert len(flash.received(GENERATE)) == 1


def test_a_failed_generation_gives_its_reservation_back(alice, flash):
    _, client = budgeted(alice, 5)  # one balanced generation
    flash.fail(500, path=GENERATE)
    assert generate(client).status_code == 502
    assert generate(client).status_code == 200
    assert generate(client).status_code == 402


def test_a_generation_flash_refuses_spends_nothing_of_the_budget(alice, flash):
    _, client = budgeted(alice, 5)
    assert client.post("/api/v1/generate", data="{}", content_type="application/json").status_code == 422
    assert generate(client).status_code == 200


def test_a_balance_too_low_returns_the_reservation(alice, flash):
    _, client = budgeted(alice, 5)
    flash.balances[alice.flash_user_id] = 1
    assert generate(client).json()["error"]["code"] == "insufficient_credits"
    flash.balances[alice.flash_user_id] = 100
    assert generate(client).status_code == 200


def test_a_stream_holds_its_reservation_until_it_ends(alice, flash):
    alice.tier_override = "pro"  # several streams at a time
    alice.save()
    _, client = budgeted(alice, 10)
    first = generate(client, "/api/v1/generate/stream")
    second = generate(client, "/api/v1/generate/stream")
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first["X-Budget-Remaining"], second["X-Budget-Remaining"]) == ("5", "0")
    assert generate(client, "/api/v1/generate/stream").json()["error"]["code"] == "budget_exceeded"
    for streamed in (first, second):
        assert b"event: done" in b"".join(streamed.streaming_content)
        streamed.close()
    assert generate(client, "/api/v1/generate/stream").json()["error"]["code"] == "budget_exceeded"
    assert len(flash.received("/api/v1/timepoints/generate/stream")) == 2


def test_a_stream_flash_refuses_returns_its_reservation(alice, flash):
    _, client = budgeted(alice, 5)
    flash.fail(503, path="/api/v1/timepoints/generate/stream")
    assert generate(client, "/api/v1/generate/stream").status_code == 502
    streamed = generate(client, "/api/v1/generate/stream")
    assert streamed.status_code == 200
    b"".join(streamed.streaming_content)
    streamed.close()


def test_a_new_month_starts_a_new_budget(alice, flash):
    _, client = budgeted(alice, 5)
    with time_machine.travel(datetime(2026, 11, 30, 23, 59, tzinfo=UTC)):
        assert generate(client).status_code == 200
        assert generate(client).status_code == 402
        flush_usage()
    with time_machine.travel(datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)):
        assert generate(client).status_code == 200
        assert generate(client).status_code == 402


def test_a_read_is_never_refused_by_a_budget(alice, flash):
    _, client = budgeted(alice, 5)
    assert generate(client).status_code == 200
    assert generate(client).status_code == 402
    assert client.get("/api/v1/credits/balance").status_code == 200
    assert client.get("/api/v1/credits/costs").status_code == 200
    assert client.get("/api/v1/today").status_code == 200


def test_a_test_key_has_no_budget_effect(alice, flash):
    sandbox = Flash(service_key="flash-service-key", sandbox=True).start()
    try:
        _, client = budgeted(alice, 1, environment="test")
        with override_settings(FLASH_TEST_URL=sandbox.url):
            assert [generate(client).status_code for _ in range(3)] == [200, 200, 200]
        assert len(sandbox.received("generate/sync")) == 3
    finally:
        sandbox.stop()


def test_a_key_without_a_budget_is_not_limited(alice, flash):
    _, plaintext = create_key(alice, "k", "live")
    client = Client(headers=bearer(plaintext))
    assert [generate(client).status_code for _ in range(4)] == [200] * 4


def test_the_months_spending_is_rebuilt_from_usage_records_when_the_cache_loses_it(alice, as_alice, flash):
    key, client = budgeted(alice, 12)
    assert [generate(client).status_code for _ in range(2)] == [200, 200]
    flush_usage()
    cache.clear()  # the cache lost every counter
    assert generate(client).json()["error"]["code"] == "budget_exceeded"
    assert len(flash.received(GENERATE)) == 2
    cache.clear()
    (listed,) = as_alice.get("/api/v1/keys").json()["keys"]
    assert listed["credits_spent_this_month"] == 10


def test_a_roll_carries_the_months_spending_over(alice, as_alice, flash):
    old, old_client = budgeted(alice, 12)
    assert [generate(old_client).status_code for _ in range(2)] == [200, 200]
    new = as_alice.post(f"/api/v1/keys/{old.pk}/roll", data="{}", content_type="application/json").json()
    assert (new["monthly_credit_limit"], new["credits_spent_this_month"]) == (12, 10)
    new_client = Client(headers=bearer(new["key"]))
    assert generate(new_client).json()["error"]["code"] == "budget_exceeded"
    assert generate(new_client, preset="hyper").status_code == 200
    assert generate(old_client, preset="hyper").status_code == 402  # one budget for the chain, old key too
    listed = {k["id"]: k["credits_spent_this_month"] for k in as_alice.get("/api/v1/keys").json()["keys"]}
    assert listed == {str(old.pk): 12, new["id"]: 12}


def test_a_rolled_chains_spending_is_rebuilt_from_every_key_of_the_chain(alice, as_alice, flash):
    old, old_client = budgeted(alice, 20)
    assert generate(old_client).status_code == 200
    new = as_alice.post(f"/api/v1/keys/{old.pk}/roll", data="{}", content_type="application/json").json()
    assert generate(Client(headers=bearer(new["key"]))).status_code == 200
    flush_usage()
    cache.clear()  # the cache lost the chain's counter
    listed = {k["id"]: k["credits_spent_this_month"] for k in as_alice.get("/api/v1/keys").json()["keys"]}
    assert listed == {str(old.pk): 10, new["id"]: 10}


def test_changing_the_budget_applies_to_the_next_generation(alice, as_alice, flash):
    key, client = budgeted(alice, 5)
    assert generate(client).status_code == 200
    assert generate(client).status_code == 402
    response = as_alice.patch(f"/api/v1/keys/{key.pk}", data=json.dumps({"monthly_credit_limit": 10}),
                              content_type="application/json")
    assert response.json()["credits_spent_this_month"] == 5
    assert generate(client).status_code == 200


@pytest.mark.parametrize("make", [lambda: counters(), lambda: LocalCounters(LocMemCache("budgets", {}))],
                         ids=["configured", "local"])
def test_a_reservation_whose_request_died_is_released_when_it_expires(db, make):
    limits = make()
    limits.seed_spent("chain:202611", 0, 3600)
    assert limits.reserve("chain:202611", 5, 5, "dead:5", 60_000).verdict == "ok"
    assert limits.reserve("chain:202611", 5, 5, "next:5", 60_000).verdict == "exceeded"
    # A reservation lives as long as it was given: one of no lifetime is gone at once.
    assert limits.reserve("chain:202610", 5, 5, "a:5", 0).verdict == "unknown"
    limits.seed_spent("chain:202610", 0, 3600)
    assert limits.reserve("chain:202610", 5, 5, "a:5", 0).verdict == "ok"
    assert limits.reserve("chain:202610", 5, 5, "b:5", 60_000).verdict == "ok"


def test_the_local_twin_releases_a_reservation_after_its_lifetime(db):
    limits = LocalCounters(LocMemCache("budgets-time", {}))
    limits.seed_spent("c:202611", 0, 3600)
    assert limits.reserve("c:202611", 5, 5, "dead:5", 180_000).verdict == "ok"
    assert limits.reserve("c:202611", 5, 5, "next:5", 180_000).verdict == "exceeded"
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=181)):
        assert limits.reserve("c:202611", 5, 5, "next:5", 180_000).verdict == "ok"
