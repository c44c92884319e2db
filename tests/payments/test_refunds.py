
from payments.models import CreditGrant, GrantState, StripeEvent

from .conftest import completed_session


def _charge(refunded: int, amount: int = 999) -> dict:
    return {"id": "ch_1", "object": "charge", "payment_intent": "pi_cs_test_1", "amount": amount,
            "amount_refunded": refunded, "currency": "usd", "customer": "cus_alice", "refunded": refunded >= amount}


def test_it_records_a_refund_as_a_held_reversal_for_operators(alice, flash, stripe_api, post_event):
    post_event(stripe_api.event("checkout.session.completed", completed_session(alice, "500_credits")))
    original = CreditGrant.objects.get()
    assert post_event(stripe_api.event("charge.refunded", _charge(999))).status_code == 200
    reversal = CreditGrant.objects.exclude(pk=original.pk).get()
    assert (reversal.amount, reversal.transaction_type, reversal.state) == (-500, "refund", GrantState.HELD)
    assert reversal.reverses == original and reversal.money_amount == -999
    assert "held reversal" in StripeEvent.objects.get(type="charge.refunded").result
    # Held: nothing is taken from Flash until an operator confirms it.
    assert all(t["amount"] > 0 for t in flash.transactions[alice.flash_user_id])


def test_it_reverses_partial_refunds_in_proportion_once(alice, stripe_api, post_event):
    post_event(stripe_api.event("checkout.session.completed", completed_session(alice, "100_credits")))
    post_event(stripe_api.event("charge.refunded", _charge(500)))
    post_event(stripe_api.event("charge.refunded", _charge(500)))  # a second event, same refund
    post_event(stripe_api.event("charge.refunded", _charge(999)))
    reversals = CreditGrant.objects.filter(amount__lt=0).order_by("created_at")
    assert [g.amount for g in reversals] == [-50, -50]
    # Each reversal carries its own refund's money: together, the whole charge.
    assert [g.money_amount for g in reversals] == [-500, -499]


def test_it_finds_the_subscription_grant_a_refunded_charge_paid_for(alice, stripe_api, post_event):
    from .conftest import price

    invoice = {"id": "in_r", "object": "invoice", "customer": "cus_alice", "amount_paid": 1499, "currency": "usd",
               "parent": {"subscription_details": {"subscription": "sub_r", "metadata": {"account_id": str(alice.pk)}}},
               "payments": {"data": [{"payment": {"type": "payment_intent", "payment_intent": "pi_invoice"}}]},
               "lines": {"data": [{"pricing": {"price_details": {"price": price("STRIPE_PRICE_EXPLORER")}}}]}}
    post_event(stripe_api.event("invoice.paid", invoice))
    charge = {"id": "ch_r", "object": "charge", "payment_intent": "pi_invoice", "amount": 1499,
              "amount_refunded": 1499, "currency": "usd"}
    post_event(stripe_api.event("charge.refunded", charge))
    assert CreditGrant.objects.get(amount__lt=0).amount == -50
