"""The whole purchase over HTTP, as under `make run`: the gateway's checkout, the Stripe
stand-in's hosted page and its Pay button, the signed webhook it delivers to the gateway,
the grant, and the balance in Flash."""

from __future__ import annotations

import pytest
import requests

from payments.models import CreditGrant, GrantState, StripeEvent
from tests.conftest import bearer

from .conftest import WEBHOOK


@pytest.fixture
def gateway(live_server, stripe_api):
    """The gateway on a live server, Stripe's deliveries going to its webhook over HTTP."""
    stripe_api.transport = None
    stripe_api.webhook_url = live_server.url + WEBHOOK
    return live_server.url


def _checkout(gateway: str, token: str, **item: str) -> str:
    started = requests.post(f"{gateway}/api/v1/billing/checkout", json=item, headers=bearer(token), timeout=10)
    assert started.status_code == 200, started.text
    return started.json()["checkout_url"]


def test_it_buys_credits_on_the_stand_in_checkout_page(gateway, alice, auth0, stripe_api, flash, settings):
    settings.PAYMENTS_SUCCESS_URL = "https://app.example/thanks?session={CHECKOUT_SESSION_ID}"
    token = auth0.mint(alice.external_id)
    url = _checkout(gateway, token, package="500_credits")

    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and "500 credits × 1" in page.text and "Pay 39.99 USD" in page.text
    paid = requests.post(url + "/pay", timeout=30, allow_redirects=False)

    session_id = url.rsplit("/", 1)[-1]
    assert paid.status_code == 303 and paid.headers["Location"] == f"https://app.example/thanks?session={session_id}"
    delivered = {d["type"]: d["status"] for d in stripe_api.deliveries}
    assert delivered["checkout.session.completed"] == 200
    grant = CreditGrant.objects.get()
    assert (grant.stripe_object_id, grant.amount, grant.state) == (session_id, 500, GrantState.APPLIED)
    assert grant.stripe_payment_intent_id == stripe_api.sessions[session_id]["payment_intent"]
    balance = requests.get(f"{gateway}/api/v1/credits/balance", headers=bearer(token), timeout=10)
    assert balance.json()["balance"] == 100 + 500
    assert "complete" in requests.get(url, timeout=10).text  # paying twice is not offered


def test_it_subscribes_on_the_stand_in_checkout_page(gateway, alice, auth0, stripe_api, flash):
    token = auth0.mint(alice.external_id)
    url = _checkout(gateway, token, plan="historian")

    assert "Subscribe" in requests.get(url, timeout=10).text
    requests.post(url + "/pay", timeout=30, allow_redirects=False)

    alice.refresh_from_db()
    assert alice.plan == "historian" and alice.stripe_customer_id.startswith("cus_")
    grant = CreditGrant.objects.get()
    assert (grant.transaction_type, grant.amount, grant.state) == ("subscription_grant", 200, GrantState.APPLIED)
    assert flash.balance_of(alice.flash_user_id) == 100 + 200


def test_a_lost_webhook_leaves_the_payment_without_its_grant_until_delivered(gateway, alice, auth0, stripe_api,
                                                                            flash):
    url = _checkout(gateway, auth0.mint(alice.external_id), package="100_credits")

    requests.post(url + "/pay", data={"lose_webhook": "1"}, timeout=30, allow_redirects=False)

    assert not CreditGrant.objects.exists() and not StripeEvent.objects.exists()
    session_id = url.rsplit("/", 1)[-1]
    [completed] = [e for e in stripe_api.events_of("checkout.session.completed")
                   if e["data"]["object"]["id"] == session_id]
    control = requests.post(f"{stripe_api.url}/__standin__/deliver/{completed['id']}", timeout=30)
    assert control.json()["status"] == 200
    assert CreditGrant.objects.get().state == GrantState.APPLIED


def test_a_webhook_signed_with_another_secret_is_refused(gateway, alice, auth0, stripe_api):
    configured, stripe_api.webhook_secret = stripe_api.webhook_secret, "whsec_rotated_elsewhere"
    try:  # the gateway still has the old secret
        url = _checkout(gateway, auth0.mint(alice.external_id), package="100_credits")
        requests.post(url + "/pay", timeout=30, allow_redirects=False)
    finally:
        stripe_api.webhook_secret = configured

    assert {d["status"] for d in stripe_api.deliveries} == {400}
    assert not CreditGrant.objects.exists()
