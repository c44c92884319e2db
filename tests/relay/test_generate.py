"""POST /api/v1/generate → Flash POST /api/v1/timepoints/generate/sync."""

import json

import pytest
from django.core import mail
from django.core.cache import cache

from accounts.models import Account
from metering.models import UsageRecord
from tests.conftest import flush_usage


def post(client, body, **headers):
    return client.post("/api/v1/generate", data=json.dumps(body), content_type="application/json", headers=headers)


def test_it_relays_the_body_unchanged_as_the_caller(as_alice, alice, flash):
    body = {"query": "Apollo 11 lands", "preset": "balanced", "callback_url": "https://example.com/hook",
            "request_context": {"job": 7}, "extra": [1, 2]}
    response = post(as_alice, body)
    assert response.status_code == 200
    assert response.json()["query"] == "Apollo 11 lands"
    assert response.json()["request_context"] == {"job": 7}
    (sent,) = flash.received("/api/v1/timepoints/generate/sync", "POST")
    assert sent.json() == body
    assert sent.headers["x-service-key"] == flash.service_key
    assert sent.headers["x-user-id"] == alice.flash_user_id
    assert flash.balance_of(alice.flash_user_id) == 100 - flash.costs["generate_balanced"]


@pytest.mark.parametrize("preset", [0, False, [], {}, ["hd"]])
def test_it_refuses_a_preset_that_is_not_a_string_before_flash(as_alice, flash, preset):
    # Billing checks and prices the preset it reads; one that is not a string (a falsy
    # one included) must not be checked as the default while Flash is sent another.
    response = post(as_alice, {"query": "x", "preset": preset})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert not flash.received("/api/v1/timepoints/generate/sync")


def test_it_takes_a_null_preset_as_the_default(as_alice, flash):
    assert post(as_alice, {"query": "x", "preset": None}).status_code == 200


def test_it_keeps_the_query_string(as_alice, flash):
    post_url = "/api/v1/generate?mode=fast&x=%20y"
    as_alice.post(post_url, data=json.dumps({"query": "x"}), content_type="application/json")
    (sent,) = flash.received("/api/v1/timepoints/generate/sync")
    assert sent.raw_query == "mode=fast&x=%20y"


def test_it_records_preset_and_credits_in_the_usage_record(as_alice, flash):
    response = post(as_alice, {"query": "x", "preset": "hyper"})
    assert response.status_code == 200
    flush_usage()
    record = UsageRecord.objects.get()
    assert (record.preset, record.credits_spent, record.status_code) == ("hyper", flash.costs["generate_hyper"], 200)


def test_it_records_a_generation_whose_preset_holds_a_nul_character(as_alice, flash):
    # The preset is the client's (Flash judges it); PostgreSQL's text holds no NUL, and
    # the request's usage record must not be dropped for it.
    response = post(as_alice, {"query": "x", "preset": "hyper\x00"})
    flush_usage()
    record = UsageRecord.objects.get()
    assert (record.preset, record.status_code) == ("hyper", response.status_code)


def test_it_records_a_generation_whose_preset_holds_a_lone_surrogate(as_alice, flash):
    # "\ud800" is a legal JSON escape with no UTF-8 form: the record could not be sent to
    # PostgreSQL, and the batch it was in stayed queued, every later record behind it.
    response = post(as_alice, {"query": "x", "preset": "hyper\ud800"})
    assert post(as_alice, {"query": "x", "preset": "hyper"}).status_code == 200
    flush_usage()
    assert sorted(UsageRecord.objects.values_list("preset", "status_code")) == sorted(
        [("hyper", response.status_code), ("hyper", 200)])


def test_the_balance_it_checks_reaches_the_low_credit_alert(as_alice, alice, flash):
    flash.balances[alice.flash_user_id] = 5  # enough for hyper, below the low balance
    assert post(as_alice, {"query": "x", "preset": "hyper"}).status_code == 200
    flush_usage()
    (alert,) = mail.outbox
    assert alert.to == ["alice@example.com"] and "Your balance is 5 credits" in alert.body


def test_it_records_no_credits_when_flash_refuses(as_alice, flash):
    response = post(as_alice, {"preset": "balanced"})  # no query: Flash answers 422
    assert response.status_code == 422
    assert response.json() == {"detail": "query is required"}
    flush_usage()
    assert (UsageRecord.objects.get().credits_spent, UsageRecord.objects.get().status_code) == (0, 422)


def test_it_refuses_with_402_before_flash_when_the_balance_cannot_pay(as_alice, alice, flash):
    flash.balances[alice.flash_user_id] = 4
    response = post(as_alice, {"query": "x"})
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_credits"
    assert flash.received("/api/v1/timepoints/generate/sync") == []


def test_it_passes_flashs_own_402_through(as_alice, alice, flash):
    flash.fail(402, body={"detail": "Insufficient credits", "required": 5}, path="generate/sync")
    response = post(as_alice, {"query": "x"})
    assert response.status_code == 402
    assert response.json() == {"detail": "Insufficient credits", "required": 5}


def test_it_uses_the_cost_table_fallbacks(as_alice, alice, flash):
    flash.costs = {"generate": 7}  # neither generate_balanced nor balanced
    flash.balances[alice.flash_user_id] = 6
    response = post(as_alice, {"query": "x"})
    assert response.status_code == 402
    assert "7 credits" in response.json()["error"]["message"]


def test_it_caches_the_cost_table(as_alice, flash):
    post(as_alice, {"query": "a"})
    post(as_alice, {"query": "b"})
    assert len(flash.received("/api/v1/credits/costs")) == 1


def test_it_keeps_a_copy_of_the_cost_table_in_the_process(as_alice, flash):
    post(as_alice, {"query": "a"})
    cache.clear()  # the shared cache's copy is gone; this process's own is not
    assert post(as_alice, {"query": "b"}).status_code == 200
    assert len(flash.received("/api/v1/credits/costs")) == 1


@pytest.mark.parametrize("spelling", ["hd", "HD", "Hd"])  # a Flash may read presets case-blind
def test_it_refuses_hd_without_an_hd_tier_before_flash(as_alice, flash, spelling):
    response = post(as_alice, {"query": "x", "preset": spelling})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert flash.received("/api/v1/timepoints/generate/sync") == []


def test_it_allows_hd_on_a_pro_tier(as_alice, alice, flash):
    Account.objects.filter(pk=alice.pk).update(tier="pro")
    response = post(as_alice, {"query": "x", "preset": "hd"})
    assert response.status_code == 200
    flush_usage()
    assert UsageRecord.objects.get().credits_spent == flash.costs["generate_hd"]


def test_it_refuses_a_body_that_is_not_a_json_object(as_alice, flash):
    response = as_alice.post("/api/v1/generate", data="[1]", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    response = as_alice.post("/api/v1/generate", data="{nope", content_type="application/json")
    assert response.status_code == 400
    assert flash.received("/api/v1/timepoints/generate/sync") == []


def test_it_needs_a_caller(client, flash):
    response = client.post("/api/v1/generate", data="{}", content_type="application/json")
    assert response.status_code == 401
    assert flash.received() == []
