"""Auto-reload as a signed-in developer sets it up: a card saved on the Stripe
stand-in's setup page, then the settings; and reloads made by reading the balance."""

from __future__ import annotations

from django.test import Client

from standins import Flash
from standins.stripe import DEFAULT_CARD, Stripe

from .conftest import committed

AUTO_RELOAD = "/api/v1/billing/auto-reload"
PAYMENT_METHOD = "/api/v1/billing/payment-method"


def save_card(client: Client, stripe_api: Stripe, card: str = DEFAULT_CARD) -> dict:
    """A card saved through a setup-mode Checkout, its webhooks delivered; returns the session."""
    response = client.post(PAYMENT_METHOD)
    assert response.status_code == 200, response.content
    return stripe_api.pay(response.json()["session_id"], card=card)


def turn_on(client: Client, **fields: object) -> dict:
    body = {"enabled": True, "threshold": 150, "package": "100_credits", "monthly_limit": 3, **fields}
    response = client.put(AUTO_RELOAD, body, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def paid_then_declined(client: Client, account, flash: Flash, stripe_api: Stripe) -> None:
    """Two reloads of the client's account, the Stripe stand-in's events delivered: one
    paid, then one the card declined (expired), which turned auto-reload off."""
    save_card(client, stripe_api)
    turn_on(client, threshold=50)
    flash.balances[account.flash_user_id] = 10
    with committed():
        client.get("/api/v1/credits/balance")
    stripe_api.deliver_pending()
    with committed():
        client.get("/api/v1/credits/balance")  # 110: the crossing is over
    flash.balances[account.flash_user_id] = 10
    stripe_api.next_payment("decline", decline_code="expired_card")
    with committed():
        client.get("/api/v1/credits/balance")
    stripe_api.deliver_pending()
