"""`reconcile_ledger` and objects it cannot read: a Stripe object (or Flash entry) of a
shape the webhook's typed readers refuse is a difference of its own (`unreadable`,
naming the object, its type and the field), the run goes on with every other payment,
a second run finds the same difference (not a second one), and `--repair` never
grants from it. Malformed objects are seeded into the stand-ins, read over HTTP."""

from __future__ import annotations

from payments.models import CreditGrant, Difference, GrantState, ReconciliationRun, RunOutcome
from upstreams import flash as flash_client

from .conftest import committed
from .reloads import save_card, turn_on


def unreadable() -> Difference:
    return Difference.objects.get(kind="unreadable")


def kinds() -> list[str]:
    return sorted(Difference.objects.values_list("kind", flat=True))


def only_unreadable(object_id: str, *said: str) -> Difference:
    """The one difference found: the unreadable Stripe object `object_id`, its detail
    saying each of `said`."""
    difference = unreadable()
    assert difference.stripe_object_id == object_id and kinds() == ["unreadable"]
    for words in said:
        assert words in difference.detail
    return difference


def test_it_records_an_unreadable_session_and_reconciles_every_other_payment(
        reconcile, as_alice, alice, buy, stripe_api):
    buy(as_alice, "100_credits")
    lost = buy(as_alice, "500_credits", deliver=False)
    odd = buy(as_alice, "500_credits")
    stripe_api.line_items[odd["id"]][0]["quantity"] = "two"  # what no reader of a quantity can read

    outcome = reconcile()

    assert outcome.code == 1
    assert kinds() == ["paid_no_grant", "unreadable"]  # the lost payment is still found
    assert Difference.objects.get(kind="paid_no_grant").stripe_object_id == lost["id"]
    difference = unreadable()
    assert difference.stripe_object_id == odd["id"] and difference.is_open
    assert f"Stripe checkout.session {odd['id']} cannot be read: quantity is a string" in difference.detail
    granted = CreditGrant.objects.get(stripe_object_id=odd["id"])  # its webhook read it before it changed
    assert (difference.grant, difference.account) == (granted, alice)
    run = ReconciliationRun.objects.get()
    assert (run.outcome, run.found, run.unexplained) == (RunOutcome.DIFFERENCES, 2, 2)
    assert run.counts["stripe_payments"] == 2
    [today] = run.daily
    assert today["stripe"]["credits"] == 600 and today["flash"]["credits"] == 600
    assert "[unreadable]" in outcome.output and "UNEXPLAINED" in outcome.output


def test_a_second_run_keeps_one_difference_and_resolves_it_once_the_object_reads(
        reconcile, as_alice, buy, stripe_api):
    odd = buy(as_alice, "100_credits")
    stripe_api.line_items[odd["id"]][0]["quantity"] = "two"
    assert reconcile().code == 1

    assert reconcile().code == 1

    difference = unreadable()
    assert difference.key == f"unreadable:{odd['id']}"
    assert difference.runs.count() == 2 and Difference.objects.count() == 1

    stripe_api.line_items[odd["id"]][0]["quantity"] = 1  # mended in Stripe
    assert reconcile().code == 0
    difference.refresh_from_db()
    assert difference.resolved_at is not None


def test_repair_grants_nothing_from_an_unreadable_session(reconcile, as_alice, alice, buy, stripe_api, flash):
    lost = buy(as_alice, "100_credits", deliver=False)
    odd = buy(as_alice, "500_credits", deliver=False)
    stripe_api.line_items[odd["id"]][0]["quantity"] = "two"

    outcome = reconcile("--repair")

    assert outcome.code == 1
    repaired = CreditGrant.objects.get()  # the lost one's, nothing from the unreadable one
    assert repaired.idempotency_key == f"stripe:checkout:{lost['id']}" and repaired.state == GrantState.APPLIED
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]
    assert unreadable().stripe_object_id == odd["id"] and unreadable().repaired_grant is None
    assert ReconciliationRun.objects.get().repaired == 1


def test_it_records_an_unreadable_subscription_invoice(reconcile, as_alice, buy, stripe_api):
    buy(as_alice, "100_credits")
    plan = as_alice.post("/api/v1/billing/checkout", {"plan": "explorer"}, content_type="application/json")
    stripe_api.pay(plan.json()["session_id"])
    [invoice] = stripe_api.objects["invoice"].values()
    invoice["lines"]["data"][0]["quantity"] = "1"

    assert reconcile().code == 1

    only_unreadable(invoice["id"], "Stripe invoice", "quantity is a string")
    assert ReconciliationRun.objects.get().counts["stripe_payments"] == 1  # the package purchase


def test_it_records_an_unreadable_auto_reload_payment_intent(reconcile, as_alice, stripe_api):
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=150)
    with committed():
        assert as_alice.get("/api/v1/credits/balance").status_code == 200
    stripe_api.deliver_pending()
    [intent] = stripe_api.objects["payment_intent"].values()
    intent["metadata"]["package"] = ["100_credits"]

    assert reconcile().code == 1

    only_unreadable(intent["id"], "Stripe payment_intent", "metadata.package is a list")


def test_it_records_a_refund_whose_charge_cannot_be_read(reconcile, as_alice, buy, stripe_api):
    session = buy(as_alice, "500_credits")
    refund = stripe_api.refund(payment_intent=session["payment_intent"])
    refund["charge"] = "ch_gone"  # names no charge Stripe can expand

    assert reconcile().code == 1

    only_unreadable(refund["id"], "Stripe refund", "charge is a string, not an object")


def test_it_records_a_dispute_it_cannot_read(reconcile, as_alice, buy, stripe_api):
    session = buy(as_alice, "100_credits")
    dispute = stripe_api.dispute(payment_intent=session["payment_intent"])
    dispute["status"] = ["lost"]

    assert reconcile().code == 1

    only_unreadable(dispute["id"], "status is a list, not a string")


def test_it_records_a_flash_entry_it_cannot_read(reconcile, as_alice, alice, buy, flash):
    buy(as_alice, "100_credits")
    answer = flash_client.grant(alice.flash_user_id, 40, "admin_grant", "Goodwill")
    [entry] = [t for t in flash.transactions[alice.flash_user_id] if t["id"] == answer["transaction_id"]]
    entry["transaction_type"] = ["admin_grant"]

    assert reconcile().code == 1
    assert reconcile().code == 1

    difference = unreadable()
    assert kinds() == ["unreadable"] and difference.runs.count() == 2
    assert (difference.flash_transaction_id, difference.account) == (answer["transaction_id"], alice)
    assert "transaction_type is a list, not a string" in difference.detail


def test_it_keys_a_flash_entry_with_an_overlong_id_by_a_digest(reconcile, as_alice, alice, buy, flash):
    buy(as_alice, "100_credits")
    answer = flash_client.grant(alice.flash_user_id, 40, "admin_grant", "Goodwill")
    [entry] = [t for t in flash.transactions[alice.flash_user_id] if t["id"] == answer["transaction_id"]]
    entry["id"] = "tx_" + "9" * 300  # more than a difference's key or Flash id column holds

    assert reconcile().code == 1
    assert reconcile().code == 1

    [difference] = Difference.objects.all()
    assert difference.kind == "flash_unexplained" and difference.runs.count() == 2
    assert len(difference.key) < 255 and difference.flash_transaction_id == entry["id"][:255]
