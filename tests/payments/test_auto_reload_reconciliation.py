"""`reconcile_ledger` and auto-reload: a reload's payment intent is money in, its grant
explains it (no difference), a lost webhook is found and repaired under the webhook's
own key, and a Checkout purchase's payment intent is not counted twice."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from payments.models import CreditGrant, Difference, ReconciliationRun, RunOutcome

from .conftest import committed
from .reloads import save_card, turn_on


@pytest.fixture
def reconcile(settings):
    settings.PAYMENTS_RECONCILE_GRACE_SECONDS = 0  # a webhook is not "still on its way" here

    def run(*args: str) -> int:
        try:
            with committed():
                call_command("reconcile_ledger", *args, stdout=io.StringIO())
        except CommandError as exc:
            return exc.returncode
        return 0

    return run


def reload_once(client, stripe_api, deliver: bool = True) -> None:
    save_card(client, stripe_api)
    turn_on(client, threshold=150)
    with committed():
        assert client.get("/api/v1/credits/balance").status_code == 200
    if deliver:
        stripe_api.deliver_pending()
    else:
        stripe_api.undelivered.clear()  # the events are lost on their way


def test_a_granted_reload_and_a_checkout_purchase_reconcile_clean(reconcile, as_alice, alice, buy, stripe_api):
    reload_once(as_alice, stripe_api)
    buy(as_alice, "500_credits")
    assert reconcile() == 0
    run = ReconciliationRun.objects.get()
    assert (run.outcome, run.found) == (RunOutcome.CLEAN, 0)
    assert run.counts["stripe_payments"] == 2  # the checkout's own payment intent is not a second payment
    [today] = run.daily
    assert today["stripe"]["credits"] == today["ledger"]["credits"] == today["flash"]["credits"] == 600
    assert today["stripe"]["money"] == {"usd": 3999 + 999}


def test_it_finds_a_reload_whose_webhook_was_lost_and_repairs_it_once(reconcile, as_alice, alice, flash,
                                                                     stripe_api):
    reload_once(as_alice, stripe_api, deliver=False)
    assert not CreditGrant.objects.exists()
    assert reconcile() == 1
    difference = Difference.objects.get()
    assert difference.kind == "paid_no_grant" and difference.stripe_object_id.startswith("pi_")

    assert reconcile("--repair") == 0
    grant = CreditGrant.objects.get()
    assert grant.idempotency_key == f"stripe:payment_intent:{difference.stripe_object_id}"
    assert grant.amount == 100 and "--repair" in grant.reason
    # Stripe delivers the lost event at last: the repaired grant already stands for it.
    [event] = stripe_api.events_of("payment_intent.succeeded")
    assert stripe_api.deliver(event["id"]) == 200
    assert CreditGrant.objects.count() == 1
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]
