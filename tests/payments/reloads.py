"""Auto-reload as a signed-in developer sets it up: a card saved on the Stripe
stand-in's setup page, then the settings."""

from __future__ import annotations

from django.test import Client

from standins.stripe import DEFAULT_CARD, Stripe

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
