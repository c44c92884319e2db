"""Every billing list in the same number of queries for five rows as for fifty-five:
no column, link or filter asks the database once per row."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, SessionToken
from apikeys.models import APIKey, TierChange
from metering.models import UsageRecord
from payments.models import (
    AutoReload,
    CreditGrant,
    Difference,
    GrantSource,
    Reload,
    StripeEvent,
    TransactionType,
)

from .conftest import LISTS


def add_rows(n: int, start: int) -> None:
    """`n` rows in every list: each a different account, with a key, a grant that
    reverses another, a failed event, a difference, an auto-reload seen by an
    operator, a reload with its grant, a usage record by the key."""
    seer = get_user_model().objects.create_user(f"seer{start}", f"seer{start}@example.com", "pw")
    now = timezone.now()
    for i in range(start, start + n):
        account = Account.objects.create(external_id=f"auth0|{i}", email=f"u{i}@example.com",
                                         flash_user_id=f"f{i}", tier_override="pro" if i % 2 else "")
        key = APIKey.objects.create(account=account, key_hash=uuid.uuid4().hex, prefix=f"tp_{i:05d}", name=f"k{i}",
                                    last_used_at=now, expires_at=now + dt.timedelta(days=1))
        SessionToken.objects.create(account=account, token_hash=uuid.uuid4().hex, prefix=f"st_{i:05d}",
                                    expires_at=now + dt.timedelta(days=1))
        TierChange.objects.create(account=account, tier_override="pro", note="n", changed_by="ops")
        paid = CreditGrant.objects.create(idempotency_key=f"stripe:checkout:cs_{i}", source=GrantSource.STRIPE,
                                          account=account, flash_user_id=account.flash_user_id, amount=100,
                                          transaction_type=TransactionType.STRIPE_PURCHASE, product="100_credits",
                                          currency="usd", money_amount=999, created_by=seer)
        CreditGrant.objects.create(idempotency_key=f"stripe:refund:ch_{i}", source=GrantSource.STRIPE_REFUND,
                                   account=account, flash_user_id=account.flash_user_id, amount=-100,
                                   transaction_type=TransactionType.REFUND, state="held", reverses=paid,
                                   last_error="held for review")
        StripeEvent.objects.create(stripe_id=f"evt_{i}", type="checkout.session.completed", payload={"id": i},
                                   state="failed", result="no account")
        Difference.objects.create(key=f"d{i}", kind="paid_no_grant", occurred_at=now, detail="paid", account=account,
                                  grant=paid, repaired_grant=paid, explained_by=seer)
        AutoReload.objects.create(account=account, last_error="declined", error_seen_at=now, error_seen_by=seer,
                                  stripe_customer_id=f"cus_{i}", payment_method_id=f"pm_{i}")
        Reload.objects.create(account=account, crossing=1, idempotency_key=f"r{i}", package="100_credits",
                              credits=100, amount=999, currency="usd", balance=1, threshold=20,
                              payment_method_id=f"pm_{i}", stripe_customer_id=f"cus_{i}", grant=paid,
                              payment_intent_id=f"pi_{i}", status="failed", error="declined")
        UsageRecord.objects.create(account=account, api_key=key, endpoint="/api/v1/credits/balance", method="GET",
                                   status_code=200)


def queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(captured)


@pytest.mark.parametrize("name", LISTS)
def test_it_lists_fifty_five_rows_in_as_many_queries_as_five(operator_client, name):
    path = LISTS[name]
    add_rows(5, 0)
    few = queries(operator_client, path)
    add_rows(50, 100)
    many = queries(operator_client, path)
    assert many == few, f"{name}: {few} queries for 5 rows, {many} for 55"
