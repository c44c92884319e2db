"""Partial refunds of one charge whose `charge.refunded` events arrive at the same
time: their reversals still add up to what was refunded, never more."""

import pytest
from django.db import connection
from django.test import Client

from payments.models import CreditGrant
from tests.together import together

from .conftest import WEBHOOK, completed_session

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="real concurrency needs PostgreSQL (SQLite serialises writers)"),
]


def _refunded(refunded: int) -> dict:
    return {"id": "ch_1", "object": "charge", "payment_intent": "pi_cs_test_1", "amount": 1000,
            "amount_refunded": refunded, "currency": "usd", "customer": "cus_alice"}


def test_it_reverses_concurrent_partial_refunds_no_more_than_refunded(alice, stripe_api, post_event):
    post_event(stripe_api.event("checkout.session.completed", completed_session(alice, "100_credits",
                                                                                 amount_total=1000)))
    # Ten refunds of 100 each: Stripe's events carry the running totals 100 … 1000.
    signed = [stripe_api.signed(stripe_api.event("charge.refunded", _refunded(100 * n))) for n in range(1, 11)]
    pending = list(signed)

    def deliver() -> int:
        body, headers = pending.pop()
        return Client().post(WEBHOOK, data=body, content_type="application/json", headers=headers).status_code

    assert together(10, deliver) == [200] * 10
    reversals = CreditGrant.objects.filter(amount__lt=0)
    assert sum(r.amount for r in reversals) == -100
    assert sum(r.money_amount for r in reversals) == -1000
