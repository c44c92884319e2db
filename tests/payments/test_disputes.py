"""Disputes: `charge.dispute.created` holds a reversal like a refund; the dispute's
close releases it (won) or leaves it for the operator (lost). Made through the stand-in."""

from __future__ import annotations

from payments.models import CreditGrant, GrantSource, GrantState, StripeEvent

from .conftest import committed


def _disputed(buy, client, stripe_api, package: str = "500_credits", **kwargs) -> tuple[CreditGrant, dict]:
    session = buy(client, package)
    dispute = stripe_api.dispute(payment_intent=session["payment_intent"], **kwargs)
    return CreditGrant.objects.get(idempotency_key=f"stripe:checkout:{session['id']}"), dispute


def test_it_holds_a_reversal_when_a_payment_is_disputed(as_alice, alice, buy, stripe_api, flash):
    original, dispute = _disputed(buy, as_alice, stripe_api)

    reversal = CreditGrant.objects.get(source=GrantSource.STRIPE_DISPUTE)
    assert (reversal.amount, reversal.state, reversal.reverses) == (-500, GrantState.HELD, original)
    assert reversal.stripe_object_id == dispute["id"] and reversal.money_amount == -3999
    assert "held reversal" in StripeEvent.objects.get(type="charge.dispute.created").result
    assert [t["amount"] for t in flash.transactions[alice.flash_user_id]] == [500]  # nothing taken yet


def test_a_won_dispute_releases_its_reversal_unsent(as_alice, alice, buy, stripe_api, flash):
    _original, dispute = _disputed(buy, as_alice, stripe_api)

    stripe_api.close_dispute(dispute["id"], "won")

    reversal = CreditGrant.objects.get(source=GrantSource.STRIPE_DISPUTE)
    assert reversal.state == GrantState.RELEASED
    assert flash.balance_of(alice.flash_user_id) == 100 + 500


def _send(operator, grant: CreditGrant) -> None:
    """The operator's "Retry delivery to Flash" on a held reversal."""
    with committed():
        operator.post("/admin/payments/creditgrant/", {"action": "retry_grants", "_selected_action": [grant.pk]})


def test_a_lost_dispute_leaves_the_reversal_for_the_operator(as_alice, alice, buy, stripe_api, flash, operator):
    _original, dispute = _disputed(buy, as_alice, stripe_api, amount=2000)  # a partial dispute

    stripe_api.close_dispute(dispute["id"], "lost")

    reversal = CreditGrant.objects.get(source=GrantSource.STRIPE_DISPUTE)
    assert (reversal.amount, reversal.state) == (-250, GrantState.HELD)
    _send(operator, reversal)
    assert flash.balance_of(alice.flash_user_id) == 100 + 500 - 250


def test_a_lost_dispute_whose_opening_was_never_delivered_still_holds_its_reversal(as_alice, buy, stripe_api):
    _original, dispute = _disputed(buy, as_alice, stripe_api, deliver=False)
    assert not CreditGrant.objects.filter(source=GrantSource.STRIPE_DISPUTE).exists()

    stripe_api.close_dispute(dispute["id"], "lost")

    assert CreditGrant.objects.get(source=GrantSource.STRIPE_DISPUTE).state == GrantState.HELD


def test_a_won_dispute_whose_opening_arrives_after_its_close_holds_nothing(as_alice, alice, buy, stripe_api,
                                                                           flash):
    _original, dispute = _disputed(buy, as_alice, stripe_api, deliver=False)
    stripe_api.close_dispute(dispute["id"], "won")

    # Stripe does not deliver in order: the dispute's opening comes last.
    [opened] = stripe_api.events_of("charge.dispute.created")
    assert stripe_api.deliver(opened["id"]) == 200

    assert not CreditGrant.objects.filter(source=GrantSource.STRIPE_DISPUTE, state=GrantState.HELD).exists()
    assert CreditGrant.objects.get(source=GrantSource.STRIPE_DISPUTE).state == GrantState.RELEASED
    assert flash.balance_of(alice.flash_user_id) == 100 + 500


def test_a_dispute_won_after_its_reversal_was_sent_holds_the_credits_given_back(as_alice, alice, buy, stripe_api,
                                                                               flash, operator):
    _original, dispute = _disputed(buy, as_alice, stripe_api)
    reversal = CreditGrant.objects.get(source=GrantSource.STRIPE_DISPUTE)
    _send(operator, reversal)
    assert flash.balance_of(alice.flash_user_id) == 100

    stripe_api.close_dispute(dispute["id"], "won")

    back = CreditGrant.objects.get(idempotency_key=f"stripe:dispute:{dispute['id']}:won")
    assert (back.amount, back.state, back.reverses) == (500, GrantState.HELD, reversal)
    _send(operator, back)
    assert flash.balance_of(alice.flash_user_id) == 100 + 500


def test_disputes_are_listed_with_refunds(as_alice, buy, stripe_api, operator):
    disputed = buy(as_alice, "100_credits")
    stripe_api.dispute(payment_intent=disputed["payment_intent"])
    refunded = buy(as_alice, "500_credits")
    stripe_api.refund(payment_intent=refunded["payment_intent"])

    page = operator.get("/admin/payments/creditgrant/?money_back=reversals").content.decode()

    shown = {str(g.pk)[:8] for g in CreditGrant.objects.filter(amount__lt=0)}
    assert len(shown) == 2 and all(short in page for short in shown)
    assert not any(str(g.pk)[:8] in page for g in CreditGrant.objects.filter(amount__gt=0))
