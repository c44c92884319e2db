"""Stripe's API, the part billing calls: Checkout Sessions and billing-portal
sessions (form-encoded, like Stripe), plus signed webhook events for tests."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

from .base import Recorded, Reply, StandIn, route

PRICES = {
    "STRIPE_PRICE_100_CREDITS": "price_standin_100_credits",
    "STRIPE_PRICE_500_CREDITS": "price_standin_500_credits",
    "STRIPE_PRICE_EXPLORER": "price_standin_explorer",
    "STRIPE_PRICE_HISTORIAN": "price_standin_historian",
    "STRIPE_PRICE_API_PRO": "price_standin_api_pro",
}


def _nested(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (`a[b][0][c]=v`) back into nested dicts and lists."""
    out: dict = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt: Any = value if last else ([] if parts[i + 1].isdigit() else {})
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if node[index] is None or last:
                    node[index] = nxt
                node = node[index]
            else:
                if part not in node or last:
                    node[part] = nxt
                node = node[part]
    return out


class Stripe(StandIn):
    name = "stripe"

    def __init__(self, port: int = 0, secret_key: str = "sk_test_standin0123456789abcdefghijklmn",
                 webhook_secret: str = "whsec_standin_secret") -> None:
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        super().__init__(port)

    def reset_state(self) -> None:
        self.sessions: dict[str, dict] = {}
        self.portal_sessions: list[dict] = []

    def environment(self) -> dict[str, str]:
        return {"STRIPE_SECRET_KEY": self.secret_key, "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
                "STRIPE_API_BASE": self.url, **PRICES}

    def _authorized(self, req: Recorded) -> bool:
        return req.headers.get("authorization") == f"Bearer {self.secret_key}"

    @staticmethod
    def params(req: Recorded) -> dict:
        """The request's parameters, nested as the caller meant them."""
        return _nested(parse_qsl(req.body.decode(), keep_blank_values=True))

    @route("POST", r"/v1/checkout/sessions")
    def create_session(self, req: Recorded) -> Reply:
        if not self._authorized(req):
            return Reply(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}})
        params = self.params(req)
        if params.get("mode") not in ("payment", "subscription") or not params.get("line_items"):
            return Reply(400, {"error": {"type": "invalid_request_error", "message": "mode and line_items required"}})
        session_id = "cs_test_" + secrets.token_hex(12)
        session = {
            "id": session_id, "object": "checkout.session", "mode": params["mode"],
            "url": f"https://checkout.stripe.com/c/pay/{session_id}", "status": "open",
            "payment_status": "unpaid", "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}), "customer": params.get("customer"),
            "customer_email": params.get("customer_email"), "livemode": False,
        }
        with self.lock:
            self.sessions[session_id] = session
        return Reply(200, session)

    @route("POST", r"/v1/billing_portal/sessions")
    def create_portal(self, req: Recorded) -> Reply:
        if not self._authorized(req):
            return Reply(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}})
        params = self.params(req)
        if not params.get("customer"):
            return Reply(400, {"error": {"type": "invalid_request_error", "message": "customer required"}})
        portal = {"id": "bps_" + secrets.token_hex(8), "object": "billing_portal.session",
                  "customer": params["customer"], "return_url": params.get("return_url"),
                  "url": "https://billing.stripe.com/p/session/" + secrets.token_hex(8)}
        with self.lock:
            self.portal_sessions.append(portal)
        return Reply(200, portal)

    # --- webhook events for tests ---------------------------------------------------

    @staticmethod
    def event(type_: str, obj: dict, event_id: str | None = None) -> dict:
        return {"id": event_id or "evt_" + secrets.token_hex(12), "object": "event", "type": type_,
                "api_version": "2025-03-31.basil", "created": int(time.time()), "livemode": False,
                "data": {"object": obj}, "pending_webhooks": 1, "request": {"id": None}}

    def sign(self, payload: str | bytes, timestamp: int | None = None, secret: str | None = None) -> str:
        import stripe

        body = payload.decode() if isinstance(payload, bytes) else payload
        return stripe.WebhookSignature.generate_signature_header(body, secret or self.webhook_secret,
                                                                 timestamp=timestamp)

    def signed(self, event: dict, **kwargs: Any) -> tuple[str, dict[str, str]]:
        """(body, headers) ready to POST to the webhook."""
        body = json.dumps(event)
        return body, {"Stripe-Signature": self.sign(body, **kwargs)}
