"""`manage.py reconcile_ledger`: every difference class made for real through the
stand-ins (a lost webhook, a Flash that loses a grant it acknowledged, credits granted
in Flash directly, a mismatched package, a lost refund…), found, classified, stored,
and a non-zero exit while one is unexplained."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from payments import reconciliation
from payments.models import CreditGrant, Difference, GrantState, ReconciliationRun, RunOutcome, StripeEvent
from tests.conftest import bearer
from upstreams import flash as flash_client
from upstreams.stripe import client as stripe_client

from .conftest import price


@pytest.fixture
def as_bob(bob, auth0) -> Client:
    return Client(headers=bearer(auth0.mint(bob.external_id)))


def test_it_finds_a_payment_whose_webhook_never_arrived(reconcile, as_alice, alice, buy, stripe_api):
    session = buy(as_alice, "500_credits", deliver=False)

    outcome = reconcile()

    assert outcome.code == 1
    difference = Difference.objects.get()
    assert (difference.kind, difference.stripe_object_id, difference.account) == ("paid_no_grant", session["id"], alice)
    assert "no webhook event for it was ever received" in difference.detail
    assert session["id"] in outcome.output and "UNEXPLAINED" in outcome.output
    run = ReconciliationRun.objects.get()
    assert (run.outcome, run.found, run.unexplained) == (RunOutcome.DIFFERENCES, 1, 1)
    assert not CreditGrant.objects.exists()  # without --repair nothing is granted


def test_it_names_a_webhook_that_arrived_but_failed(reconcile, alice, stripe_api, post_event):
    session = stripe_client().v1.checkout.sessions.create(params={
        "mode": "payment", "line_items": [{"price": price("STRIPE_PRICE_100_CREDITS"), "quantity": 1}],
        "metadata": {"package": "100_credits"}})  # made by hand in Stripe: no account
    stripe_api.pay(session.id)
    assert StripeEvent.objects.get(type="checkout.session.completed").state == "failed"

    assert reconcile().code == 1
    detail = Difference.objects.get(kind="paid_no_grant").detail
    assert "was received and failed: no account for this event" in detail


def test_repair_records_only_the_missing_grant_and_a_late_webhook_adds_nothing(
        reconcile, as_alice, alice, as_bob, bob, buy, stripe_api, flash):
    lost = buy(as_alice, "500_credits", deliver=False)
    buy(as_bob, "100_credits")
    flash_client.grant(bob.flash_user_id, 70, "admin_grant", "Goodwill, granted in Flash by hand")

    outcome = reconcile("--repair")

    assert outcome.code == 1  # bob's hand-made credits are an operator's to explain
    repaired = CreditGrant.objects.get(account=alice)
    assert (repaired.idempotency_key, repaired.amount, repaired.state) == (
        f"stripe:checkout:{lost['id']}", 500, GrantState.APPLIED)
    assert "--repair" in repaired.reason and repaired.money_amount == 3999
    assert CreditGrant.objects.count() == 2  # bob's purchase and alice's repair, nothing for bob's 70
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [500]
    fixed = Difference.objects.get(kind="paid_no_grant")
    assert fixed.repaired_grant == repaired and fixed.resolved_at is not None
    assert Difference.objects.get(kind="flash_unexplained").is_open

    # Stripe retries the lost delivery at last: the webhook finds the repaired grant.
    [completed] = [e for e in stripe_api.events_of("checkout.session.completed")
                   if e["data"]["object"]["id"] == lost["id"]]
    assert stripe_api.deliver(completed["id"]) == 200
    assert "already recorded" in StripeEvent.objects.get(stripe_id=completed["id"]).result
    assert CreditGrant.objects.filter(account=alice).count() == 1
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [500]

    again = reconcile()
    assert again.code == 1 and again.kinds() == ["flash_unexplained"]


def test_it_finds_a_grant_flash_acknowledged_but_never_recorded(reconcile, as_alice, buy, flash):
    flash.unrecorded_grants = 1
    buy(as_alice, "100_credits")
    grant = CreditGrant.objects.get()
    assert grant.state == GrantState.APPLIED  # Flash said 200

    outcome = reconcile()

    assert outcome.code == 1
    difference = Difference.objects.get()
    assert (difference.kind, difference.grant) == ("not_in_flash", grant)
    assert str(grant.id) in outcome.output


def test_it_finds_credits_granted_in_flash_directly(reconcile, alice, flash):
    answer = flash_client.grant(alice.flash_user_id, 250, "admin_grant", "Support goodwill")

    assert reconcile().code == 1
    difference = Difference.objects.get()
    assert (difference.kind, difference.account, difference.flash_transaction_id) == (
        "flash_unexplained", alice, answer["transaction_id"])
    assert "250 credits" in difference.detail and "Support goodwill" in difference.detail


def test_it_finds_a_500_credit_payment_whose_grant_says_100(reconcile, alice, stripe_api):
    # A session made outside billing's checkout (a payment link, a script) whose
    # metadata names the wrong package: the webhook, reading only the payload, trusts it.
    session = stripe_client().v1.checkout.sessions.create(params={
        "mode": "payment", "line_items": [{"price": price("STRIPE_PRICE_500_CREDITS"), "quantity": 1}],
        "client_reference_id": str(alice.pk), "metadata": {"account_id": str(alice.pk), "package": "100_credits"}})
    stripe_api.pay(session.id)
    assert CreditGrant.objects.get().amount == 100

    assert reconcile().code == 1
    difference = Difference.objects.get()
    assert (difference.kind, difference.stripe_object_id) == ("amount_mismatch", session.id)
    assert "paid for 500 credits, the grant gives 100" in difference.detail


def test_it_finds_a_package_charged_at_another_price(reconcile, as_alice, buy, stripe_api, settings):
    # STRIPE_PRICE_100_CREDITS pointed at an old, cheaper Price in Stripe.
    stripe_api.add_price("price_old_100", 499, "100 credits (2024)")
    settings.STRIPE_PRICE_100_CREDITS = "price_old_100"
    buy(as_alice, "100_credits")

    assert reconcile().code == 1
    assert "100_credits charged 499 usd, its price is 999" in Difference.objects.get(kind="amount_mismatch").detail


def test_it_finds_a_refund_whose_event_was_lost(reconcile, as_alice, buy, stripe_api):
    session = buy(as_alice, "500_credits")
    refund = stripe_api.refund(payment_intent=session["payment_intent"], amount=2000, deliver=False)

    assert reconcile().code == 1
    difference = Difference.objects.get()
    assert (difference.kind, difference.stripe_object_id) == ("reversal_missing", refund["charge"])
    assert "250 credits should be reversed, the ledger holds reversals of 0" in difference.detail

    for event in stripe_api.events_of("charge.refunded"):
        stripe_api.deliver(event["id"])  # delivered at last: the held reversal is recorded
    assert reconcile().code == 0
    difference.refresh_from_db()
    assert difference.resolved_at is not None


def test_it_finds_a_dispute_without_its_held_reversal(reconcile, as_alice, buy, stripe_api):
    session = buy(as_alice, "100_credits")
    dispute = stripe_api.dispute(payment_intent=session["payment_intent"], deliver=False)

    assert reconcile().code == 1
    difference = Difference.objects.get()
    assert (difference.kind, difference.stripe_object_id) == ("reversal_missing", dispute["id"])


def test_it_finds_a_grant_still_undelivered_past_its_deadline(reconcile, as_alice, buy, flash, settings):
    flash.fail(503, path="admin/grant", times=None)
    buy(as_alice, "100_credits")
    assert CreditGrant.objects.get().state == GrantState.PENDING
    assert reconcile().code == 0  # an hour is allowed for Flash to take it

    settings.PAYMENTS_RECONCILE_GRANT_DEADLINE_SECONDS = 0
    outcome = reconcile()

    assert outcome.code == 1
    difference = Difference.objects.get()
    assert difference.kind == "grant_overdue" and "pending after 1 attempt(s)" in difference.detail


def test_a_clean_window_exits_0(reconcile, as_alice, alice, buy, stripe_api, auth0, flash):
    buy(as_alice, "100_credits")
    refunded = buy(as_alice, "500_credits")
    stripe_api.refund(payment_intent=refunded["payment_intent"])
    disputed = buy(as_alice, "100_credits")
    dispute = stripe_api.dispute(payment_intent=disputed["payment_intent"])
    stripe_api.close_dispute(dispute["id"], "won")
    plan = as_alice.post("/api/v1/billing/checkout", {"plan": "explorer"}, content_type="application/json")
    stripe_api.pay(plan.json()["session_id"])
    # A newcomer: Flash's own signup bonus, then a generation spent; neither is billing's.
    newcomer = Client(headers=bearer(auth0.mint("auth0|newcomer")))
    assert newcomer.get("/api/v1/credits/balance").status_code == 200
    generated = newcomer.post("/api/v1/generate", {"query": "Rome, 44 BC"}, content_type="application/json")
    assert generated.status_code == 200

    outcome = reconcile()

    assert outcome.code == 0, outcome.output
    run = ReconciliationRun.objects.get()
    assert (run.outcome, run.found) == (RunOutcome.CLEAN, 0)
    assert run.counts["stripe_payments"] == 4 and run.counts["stripe_refunds"] == 1
    [today] = run.daily
    assert today["stripe"]["credits"] == 100 + 500 + 100 + 50
    assert today["ledger"]["credits"] == today["flash"]["credits"] == 750
    assert "Differences: 0" in outcome.output


def test_it_reads_only_its_window(reconcile, as_alice, buy):
    buy(as_alice, "100_credits", deliver=False)
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date().isoformat()

    assert reconcile("--until", yesterday).code == 0
    assert reconcile("--since", yesterday).code == 1
    assert reconcile("--since", "2026-13-01").code != 0  # not a date: refused


def test_an_explained_difference_no_longer_fails_the_run(reconcile, alice, flash, django_user_model):
    flash_client.grant(alice.flash_user_id, 30, "admin_grant", "Migration from the old ledger")
    assert reconcile().code == 1
    operator = django_user_model.objects.create_user("ops")
    reconciliation.explain(Difference.objects.get(), operator, "Migrated balances, ticket 7")

    outcome = reconcile()

    assert outcome.code == 0
    assert "explained: Migrated balances, ticket 7" in outcome.output
    assert reconciliation.open_differences_count() == 0


def test_it_fails_loudly_when_flash_cannot_be_read(reconcile, as_alice, buy, flash):
    buy(as_alice, "100_credits")
    flash.fail(500, path="credits/history", times=None)

    outcome = reconcile()

    assert outcome.code == 2 and "Flash's history could not be read" in outcome.output
    assert ReconciliationRun.objects.get().outcome == RunOutcome.FAILED
    assert not Difference.objects.exists()
