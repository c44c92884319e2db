"""The auto-reload trigger (CONTRACT.md §9): a balance billing reads below the threshold
makes one off-session PaymentIntent per crossing, never without a saved card, never
past the monthly cap; its credits arrive once Stripe confirms the payment."""

import json
from datetime import timedelta

from django.utils import timezone

from core.calendar import month_start
from payments import autoreload
from payments.models import AutoReload, Reload, ReloadStatus
from standins.stripe import Stripe

from .conftest import committed
from .reloads import AUTO_RELOAD, save_card, turn_on

BALANCE = "/api/v1/credits/balance"


def read_balance(client) -> int:
    with committed():  # the charge is made once the read's transaction has committed
        response = client.get(BALANCE)
    assert response.status_code == 200, response.content
    return response.json()["balance"]


def generate(client) -> int:
    with committed():
        response = client.post("/api/v1/generate", data=json.dumps({"query": "The fall of Rome"}),
                               content_type="application/json")
    return response.status_code


def intents(stripe_api: Stripe) -> list[dict]:
    return [r for r in stripe_api.received(r"^/v1/payment_intents$", "POST")]


def test_it_charges_the_package_off_session_once_when_a_balance_read_is_below_the_threshold(
        as_alice, alice, flash, stripe_api):
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=150)
    assert read_balance(as_alice) == 100
    [request] = intents(stripe_api)
    params = Stripe.params(request)
    assert params["amount"] == "999" and params["currency"] == "usd"
    assert params["off_session"] == "true" and params["confirm"] == "true"
    assert params["metadata"] == {"account_id": str(alice.pk), "package": "100_credits", "credits": "100",
                                  "auto_reload": "1"}
    reload = Reload.objects.get()
    assert request.headers["idempotency-key"] == reload.idempotency_key
    assert params["customer"] == reload.stripe_customer_id and params["payment_method"] == reload.payment_method_id
    stripe_api.deliver_pending()
    reload.refresh_from_db()
    assert reload.status == ReloadStatus.SUCCEEDED and reload.payment_intent_id
    assert flash.balance_of(alice.flash_user_id) == 200
    assert as_alice.get(AUTO_RELOAD).json()["reloads_this_month"] == 1


def test_it_charges_once_per_crossing_and_again_after_the_balance_recovered(as_alice, alice, flash, stripe_api):
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=150)
    read_balance(as_alice)
    read_balance(as_alice)  # still below, before Stripe confirmed: the same crossing
    assert len(intents(stripe_api)) == 1
    stripe_api.deliver_pending()
    assert read_balance(as_alice) == 200  # back above: the crossing is over
    flash.balances[alice.flash_user_id] = 40
    read_balance(as_alice)
    assert len(intents(stripe_api)) == 2
    assert len({r.headers["idempotency-key"] for r in intents(stripe_api)}) == 2


def test_it_charges_on_a_generations_balance_check(as_alice, alice, flash, stripe_api):
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=150)
    assert generate(as_alice) == 200
    assert len(intents(stripe_api)) == 1


def test_it_charges_when_a_generation_takes_the_balance_below_the_threshold(as_alice, alice, flash, stripe_api):
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=98)  # 100 before; a balanced generation costs 5
    assert generate(as_alice) == 200
    assert len(intents(stripe_api)) == 1
    assert Reload.objects.get().balance == 95


def test_nothing_charges_without_a_saved_card(as_alice, alice, stripe_api):
    # Even a row that says enabled (written before the card was detached, say).
    AutoReload.objects.create(account=alice, enabled=True, threshold=150)
    read_balance(as_alice)
    generate(as_alice)
    assert intents(stripe_api) == [] and not Reload.objects.exists()


def test_nothing_charges_while_it_is_off(as_alice, alice, stripe_api):
    save_card(as_alice, stripe_api)
    as_alice.put(AUTO_RELOAD, {"threshold": 150}, content_type="application/json")
    read_balance(as_alice)
    assert intents(stripe_api) == []


def test_the_monthly_cap_holds(as_alice, alice, flash, stripe_api):
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=50, monthly_limit=2)
    for _ in range(3):  # (within the free tier's 10 requests a minute)
        flash.balances[alice.flash_user_id] = 10
        read_balance(as_alice)
        stripe_api.deliver_pending()
        read_balance(as_alice)  # above again after each paid reload
    assert len(intents(stripe_api)) == 2
    assert Reload.objects.filter(status=ReloadStatus.SUCCEEDED).count() == 2
    assert as_alice.get(AUTO_RELOAD).json()["reloads_this_month"] == 2


def test_last_months_reloads_do_not_count_toward_this_months_cap(as_alice, alice, flash, stripe_api):
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=50, monthly_limit=1)
    flash.balances[alice.flash_user_id] = 10
    read_balance(as_alice)
    stripe_api.deliver_pending()
    assert read_balance(as_alice) == 110  # the crossing is over
    flash.balances[alice.flash_user_id] = 10
    read_balance(as_alice)
    assert len(intents(stripe_api)) == 1  # a second crossing, but this month's one reload is spent
    Reload.objects.update(created_at=month_start(timezone.now()) - timedelta(days=1))
    read_balance(as_alice)
    assert len(intents(stripe_api)) == 2


def test_a_charge_stripe_never_answered_is_made_by_the_worker_with_the_same_key(as_alice, alice, flash, stripe_api):
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=150)
    stripe_api.fail(503, times=10, path=r"^/v1/payment_intents$")
    read_balance(as_alice)
    reload = Reload.objects.get()
    assert reload.status == ReloadStatus.PENDING and not reload.payment_intent_id and reload.error
    assert autoreload.process_due() == 0  # not due before its retry time
    Reload.objects.update(next_attempt_at=timezone.now())
    stripe_api.faults.clear()
    assert autoreload.process_due() == 1
    reload.refresh_from_db()
    assert reload.payment_intent_id and len(stripe_api.objects["payment_intent"]) == 1
    assert {r.headers["idempotency-key"] for r in intents(stripe_api)} == {reload.idempotency_key}
    stripe_api.deliver_pending()
    assert flash.balance_of(alice.flash_user_id) == 200


def test_a_repeated_charge_of_a_paid_reload_pays_nothing_more(as_alice, alice, flash, stripe_api):
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=150)
    read_balance(as_alice)
    # The worker, unsure whether the first attempt was heard, calls again: same key.
    Reload.objects.update(payment_intent_id="", next_attempt_at=timezone.now())
    assert autoreload.process_due() == 1
    assert len(stripe_api.objects["payment_intent"]) == 1
    stripe_api.deliver_pending()
    assert flash.balance_of(alice.flash_user_id) == 200
