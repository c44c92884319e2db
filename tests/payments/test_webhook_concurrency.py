import pytest
from django.db import connection, transaction
from django.test import Client

from payments import grants
from payments.models import CreditGrant, GrantSource, GrantState, StripeEvent
from tests.together import together

from .conftest import WEBHOOK, completed_session

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="real concurrency needs PostgreSQL (SQLite serialises writers)"),
]


def test_it_grants_once_when_the_same_event_arrives_20_times_at_once(alice, flash, stripe_api):
    body, headers = stripe_api.signed(stripe_api.event("checkout.session.completed", completed_session(alice)))
    statuses = together(20, lambda: Client().post(WEBHOOK, data=body, content_type="application/json",
                                                    headers=headers).status_code)
    assert statuses == [200] * 20
    assert StripeEvent.objects.count() == 1 and CreditGrant.objects.count() == 1
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]


def test_it_delivers_each_grant_once_with_several_workers(alice, flash):
    with transaction.atomic():
        for i in range(12):
            grants.record(f"test:workers:{i}", deliver_after_commit=False, source=GrantSource.MANUAL,
                          account=alice, amount=1, transaction_type="admin_grant")
    together(4, lambda: grants.process_due(limit=5) + grants.process_due(limit=5))
    assert CreditGrant.objects.filter(state=GrantState.APPLIED).count() == 12
    assert len(flash.grants(alice.flash_user_id)) == 12
