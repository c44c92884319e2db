import pytest

from payments.models import CreditGrant, GrantState, StripeEvent

from .conftest import completed_session

# Grants are delivered after commit: the tests need real transactions.
pytestmark = pytest.mark.django_db(transaction=True)


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
    assert sorted(g.amount for g in CreditGrant.objects.filter(amount__lt=0)) == [-50, -50]
