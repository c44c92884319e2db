"""Purchases, refunds and disputes as Stripe reports them (signed events through the
webhook), for the tests that read sales figures back."""

from __future__ import annotations

from .conftest import completed_session, price


def buy(post_event, stripe_api, account, package: str, session_id: str, amount: int, currency: str = "usd") -> None:
    response = post_event(stripe_api.event("checkout.session.completed", completed_session(
        account, package, session_id=session_id, amount_total=amount, currency=currency)))
    assert response.status_code == 200, response.content


def pay_invoice(post_event, stripe_api, account, invoice_id: str, amount: int,
                plan_price: str = "STRIPE_PRICE_EXPLORER", currency: str = "usd") -> None:
    invoice = {
        "id": invoice_id, "object": "invoice", "customer": "cus_alice", "amount_paid": amount, "currency": currency,
        "parent": {"subscription_details": {"subscription": "sub_" + invoice_id,
                                            "metadata": {"account_id": str(account.pk)}}},
        "payments": {"data": [{"payment": {"type": "payment_intent", "payment_intent": "pi_" + invoice_id}}]},
        "lines": {"data": [{"pricing": {"price_details": {"price": price(plan_price)}}}]},
    }
    assert post_event(stripe_api.event("invoice.paid", invoice)).status_code == 200


def refund(post_event, stripe_api, session_id: str, paid: int, refunded: int, currency: str = "usd") -> None:
    """Stripe's charge.refunded: `refunded` is the charge's running total."""
    charge = {"id": "ch_" + session_id, "object": "charge", "payment_intent": "pi_" + session_id, "amount": paid,
              "amount_refunded": refunded, "currency": currency, "customer": "cus_alice"}
    assert post_event(stripe_api.event("charge.refunded", charge)).status_code == 200
