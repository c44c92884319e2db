"""One customer, from their account's page: every purchase, grant, refund, reload,
key and use of a key, each link opening a list of theirs only."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apikeys.keys import create_key
from metering.models import UsageRecord
from payments.models import CreditGrant
from tests.conftest import bearer
from tests.payments.purchases import buy, pay_invoice, refund
from tests.payments.reloads import paid_then_declined

pytestmark = pytest.mark.django_db


def test_it_links_an_account_to_everything_of_theirs(operator_client, alice, bob, flash, auth0, stripe_api,
                                                     post_event, events_to_gateway):
    # The auto-reloads first: the purchases below name a customer the Stripe stand-in does not know.
    paid_then_declined(Client(headers=bearer(auth0.mint(alice.external_id))), alice, flash, stripe_api)
    for account, session in ((alice, "cs_alice"), (bob, "cs_bob")):
        buy(post_event, stripe_api, account, "500_credits", session, 3999)
        create_key(account, f"key of {account.email}", "live")
        UsageRecord.objects.create(account=account, endpoint="/api/v1/credits/balance", method="GET",
                                   status_code=200)
    pay_invoice(post_event, stripe_api, alice, "in_alice", 499)
    refund(post_event, stripe_api, "cs_alice", 3999, 1000)

    page = operator_client.get(f"/admin/accounts/account/{alice.pk}/change/").content.decode()
    links = dict((label, href.replace("&amp;", "&")) for href, label in
                 re.findall(r'<a href="([^"]+\?[^"]*)">([^<]+)</a>', page) if str(alice.pk) in href)

    grants = operator_client.get(links["purchases, grants, refunds and disputes"]).content.decode()
    for grant in CreditGrant.objects.filter(account=alice):
        assert str(grant.pk)[:8] in grants
    assert not any(str(g.pk)[:8] in grants for g in CreditGrant.objects.filter(account=bob))
    assert "key of alice@example.com" in operator_client.get(links["API keys"]).content.decode()
    assert "key of bob@example.com" not in operator_client.get(links["API keys"]).content.decode()
    reloads = operator_client.get(links["auto-reloads"]).content.decode()
    assert "expired" in reloads and "bob@example.com" not in reloads
    usage = operator_client.get(links["usage"])
    assert usage.status_code == 200 and list(usage.context["cl"].result_list) == list(
        UsageRecord.objects.filter(account=alice))
    for label in ("session tokens", "reconciliation differences"):
        assert operator_client.get(links[label]).status_code == 200, label
