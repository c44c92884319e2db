"""Concurrent balance reads of one crossing (CONTRACT.md §9): one PaymentIntent."""

import pytest
from django.db import connection
from django.test import Client

from accounts.models import Account
from payments.models import Reload
from tests.conftest import bearer
from tests.together import together

from .reloads import save_card, turn_on

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="real concurrency needs PostgreSQL (SQLite serialises writers)"),
]


def test_it_charges_once_when_10_reads_cross_the_threshold_at_once(alice, alice_token, as_alice, flash, stripe_api):
    Account.objects.filter(pk=alice.pk).update(tier_override="enterprise")  # 20 at once, so none is refused
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=150)
    statuses = together(10, lambda: Client(headers=bearer(alice_token)).get("/api/v1/credits/balance").status_code)
    assert statuses == [200] * 10
    assert len(stripe_api.objects["payment_intent"]) == 1
    assert len(stripe_api.received(r"^/v1/payment_intents$", "POST")) == 1
    assert Reload.objects.count() == 1
    stripe_api.deliver_pending()
    assert flash.balance_of(alice.flash_user_id) == 200
