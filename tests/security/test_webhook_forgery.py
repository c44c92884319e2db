"""Forged and replayed Stripe deliveries grant nothing. The plain cases (no signature,
another secret, tampered body, stale timestamp, the same event twice) are in
tests/payments/; these are the shapes an attacker who has seen one real delivery, or
knows Stripe's header format, would try next."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from django.test import Client

from payments.models import CreditGrant, StripeEvent
from tests.payments.conftest import WEBHOOK, committed, completed_session


def hmac_v1(secret: str, timestamp: int, body: str) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def forge(name: str, stripe_api, body: str) -> dict[str, str]:
    """Headers for `body` that are not a valid signature by our secret, in various ways."""
    now = int(time.time())
    real = hmac_v1(stripe_api.webhook_secret, now, body)
    forged = {
        "v0 scheme only": f"t={now},v0={real}",
        "no timestamp": f"v1={real}",
        "no v1": f"t={now}",
        "timestamp swapped after signing": f"t={now + 1},v1={real}",
        "signed over the body without its timestamp": f"t={now},v1="
        + hmac.new(stripe_api.webhook_secret.encode(), body.encode(), hashlib.sha256).hexdigest(),
        "several wrong v1 values": f"t={now},v1={'0' * 64},v1={'f' * 64}",
        "empty": "",
        "garbage": "t=yesterday,v1=zz",
        "secret in the header": f"t={now},v1={stripe_api.webhook_secret}",
    }[name]
    # dj-stripe trusts this header under DEBUG; our view never does.
    return {"Stripe-Signature": forged, "X-Djstripe-Webhook-Secret": stripe_api.webhook_secret}


FORGERIES = ["v0 scheme only", "no timestamp", "no v1", "timestamp swapped after signing",
             "signed over the body without its timestamp", "several wrong v1 values", "empty", "garbage",
             "secret in the header"]


def post(body: str, headers: dict) -> object:
    with committed():
        return Client().post(WEBHOOK, data=body, content_type="application/json", headers=headers)


def assert_nothing_granted(response, flash, alice) -> None:
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not StripeEvent.objects.exists() and not CreditGrant.objects.exists()
    assert flash.grants(alice.flash_user_id) == []


@pytest.mark.parametrize("name", FORGERIES)
def test_it_refuses_forged_signatures(standins, alice, flash, name):
    stripe_api = standins["stripe"]
    body = json.dumps(stripe_api.event("checkout.session.completed", completed_session(alice, "500_credits")))
    assert_nothing_granted(post(body, forge(name, stripe_api, body)), flash, alice)


def test_a_captured_delivery_cannot_be_replayed_late_with_a_fresh_timestamp(standins, alice, flash):
    stripe_api = standins["stripe"]
    body, headers = stripe_api.signed(stripe_api.event("checkout.session.completed", completed_session(alice)),
                                      timestamp=int(time.time()) - 600)
    signature = headers["Stripe-Signature"].split("v1=")[1].split(",")[0]
    assert_nothing_granted(post(body, {"Stripe-Signature": f"t={int(time.time())},v1={signature}"}), flash, alice)


def test_a_signed_event_cannot_be_spliced_into_another_body(standins, alice, flash):
    stripe_api = standins["stripe"]
    small_body, headers = stripe_api.signed(stripe_api.event("customer.created", {"id": "cus_x"}))
    big = json.dumps(stripe_api.event("checkout.session.completed", completed_session(alice, "500_credits")))
    assert_nothing_granted(post(small_body + " " + big, headers), flash, alice)
