"""A subscription's renewal invoice and its cancellation arriving at the same moment:
the newer of the two decides the plan, whichever commits last."""

import pytest
from django.db import connection
from django.test import Client

from tests.together import together

from .conftest import WEBHOOK, price
from .test_subscriptions import _invoice, _subscription

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="real concurrency needs PostgreSQL (SQLite serialises writers)"),
]


def test_it_keeps_a_cancellation_newer_than_a_renewal_that_races_it(alice, stripe_api):
    alice.stripe_customer_id = "cus_alice"
    alice.save()
    explorer = price("STRIPE_PRICE_EXPLORER")
    ended = []
    for round_ in range(12):
        paid = stripe_api.event("invoice.paid", _invoice(alice, explorer, invoice_id=f"in_{round_}"))
        deleted = stripe_api.event("customer.subscription.deleted", _subscription("canceled", explorer))
        paid["created"] = 1_800_000_000 + 1000 * round_
        deleted["created"] = paid["created"] + 60  # cancelled a minute after the renewal was paid
        pending = [stripe_api.signed(paid), stripe_api.signed(deleted)]

        def deliver() -> int:
            body, headers = pending.pop()
            return Client().post(WEBHOOK, data=body, content_type="application/json", headers=headers).status_code

        assert together(2, deliver) == [200, 200]
        alice.refresh_from_db()
        ended.append(alice.plan)
    assert ended == ["free"] * 12
