"""A small, faithful Stripe: the API billing calls (form-encoded, Bearer secret key),
kept in memory with Stripe's object shapes and ids, its own hosted Checkout page, and
signed webhook deliveries to the gateway as Stripe makes them.

Objects: customers, products, prices, Checkout Sessions (payment, subscription and setup mode),
setup intents, payment methods, payment intents, charges, invoices, subscriptions,
refunds, disputes and events. Lists page as Stripe's do (newest first, `limit`,
`starting_after`/`ending_before`, `has_more`, `created[gte|gt|lte|lt]`,
`expand[]=data.<field>`), so stripe-python's `auto_paging_iter()` walks them unchanged.

Every API POST honours an `Idempotency-Key` as Stripe does: the first answer is kept for
24 hours and replayed for the same key and parameters; other parameters or another
endpoint → 400 `idempotency_error`; a second request while the first runs → 409.

Completing a session (the button of `GET /checkout/<id>`, `pay()`, or
`POST /__standin__/pay/<id>`) creates what Stripe would (customer, payment intent and
charge; for subscriptions the subscription and its first invoice; in setup mode the
payment method and its setup intent) and delivers the events to `webhook_url`, signed
with `webhook_secret`. Every control takes `deliver=False` to "lose" its events: they are
kept (`GET /v1/events`) and can be delivered later with `deliver(event_id)`. Events that
an API request causes (a confirmed payment intent, a refund) are delivered after it, from
a courier thread, as Stripe's arrive on their own; with a `transport` (the gateway in the
test's own thread) they wait for `deliver_pending()`. All data is plain JSON (`state()` /
`load_state()`).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import json
import secrets
import string
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
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

# The catalogue as billing's plans.py sells it: (unit amount in cents, product name, monthly?).
CATALOGUE = {
    "price_standin_100_credits": (999, "100 credits", False),
    "price_standin_500_credits": (3999, "500 credits", False),
    "price_standin_explorer": (499, "Explorer plan", True),
    "price_standin_historian": (1499, "Historian plan", True),
    "price_standin_api_pro": (4999, "API Pro plan", True),
}

# Where each id prefix lives (the collections of `self.objects`).
KINDS = {
    "cus": "customer", "price": "price", "cs": "checkout.session", "pi": "payment_intent", "ch": "charge",
    "in": "invoice", "sub": "subscription", "re": "refund", "dp": "dispute", "evt": "event",
    "seti": "setup_intent", "pm": "payment_method", "prod": "product",
}
LIST_URLS = {
    "checkout.session": "/v1/checkout/sessions", "invoice": "/v1/invoices", "refund": "/v1/refunds",
    "dispute": "/v1/disputes", "charge": "/v1/charges", "payment_intent": "/v1/payment_intents",
    "customer": "/v1/customers", "subscription": "/v1/subscriptions", "event": "/v1/events",
    "setup_intent": "/v1/setup_intents", "payment_method": "/v1/payment_methods", "product": "/v1/products",
}
# The equality filters each list accepts (besides created, limit, cursors and expand).
LIST_FILTERS = {
    "checkout.session": ("status", "customer", "payment_intent", "subscription"),
    "invoice": ("status", "customer"),
    "refund": ("charge", "payment_intent"),
    "dispute": ("charge", "payment_intent"),
    "charge": ("customer", "payment_intent"),
    "payment_intent": ("customer",),
    "customer": ("email",),
    "subscription": ("customer", "status"),
    "event": ("type",),
    "setup_intent": ("customer", "payment_method"),
    "payment_method": ("customer", "type"),
    "product": (),
}
# Stripe's test cards (https://docs.stripe.com/testing): the hosted page offers them.
# `charge`: how a payment made while the buyer is there ends (Checkout, an API confirm);
# `off_session`: how a later off-session payment ends. None succeeds, else the decline code.
TEST_CARDS = {
    "4242424242424242": {"brand": "visa", "charge": None, "off_session": None,
                         "label": "Visa: saved, later payments succeed"},
    "5555555555554444": {"brand": "mastercard", "charge": None, "off_session": None,
                         "label": "Mastercard: saved, later payments succeed"},
    "4000000000000341": {"brand": "visa", "charge": "generic_decline", "off_session": "generic_decline",
                         "label": "Visa: saved, but every payment is declined"},
    "4000002760003184": {"brand": "visa", "charge": None, "off_session": "authentication_required",
                         "label": "Visa: needs authentication, so off-session payments fail"},
}
DEFAULT_CARD = "4242424242424242"
# Each test card has its own last four digits: a payment method finds its card by them.
_CARD_BY_LAST4 = {number[-4:]: spec for number, spec in TEST_CARDS.items()}
# decline_code → (the error's code, its message), as Stripe words them.
DECLINES = {
    "generic_decline": ("card_declined", "Your card was declined."),
    "insufficient_funds": ("card_declined", "Your card has insufficient funds."),
    "lost_card": ("card_declined", "Your card was declined."),
    "stolen_card": ("card_declined", "Your card was declined."),
    "do_not_honor": ("card_declined", "Your card was declined."),
    "expired_card": ("expired_card", "Your card has expired."),
    "authentication_required": ("authentication_required",
                                "Your card was declined. This transaction requires authentication."),
}
IDEMPOTENCY_KEY_LIFETIME = 24 * 3600  # Stripe prunes keys after at least 24 hours
API_VERSION = "2025-03-31.basil"
# Deliveries go straight to the webhook URL, never through a proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(24))}"


def _nested(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (`a[b][0][c]=v`, `expand[]=x`) back into nested dicts and lists."""
    out: dict = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt: Any = value if last else ([] if parts[i + 1] == "" or parts[i + 1].isdigit() else {})
            if isinstance(node, list):
                index = len(node) if part == "" else int(part)
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


def _error(status: int, message: str, code: str = "", param: str = "", type_: str = "invalid_request_error") -> Reply:
    error = {"type": type_, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return Reply(status, {"error": error})


class RequestError(ValueError):
    """A request Stripe refuses, with the status, code and param of its answer."""

    def __init__(self, status: int, message: str, code: str = "", param: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.param = status, code, param

    def reply(self) -> Reply:
        return _error(self.status, str(self), self.code, self.param)


class CardDeclined(RequestError):
    """A confirmation the card's bank declined: Stripe's 402 `card_error`, which carries
    the payment intent (now `requires_payment_method`) and the failed charge."""

    def __init__(self, error: dict, intent: dict) -> None:
        super().__init__(402, error["message"], error["code"])
        self.error, self.intent = error, intent

    def reply(self) -> Reply:
        return Reply(402, {"error": {**self.error, "payment_intent": self.intent}})


def _required(params: dict, name: str) -> Any:
    if params.get(name) in (None, ""):
        raise RequestError(400, f"Missing required param: {name}.", "parameter_missing", name)
    return params[name]


def _integer(params: dict, name: str) -> int:
    value = _required(params, name)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RequestError(400, f"Invalid integer: {value}", "parameter_invalid_integer", name)


def _boolean(params: dict, name: str) -> bool:
    """Stripe's form booleans ("true"/"false"; `off_session` also takes one_off/recurring)."""
    value = params.get(name)
    if value in (None, "", "false"):
        return False
    if value in ("true", "one_off", "recurring"):
        return True
    raise RequestError(400, f"Invalid boolean: {value}", "parameter_invalid", name)


def _missing(kind: str, object_id: str) -> Reply:
    return _error(404, f"No such {kind}: '{object_id}'", "resource_missing", "id")


class Stripe(StandIn):
    name = "stripe"

    def __init__(self, port: int = 0, secret_key: str = "sk_test_standin0123456789abcdefghijklmn",
                 webhook_secret: str = "whsec_standin_secret", webhook_url: str = "") -> None:
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.default_webhook_url = webhook_url
        super().__init__(port)
        # The courier delivers what API requests caused, one event at a time, in order.
        self._courier_wakes = threading.Condition(self.lock)
        self._courier: threading.Thread | None = None
        self._in_flight = 0
        # What the request this thread serves has caused so far (its events, its id).
        self._serving = threading.local()

    def reset_state(self) -> None:
        self.objects: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS.values()}
        self.line_items: dict[str, list[dict]] = {}  # checkout session id → its line items
        self.portal_sessions: list[dict] = []
        self.deliveries: list[dict] = []  # {"event", "type", "status", "error"} per attempt
        for price_id, (amount, product, monthly) in CATALOGUE.items():
            self.add_price(price_id, amount, product, monthly=monthly)
        # Where events go: the gateway's webhook (`make run` points it at 127.0.0.1:8000).
        self.webhook_url = self.default_webhook_url
        # Tests that run the gateway in-process deliver through Django's test client:
        # `transport(body, headers) -> status` replaces the HTTP POST to webhook_url.
        self.transport: Callable[[bytes, dict[str, str]], int] | None = None
        self.undelivered: list[str] = []  # ids of events API requests caused, not yet delivered
        # Idempotency-Key → {"path", "params", "status", "body", "request_id", "created"}.
        self.idempotency: dict[str, dict] = {}
        self._running_keys: set[str] = set()
        # Outcomes that the next API confirmations take whatever the card: see next_payment().
        self.forced_payments: list[dict] = []
        # API POSTs run, then their answer waits until the gate opens (a caller that gives
        # up meanwhile never hears it; its key stays in use until then).
        self.answer_gate: threading.Event | None = None

    @property
    def transport(self) -> Callable[[bytes, dict[str, str]], int] | None:
        return self._transport

    @transport.setter
    def transport(self, value: Callable[[bytes, dict[str, str]], int] | None) -> None:
        self._transport = value
        wakes = getattr(self, "_courier_wakes", None)
        if wakes is not None:  # without a transport again, the courier takes what waits
            with wakes:
                wakes.notify_all()

    # --- state, for persistence across restarts ---------------------------------------

    def state(self) -> dict:
        with self.lock:
            return json.loads(json.dumps({"objects": self.objects, "line_items": self.line_items,
                                          "portal_sessions": self.portal_sessions, "deliveries": self.deliveries,
                                          "idempotency": self.idempotency}))

    def load_state(self, state: dict) -> None:
        with self.lock:
            for name in ("objects", "line_items", "portal_sessions", "deliveries", "idempotency"):
                if name in state:
                    setattr(self, name, copy.deepcopy(state[name]))
            for kind in KINDS.values():  # a state kept before a kind existed
                self.objects.setdefault(kind, {})
            for price in list(self.objects["price"].values()):  # kept before Products were
                if price["product"] not in self.objects["product"]:
                    self._add_product(price["product"], price["nickname"], price["id"])

    def environment(self) -> dict[str, str]:
        return {"STRIPE_SECRET_KEY": self.secret_key, "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
                "STRIPE_API_BASE": self.url, "STRIPE_DASHBOARD_URL": f"{self.url}/dashboard", **PRICES}

    # --- objects --------------------------------------------------------------------

    @property
    def sessions(self) -> dict[str, dict]:
        return self.objects["checkout.session"]

    def now(self) -> int:
        return int(time.time())

    def get(self, object_id: str) -> dict | None:
        """Any object by its id."""
        collection = self.objects.get(KINDS.get(object_id.split("_", 1)[0], ""), {})
        return collection.get(object_id)

    def _store(self, obj: dict) -> dict:
        with self.lock:
            self.objects[obj["object"]][obj["id"]] = obj
        return obj

    def _add_product(self, product_id: str, name: str, default_price: str) -> dict:
        now = self.now()
        return self._store({
            "id": product_id, "object": "product", "active": True, "name": name, "description": None,
            "default_price": default_price, "images": [], "marketing_features": [], "metadata": {},
            "package_dimensions": None, "shippable": None, "statement_descriptor": None, "tax_code": None,
            "unit_label": None, "url": None, "created": now, "updated": now, "livemode": False,
        })

    def add_price(self, price_id: str, unit_amount: int, product: str, *, monthly: bool = False,
                  currency: str = "usd") -> dict:
        """A Price and its Product (`prod_<price id's suffix>`, named `product`): Stripe
        keeps both, and dj-stripe follows a Price to its Product."""
        product_id = "prod_" + price_id.removeprefix("price_")
        self._add_product(product_id, product, price_id)
        return self._store({
            "id": price_id, "object": "price", "active": True, "currency": currency, "unit_amount": unit_amount,
            "product": product_id, "nickname": product, "livemode": False,
            "type": "recurring" if monthly else "one_time",
            "recurring": {"interval": "month", "interval_count": 1} if monthly else None,
            "created": self.now(), "metadata": {},
        })

    def add_customer(self, email: str | None = None, *, customer_id: str | None = None, name: str | None = None,
                     metadata: dict | None = None) -> dict:
        """A customer, as `POST /v1/customers` makes one (`customer_id` to name it, e.g. a
        test's `cus_alice`); no event."""
        return self._store({"id": customer_id or new_id("cus"), "object": "customer", "email": email, "name": name,
                            "created": self.now(), "livemode": False, "metadata": dict(metadata or {}),
                            "invoice_settings": {"default_payment_method": None}})

    def _payment_method(self, card: str, customer: str | None, email: str | None) -> dict:
        """A card payment method (test card number `card`), attached to `customer` if any."""
        spec, year = TEST_CARDS[card], time.gmtime().tm_year + 3
        return self._store({
            "id": new_id("pm"), "object": "payment_method", "type": "card", "customer": customer,
            "created": self.now(), "livemode": False, "metadata": {}, "allow_redisplay": "always",
            "billing_details": {"email": email, "name": None, "phone": None, "address": {
                "city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}},
            "card": {"brand": spec["brand"], "display_brand": spec["brand"], "last4": card[-4:], "exp_month": 12,
                     "exp_year": year, "funding": "credit", "country": "US", "wallet": None,
                     "fingerprint": hashlib.sha256(card.encode()).hexdigest()[:16],
                     "checks": {"cvc_check": "pass", "address_line1_check": None, "address_postal_code_check": None},
                     "networks": {"available": [spec["brand"]], "preferred": None},
                     "three_d_secure_usage": {"supported": True}},
        })

    def _intent(self, amount: int, currency: str, customer: str | None, metadata: dict, description: str = "",
                payment_method: str | None = None) -> dict:
        intent_id = new_id("pi")
        return self._store({
            "id": intent_id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
            "amount_received": 0, "currency": currency, "customer": customer,
            "status": "requires_confirmation" if payment_method else "requires_payment_method",
            "latest_charge": None, "payment_method": payment_method, "payment_method_types": ["card"],
            "capture_method": "automatic", "confirmation_method": "automatic",
            "client_secret": f"{intent_id}_secret_{secrets.token_urlsafe(18)}", "last_payment_error": None,
            "next_action": None, "setup_future_usage": None, "canceled_at": None, "cancellation_reason": None,
            "metadata": dict(metadata), "created": self.now(), "livemode": False, "description": description or None,
        })

    def _charge(self, intent: dict, payment_method: dict | None = None, decline: str | None = None) -> dict:
        """One attempt to pay an intent: a succeeded charge, or a failed one when `decline`
        (a decline code) says the bank refused; the intent follows."""
        card = (payment_method or {}).get("card") or {"brand": "visa", "last4": "4242"}
        code, message = DECLINES[decline] if decline else (None, None)
        amount = intent["amount"]
        charge = self._store({
            "id": new_id("ch"), "object": "charge", "amount": amount, "amount_captured": 0 if decline else amount,
            "amount_refunded": 0, "currency": intent["currency"], "customer": intent["customer"],
            "payment_intent": intent["id"], "paid": not decline, "captured": not decline, "refunded": False,
            "disputed": False, "status": "failed" if decline else "succeeded", "created": self.now(),
            "livemode": False, "metadata": dict(intent["metadata"]), "description": intent["description"],
            "payment_method": payment_method["id"] if payment_method else None,
            "payment_method_details": {"type": "card", "card": {"brand": card["brand"], "last4": card["last4"]}},
            "failure_code": code, "failure_message": message,
            "outcome": ({"network_status": "declined_by_network", "reason": decline, "risk_level": "normal",
                         "seller_message": "The bank did not return any further details with this decline.",
                         "type": "issuer_declined"} if decline else
                        {"network_status": "approved_by_network", "reason": None, "risk_level": "normal",
                         "seller_message": "Payment complete.", "type": "authorized"}),
        })
        with self.lock:
            if decline:
                intent.update(status="requires_payment_method", payment_method=None, latest_charge=charge["id"],
                              last_payment_error={
                                  "type": "card_error", "code": code, "decline_code": decline, "message": message,
                                  "charge": charge["id"],
                                  "doc_url": f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}",
                                  "payment_method": self._public(payment_method) if payment_method else None})
            else:
                intent.update(status="succeeded", amount_received=amount, latest_charge=charge["id"],
                              payment_method=payment_method["id"] if payment_method else None,
                              last_payment_error=None)
        return charge

    def _payment(self, amount: int, currency: str, customer: str | None, metadata: dict,
                 description: str = "", payment_method: dict | None = None) -> tuple[dict, dict]:
        """A succeeded payment intent and its charge (Checkout and invoices pay through here)."""
        intent = self._intent(amount, currency, customer, metadata, description)
        return intent, self._charge(intent, payment_method)

    def _invoice(self, subscription: dict, billing_reason: str) -> dict:
        """A paid invoice for one period of the subscription, as the basil API shapes it."""
        now = self.now()
        invoice_id = new_id("in")
        lines = []
        for item in subscription["items"]["data"]:
            price = item["price"]
            lines.append({
                "id": new_id("il"), "object": "line_item", "amount": price["unit_amount"] * item["quantity"],
                "currency": price["currency"], "description": f"{item['quantity']} × {price['nickname']}",
                "quantity": item["quantity"], "metadata": dict(subscription["metadata"]),
                "pricing": {"type": "price_details", "unit_amount_decimal": str(price["unit_amount"]),
                            "price_details": {"price": price["id"], "product": price["product"]}},
                "parent": {"type": "subscription_item_details", "subscription_item_details": {
                    "subscription": subscription["id"], "subscription_item": item["id"]}},
                "period": {"start": now, "end": now + 30 * 86400},
            })
        total = sum(line["amount"] for line in lines)
        currency = lines[0]["currency"] if lines else "usd"
        intent, _charge = self._payment(total, currency, subscription["customer"], {}, "Subscription " + billing_reason)
        invoice = self._store({
            "id": invoice_id, "object": "invoice", "customer": subscription["customer"], "status": "paid",
            "billing_reason": billing_reason, "currency": currency, "subtotal": total, "total": total,
            "amount_due": total, "amount_paid": total, "amount_remaining": 0, "created": now, "livemode": False,
            "metadata": {}, "period_start": now, "period_end": now + 30 * 86400,
            "status_transitions": {"finalized_at": now, "paid_at": now},
            "parent": {"type": "subscription_details", "subscription_details": {
                "subscription": subscription["id"], "metadata": dict(subscription["metadata"])}},
            "lines": {"object": "list", "data": lines, "has_more": False, "url": f"/v1/invoices/{invoice_id}/lines"},
            "payments": {"object": "list", "has_more": False, "data": [{
                "object": "invoice_payment", "status": "paid", "amount_paid": total,
                "payment": {"type": "payment_intent", "payment_intent": intent["id"]}}]},
        })
        with self.lock:
            subscription["latest_invoice"] = invoice_id
        return invoice

    # --- Checkout -------------------------------------------------------------------

    def create_session(self, params: dict) -> dict:
        """A Checkout Session from the API's parameters (raises ValueError as Stripe's 400)."""
        mode = params.get("mode")
        if not hasattr(self, f"_complete_{mode}"):
            raise RequestError(400, "mode must be one of payment, setup, subscription", "parameter_invalid", "mode")
        if mode == "setup":
            return self._create_setup_session(params)
        items = params.get("line_items") or []
        if not items:
            raise ValueError("line_items is required")
        line_items = []
        for item in items:
            price = self.objects["price"].get(str((item or {}).get("price")))
            if price is None:
                raise LookupError(f"No such price: '{(item or {}).get('price')}'")
            if (price["type"] == "recurring") != (mode == "subscription"):
                raise ValueError(f"price {price['id']} is {price['type']}: it cannot be used in {mode} mode")
            quantity = int(item.get("quantity") or 1)
            amount = price["unit_amount"] * quantity
            line_items.append({"id": new_id("li"), "object": "item", "amount_subtotal": amount, "amount_total": amount,
                               "amount_discount": 0, "amount_tax": 0, "currency": price["currency"],
                               "description": price["nickname"], "price": dict(price), "quantity": quantity})
        session_id = new_id("cs_test")
        total = sum(line["amount_total"] for line in line_items)
        now = self.now()
        session = {
            "id": session_id, "object": "checkout.session", "mode": mode, "status": "open",
            "payment_status": "unpaid", "url": f"{self.url}/checkout/{session_id}",
            "amount_subtotal": total, "amount_total": total, "currency": line_items[0]["currency"],
            "client_reference_id": params.get("client_reference_id"), "metadata": params.get("metadata") or {},
            "customer": params.get("customer"), "customer_email": params.get("customer_email"),
            "customer_creation": params.get("customer_creation"), "customer_details": None,
            "payment_intent": None, "subscription": None, "invoice": None, "setup_intent": None,
            "success_url": params.get("success_url"), "cancel_url": params.get("cancel_url"),
            "payment_intent_data": params.get("payment_intent_data") or {},  # kept for completion; see _public
            "subscription_data": params.get("subscription_data") or {},
            "created": now, "expires_at": now + 86400, "livemode": False, "payment_method_types": ["card"],
        }
        with self.lock:
            self.line_items[session_id] = line_items
            self._store(session)
        return session

    def _create_setup_session(self, params: dict) -> dict:
        """A session that saves a card for later off-session payments (`mode=setup`)."""
        if params.get("line_items"):
            raise RequestError(400, "You cannot pass `line_items` in `setup` mode.", "parameter_invalid",
                               "line_items")
        types = params.get("payment_method_types")
        if types is not None and (not isinstance(types, list) or set(types) != {"card"}):
            raise RequestError(400, "The stand-in saves cards only: payment_method_types must be [\"card\"]",
                               "parameter_invalid", "payment_method_types")
        currency = params.get("currency")
        if not currency and types is None:
            raise RequestError(400, "currency is required in setup mode when payment_method_types is not given.",
                               "parameter_missing", "currency")
        customer = params.get("customer") or None
        if customer and customer not in self.objects["customer"]:
            raise RequestError(400, f"No such customer: '{customer}'", "resource_missing", "customer")
        if params.get("customer_creation") not in (None, "always", "if_required"):
            raise RequestError(400, "customer_creation must be one of always, if_required", "parameter_invalid",
                               "customer_creation")
        session_id, now = new_id("cs_test"), self.now()
        # Since API version 2022-08-01 the setup intent is made when the session completes.
        return self._store({
            "id": session_id, "object": "checkout.session", "mode": "setup", "status": "open",
            "payment_status": "no_payment_required", "url": f"{self.url}/checkout/{session_id}",
            "amount_subtotal": None, "amount_total": None, "currency": currency.lower() if currency else None,
            "client_reference_id": params.get("client_reference_id"), "metadata": params.get("metadata") or {},
            "customer": customer, "customer_email": params.get("customer_email"),
            "customer_creation": params.get("customer_creation"), "customer_details": None,
            "payment_intent": None, "subscription": None, "invoice": None, "setup_intent": None,
            "success_url": params.get("success_url"), "cancel_url": params.get("cancel_url"),
            "setup_intent_data": params.get("setup_intent_data") or {},  # kept for completion; see _public
            "created": now, "expires_at": now + 86400, "livemode": False, "payment_method_types": ["card"],
        })

    def pay(self, session_id: str, deliver: bool = True, card: str = DEFAULT_CARD) -> dict:
        """Complete a session as the buyer's button would, with one of TEST_CARDS (a card
        that declines leaves a payment session open, as Checkout shows the decline);
        `deliver=False` loses its webhooks."""
        if card not in TEST_CARDS:
            raise ValueError(f"card must be one of the test cards {', '.join(TEST_CARDS)}")
        with self.lock:
            session = self.sessions.get(session_id)
            if session is None:
                raise LookupError(f"No such checkout.session: '{session_id}'")
            if session["status"] != "open":
                raise ValueError(f"checkout session {session_id} is {session['status']}")
            decline = TEST_CARDS[card]["charge"]
            if session["mode"] != "setup" and decline:
                raise RequestError(402, DECLINES[decline][1], DECLINES[decline][0])
            session["status"] = "complete"  # taken: a second click cannot pay twice
        email, events = session["customer_email"], []
        if session["customer"] is None and (session["mode"] == "subscription"
                                            or session["customer_creation"] == "always"):
            customer = self.add_customer(email)
            session["customer"] = customer["id"]
            events.append(self._emit("customer.created", customer))
        session.update(customer_details={"email": email},
                       payment_status="no_payment_required" if session["mode"] == "setup" else "paid")
        events += getattr(self, f"_complete_{session['mode']}")(session, card)
        events.append(self._emit("checkout.session.completed", session))
        if deliver:
            for event in events:
                self.deliver(event["id"])
        return session

    def _complete_payment(self, session: dict, card: str) -> list[dict]:
        metadata = (session["payment_intent_data"] or {}).get("metadata") or {}
        method = self._payment_method(card, None, session["customer_email"])
        intent, charge = self._payment(session["amount_total"], session["currency"], session["customer"], metadata,
                                       payment_method=method)
        session["payment_intent"] = intent["id"]
        return [self._emit("charge.succeeded", charge), self._emit("payment_intent.succeeded", intent)]

    def _complete_setup(self, session: dict, card: str) -> list[dict]:
        customer, data = session["customer"], session["setup_intent_data"] or {}
        method = self._payment_method(card, customer, session["customer_email"])
        intent_id = new_id("seti")
        intent = self._store({
            "id": intent_id, "object": "setup_intent", "status": "succeeded", "customer": customer,
            "payment_method": method["id"], "usage": "off_session", "payment_method_types": ["card"],
            "metadata": dict(data.get("metadata") or {}), "description": data.get("description"),
            "client_secret": f"{intent_id}_secret_{secrets.token_urlsafe(18)}", "created": self.now(),
            "livemode": False, "last_setup_error": None, "next_action": None, "cancellation_reason": None,
            "mandate": None, "single_use_mandate": None, "application": None, "on_behalf_of": None,
            "automatic_payment_methods": None, "flow_directions": None, "latest_attempt": None,
            "payment_method_options": {"card": {"mandate_options": None, "network": None,
                                                "request_three_d_secure": "automatic"}},
        })
        session["setup_intent"] = intent_id
        events = [self._emit("setup_intent.created", {**intent, "status": "requires_payment_method",
                                                      "payment_method": None})]
        if customer:
            events.append(self._emit("payment_method.attached", method))
        return events + [self._emit("setup_intent.succeeded", intent)]

    def _complete_subscription(self, session: dict, card: str) -> list[dict]:
        now, subscription_id = self.now(), new_id("sub")
        subscription = self._store({
            "id": subscription_id, "object": "subscription", "customer": session["customer"], "status": "active",
            "metadata": dict((session["subscription_data"] or {}).get("metadata") or {}), "created": now,
            "livemode": False, "latest_invoice": None, "cancel_at_period_end": False,
            "items": {"object": "list", "has_more": False, "data": [
                {"id": new_id("si"), "object": "subscription_item", "subscription": subscription_id,
                 "price": dict(line["price"]), "quantity": line["quantity"], "created": now, "metadata": {},
                 "tax_rates": [], "current_period_start": now, "current_period_end": now + 30 * 86400}
                for line in self.line_items[session["id"]]]},
        })
        invoice = self._invoice(subscription, "subscription_create")
        session.update(subscription=subscription["id"], invoice=invoice["id"])
        return [self._emit("customer.subscription.created", subscription), self._emit("invoice.paid", invoice)]

    def renew(self, subscription_id: str, deliver: bool = True) -> dict:
        """The next period's paid invoice of an active subscription."""
        subscription = self.objects["subscription"].get(subscription_id)
        if subscription is None:
            raise LookupError(f"No such subscription: '{subscription_id}'")
        invoice = self._invoice(subscription, "subscription_cycle")
        event = self._emit("invoice.paid", invoice)
        if deliver:
            self.deliver(event["id"])
        return invoice

    def cancel_subscription(self, subscription_id: str, deliver: bool = True) -> dict:
        """Cancel a subscription at once, as the billing portal's *Cancel plan* does:
        `customer.subscription.deleted`."""
        subscription = self.objects["subscription"].get(subscription_id)
        if subscription is None:
            raise LookupError(f"No such subscription: '{subscription_id}'")
        with self.lock:
            subscription.update(status="canceled", canceled_at=self.now(), ended_at=self.now())
        event = self._emit("customer.subscription.deleted", subscription)
        if deliver:
            self.deliver(event["id"])
        return subscription

    # --- payment intents: payments made by the API, off-session with a saved card ---------

    def _create_payment_intent(self, params: dict) -> dict:
        """`POST /v1/payment_intents`: with `confirm=true` the card is charged at once
        (raises CardDeclined when the bank declines; the intent and its failed charge stay)."""
        amount = _integer(params, "amount")
        currency = str(_required(params, "currency")).lower()
        if amount < 1 or (currency == "usd" and amount < 50):
            raise RequestError(400, f"Amount must be at least $0.50 {currency}", "amount_too_small", "amount")
        metadata = params.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise RequestError(400, "Invalid object", "parameter_invalid", "metadata")
        customer = params.get("customer") or None
        if customer and customer not in self.objects["customer"]:
            raise RequestError(400, f"No such customer: '{customer}'", "resource_missing", "customer")
        method = None
        if params.get("payment_method"):
            method = self.objects["payment_method"].get(params["payment_method"])
            if method is None:
                raise RequestError(400, f"No such PaymentMethod: '{params['payment_method']}'", "resource_missing",
                                   "payment_method")
            if method["customer"] and method["customer"] != customer:
                raise RequestError(400, f"The provided PaymentMethod belongs to the customer '{method['customer']}'"
                                        f": pass customer={method['customer']} to use it.", "parameter_invalid",
                                   "payment_method")
        confirm, off_session = _boolean(params, "confirm"), _boolean(params, "off_session")
        if off_session and not confirm:
            raise RequestError(400, "off_session can only be used when confirm=true.", "parameter_invalid",
                               "off_session")
        if confirm and method is None:
            raise RequestError(400, "You cannot confirm this PaymentIntent because it's missing a payment method.",
                               "parameter_missing", "payment_method")
        intent = self._intent(amount, currency, customer, metadata, params.get("description") or "",
                              method["id"] if method else None)
        self._emit("payment_intent.created", intent)
        if confirm:
            self._confirm(intent, method, off_session)
        return intent

    def _confirm(self, intent: dict, method: dict, off_session: bool) -> None:
        """Charge the intent's card: a forced outcome first (next_payment), else what the
        test card does (an on-session confirmation never asks for authentication here)."""
        forced = self._take_forced_payment()
        if forced is not None:
            decline = forced["decline_code"] if forced["outcome"] == "decline" else None
        else:
            spec = _CARD_BY_LAST4.get(method["card"]["last4"], TEST_CARDS[DEFAULT_CARD])
            decline = spec["off_session" if off_session else "charge"]
        charge = self._charge(intent, method, decline)
        if decline is None:
            self._emit("charge.succeeded", charge)
            self._emit("payment_intent.succeeded", intent)
            return
        self._emit("charge.failed", charge)
        self._emit("payment_intent.payment_failed", intent)
        raise CardDeclined(intent["last_payment_error"], self._public(intent))

    def next_payment(self, outcome: str, *, decline_code: str = "generic_decline", times: int | None = 1) -> dict:
        """The next `times` payment intents confirmed through the API ("succeed" or
        "decline" with `decline_code`) end so, whatever their card; None: until reset."""
        if outcome not in ("succeed", "decline"):
            raise ValueError("outcome must be succeed or decline")
        if outcome == "decline" and decline_code not in DECLINES:
            raise ValueError(f"decline_code must be one of {', '.join(DECLINES)}")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive integer or null")
        forced = {"outcome": outcome, "decline_code": decline_code if outcome == "decline" else None, "times": times}
        with self.lock:
            self.forced_payments.append(forced)
            return {"forced_payments": copy.deepcopy(self.forced_payments)}

    def _take_forced_payment(self) -> dict | None:
        with self.lock:
            if not self.forced_payments:
                return None
            forced = self.forced_payments[0]
            if forced["times"] is not None:
                forced["times"] -= 1
                if forced["times"] <= 0:
                    self.forced_payments.pop(0)
            return forced

    def detach(self, payment_method_id: str) -> dict:
        """`POST /v1/payment_methods/{id}/detach`: the card is no longer the customer's."""
        with self.lock:
            method = self.objects["payment_method"].get(payment_method_id)
            if method is None:
                raise LookupError(f"No such PaymentMethod: '{payment_method_id}'")
            if method["customer"] is None:
                raise RequestError(400, f"The payment method {payment_method_id} is not attached to a customer.",
                                   "payment_method_unexpected_state")
            method["customer"] = None
        self._emit("payment_method.detached", method)
        return method

    # --- refunds and disputes ----------------------------------------------------------

    def _charge_of(self, charge: str | None = None, payment_intent: str | None = None) -> dict:
        if not charge and payment_intent:
            charge = (self.objects["payment_intent"].get(payment_intent) or {}).get("latest_charge")
        found = self.objects["charge"].get(charge or "")
        if found is None:
            raise LookupError(f"No such charge: '{charge or payment_intent}'")
        return found

    def refund(self, charge: str | None = None, *, payment_intent: str | None = None, amount: int | None = None,
               reason: str | None = None, deliver: bool = True) -> dict:
        """Refund all or part of a charge; Stripe's `charge.refunded` carries the charge."""
        with self.lock:
            paid = self._charge_of(charge, payment_intent)
            left = paid["amount_captured"] - paid["amount_refunded"]  # nothing on a failed charge
            amount = left if amount is None else int(amount)
            if not 0 < amount <= left:
                raise ValueError(f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})")
            paid["amount_refunded"] += amount
            paid["refunded"] = paid["amount_refunded"] == paid["amount"]
        refund = self._store({
            "id": new_id("re"), "object": "refund", "amount": amount, "charge": paid["id"],
            "payment_intent": paid["payment_intent"], "currency": paid["currency"], "status": "succeeded",
            "reason": reason, "created": self.now(), "metadata": {},
        })
        events = [self._emit("refund.created", refund), self._emit("charge.refunded", paid)]
        if deliver:
            for event in events:
                self.deliver(event["id"])
        return refund

    def dispute(self, charge: str | None = None, *, payment_intent: str | None = None, amount: int | None = None,
                reason: str = "fraudulent", deliver: bool = True) -> dict:
        """The buyer's bank disputes a charge (`charge.dispute.created`)."""
        with self.lock:
            paid = self._charge_of(charge, payment_intent)
            paid["disputed"] = True
        now = self.now()
        dispute = self._store({
            "id": new_id("dp"), "object": "dispute", "amount": paid["amount"] if amount is None else int(amount),
            "charge": paid["id"], "payment_intent": paid["payment_intent"], "currency": paid["currency"],
            "reason": reason, "status": "needs_response", "is_charge_refundable": False, "created": now,
            "livemode": False, "metadata": {}, "evidence_details": {"due_by": now + 7 * 86400, "submission_count": 0},
            # Stripe always sends this list (zero to two entries); the stand-in keeps no balance.
            "balance_transactions": [],
        })
        event = self._emit("charge.dispute.created", dispute)
        if deliver:
            self.deliver(event["id"])
        return dispute

    def close_dispute(self, dispute_id: str, status: str = "won", deliver: bool = True) -> dict:
        """The bank decides (`charge.dispute.closed` with status won or lost)."""
        if status not in ("won", "lost"):
            raise ValueError("status must be won or lost")
        with self.lock:
            dispute = self.objects["dispute"].get(dispute_id)
            if dispute is None:
                raise LookupError(f"No such dispute: '{dispute_id}'")
            dispute["status"] = status
        event = self._emit("charge.dispute.closed", dispute)
        if deliver:
            self.deliver(event["id"])
        return dispute

    # --- events and their delivery -------------------------------------------------------

    @staticmethod
    def event(type_: str, obj: dict, event_id: str | None = None) -> dict:
        return {"id": event_id or new_id("evt"), "object": "event", "type": type_, "api_version": API_VERSION,
                "created": int(time.time()), "livemode": False, "data": {"object": obj}, "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None}}

    def _emit(self, type_: str, obj: dict) -> dict:
        """Record an event carrying a snapshot of the object, as Stripe does; one an API
        request causes names the request and is delivered after it (see _serve)."""
        event = self.event(type_, self._public(obj))
        event["created"] = self.now()
        event["pending_webhooks"] = 1 if (self.webhook_url or self.transport) else 0
        caused = getattr(self._serving, "events", None)
        if caused is not None:
            event["request"] = dict(self._serving.request)
            caused.append(event["id"])
        return self._store(event)

    def _send_later(self, event_ids: list[str]) -> None:
        """Queue events an API request caused: the courier delivers them, unless a
        transport runs the gateway in the test's thread (deliver_pending() does then)."""
        with self._courier_wakes:
            self.undelivered.extend(event_ids)
            if self._courier is None:
                self._courier = threading.Thread(target=self._run_courier, name="standin-stripe-courier",
                                                 daemon=True)
                self._courier.start()
            self._courier_wakes.notify_all()

    def _run_courier(self) -> None:
        while True:
            with self._courier_wakes:
                self._courier_wakes.wait_for(lambda: self.undelivered and self.transport is None)
                event_id = self.undelivered.pop(0)
                self._in_flight += 1
            try:
                self.deliver(event_id)
            except LookupError:  # reset meanwhile
                pass
            finally:
                with self._courier_wakes:
                    self._in_flight -= 1
                    self._courier_wakes.notify_all()

    def pending(self) -> list[dict]:
        """The events API requests caused that are not delivered yet, oldest first."""
        with self.lock:
            return [self.objects["event"][i] for i in self.undelivered if i in self.objects["event"]]

    def deliver_pending(self, timeout: float = 10.0) -> None:
        """Return once every event API requests caused so far is delivered (`deliveries`
        has their attempts): delivered in this thread with a transport, else by the
        courier (TimeoutError after `timeout` seconds)."""
        if self.transport is not None:
            while True:
                with self.lock:
                    if not self.undelivered:
                        break
                    event_id = self.undelivered.pop(0)
                self.deliver(event_id)
        else:
            with self._courier_wakes:
                if not self._courier_wakes.wait_for(lambda: not self.undelivered and not self._in_flight, timeout):
                    raise TimeoutError(f"{len(self.undelivered)} events still undelivered after {timeout} s")

    def events_of(self, type_: str | None = None) -> list[dict]:
        with self.lock:
            return [e for e in self.objects["event"].values() if type_ in (None, e["type"])]

    def deliver(self, event_id: str) -> int | None:
        """POST one stored event to the webhook, signed now; returns the answer's status
        (None when nothing answered or no webhook is configured)."""
        event = self.objects["event"].get(event_id)
        if event is None:
            raise LookupError(f"No such event: '{event_id}'")
        body = json.dumps(event)
        headers = {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": self.sign(body),
                   "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}
        status, error = None, ""
        try:
            if self.transport is not None:
                status = self.transport(body.encode(), headers)
            elif self.webhook_url:
                request = urllib.request.Request(self.webhook_url, data=body.encode(), headers=headers, method="POST")
                try:
                    with _DIRECT.open(request, timeout=30) as answer:
                        status = answer.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
            else:
                error = "no webhook URL configured"
        except OSError as exc:
            error = str(exc)
        with self.lock:
            self.deliveries.append({"event": event_id, "type": event["type"], "status": status, "error": error})
            if status is not None and 200 <= status < 300:
                event["pending_webhooks"] = 0
        return status

    def sign(self, payload: str | bytes, timestamp: int | None = None, secret: str | None = None) -> str:
        import stripe

        body = payload.decode() if isinstance(payload, bytes) else payload
        return stripe.WebhookSignature.generate_signature_header(body, secret or self.webhook_secret,
                                                                 timestamp=timestamp)

    def signed(self, event: dict, **kwargs: Any) -> tuple[str, dict[str, str]]:
        """(body, headers) ready to POST to the webhook."""
        body = json.dumps(event)
        return body, {"Stripe-Signature": self.sign(body, **kwargs)}

    # --- the API ----------------------------------------------------------------------

    def _authorized(self, req: Recorded) -> bool:
        """The secret key as a Bearer token (stripe-python) or as the Basic user name
        (`curl -u sk_test_…:`, as Stripe's documentation calls it)."""
        basic = base64.b64encode(f"{self.secret_key}:".encode()).decode()
        return req.headers.get("authorization") in (f"Bearer {self.secret_key}", f"Basic {basic}")

    @staticmethod
    def params(req: Recorded) -> dict:
        """The request's parameters, nested as the caller meant them."""
        return _nested(parse_qsl(req.body.decode(), keep_blank_values=True))

    @staticmethod
    def query(req: Recorded) -> dict:
        return _nested(parse_qsl(req.raw_query, keep_blank_values=True))

    def dispatch(self, req: Recorded) -> Reply:
        if not req.path.startswith("/v1/"):
            return super().dispatch(req)  # the hosted pages
        if not self._authorized(req):
            return _error(401, "Invalid API Key provided")
        request_id = "req_" + secrets.token_hex(7)
        key = req.headers.get("idempotency-key") if req.method == "POST" else None  # GETs ignore it, as Stripe's
        reply = self._serve(req, request_id) if key is None else self._idempotent(req, request_id, key)
        reply.headers.setdefault("Request-Id", request_id)
        return reply

    def _serve(self, req: Recorded, request_id: str, key: str | None = None) -> Reply:
        """Run one API request; the events it causes are delivered after it."""
        self._serving.request, self._serving.events = {"id": request_id, "idempotency_key": key}, []
        try:
            reply = super().dispatch(req)
        finally:
            caused, self._serving.events = self._serving.events, None
        expand = self.params(req).get("expand") if req.method == "POST" else None
        if expand and reply.status == 200 and isinstance(reply.body, dict) and self.get(str(reply.body.get("id"))):
            reply.body = self._expanded(self.get(reply.body["id"]), expand)
        if caused:
            self._send_later(caused)
        if req.method == "POST" and self.answer_gate is not None:
            self.answer_gate.wait(30)
        return reply

    def _idempotent(self, req: Recorded, request_id: str, key: str) -> Reply:
        """Stripe's idempotency: the first answer under a key (once the endpoint ran) is
        kept and replayed; a key is for one endpoint and one set of parameters; a second
        request while the first runs is refused (409, nothing kept), as Stripe does."""
        if len(key) > 255:
            return _error(400, "Idempotency keys are at most 255 characters long.", param="Idempotency-Key")
        params, now = self.params(req), self.now()
        with self.lock:
            for stale in [k for k, kept in self.idempotency.items()
                          if kept["created"] <= now - IDEMPOTENCY_KEY_LIFETIME]:
                del self.idempotency[stale]
            kept = self.idempotency.get(key)
            if kept is None:
                if key in self._running_keys:
                    return _error(409, "There is currently another in-progress request using this Idempotent Key "
                                       "(that probably means you submitted twice, and the other request is still "
                                       f"going through): {key}. Please try again later.", "idempotency_key_in_use")
                self._running_keys.add(key)
        if kept is not None:
            return self._replay(req, key, kept, params)
        reply = None
        try:
            reply = self._serve(req, request_id, key)
        finally:
            with self.lock:
                self._running_keys.discard(key)
                # Parameter errors are answered before the endpoint runs: nothing is kept,
                # a corrected retry runs. A 402 decline and a 5xx ran: they are kept.
                if reply is not None and isinstance(reply.body, dict) and (
                        reply.status < 400 or reply.status == 402 or reply.status >= 500):
                    self.idempotency[key] = {"path": req.path, "params": params, "status": reply.status,
                                             "body": json.loads(json.dumps(reply.body)), "request_id": request_id,
                                             "created": now}
        reply.headers["Idempotency-Key"] = key
        return reply

    @staticmethod
    def _replay(req: Recorded, key: str, kept: dict, params: dict) -> Reply:
        other = f"Try using a key other than '{key}' if you meant to execute a different request."
        if kept["path"] != req.path:
            return _error(400, "Keys for idempotent requests can only be used for the same endpoint they were first "
                               f"used for ('{kept['path']}' vs '{req.path}'). {other}", type_="idempotency_error")
        if kept["params"] != params:
            return _error(400, "Keys for idempotent requests can only be used with the same parameters they were "
                               f"first used with. {other}", type_="idempotency_error")
        return Reply(kept["status"], copy.deepcopy(kept["body"]),
                     {"Idempotency-Key": key, "Idempotent-Replayed": "true", "Original-Request": kept["request_id"]})

    @staticmethod
    def _public(obj: dict) -> dict:
        """What Stripe shows of an object (the session keeps its creation parameters
        for its completion, which Stripe does not echo)."""
        shown = copy.deepcopy(obj)
        if shown.get("object") == "checkout.session":
            shown.pop("payment_intent_data", None)
            shown.pop("subscription_data", None)
            shown.pop("setup_intent_data", None)
        return shown

    def _expanded(self, obj: dict, paths: list[str]) -> dict:
        """The object with `paths` expanded (`payment_intent`, `setup_intent.payment_method`, …)."""
        shown = self._public(obj)
        for path in paths:
            self._expand(shown, str(path).split("."))
        return shown

    def _expand(self, shown: dict, path: list[str]) -> None:
        field, rest = path[0], path[1:]
        if field == "line_items" and shown.get("object") == "checkout.session" and "line_items" not in shown:
            shown["line_items"] = self._list_of(self.line_items.get(shown["id"], []),
                                                f"/v1/checkout/sessions/{shown['id']}/line_items")
        elif isinstance(shown.get(field), str) and self.get(shown[field]) is not None:
            shown[field] = self._public(self.get(shown[field]))
        if rest and isinstance(shown.get(field), dict):
            self._expand(shown[field], rest)

    @staticmethod
    def _list_of(data: list[dict], url: str, has_more: bool = False) -> dict:
        return {"object": "list", "data": data, "has_more": has_more, "url": url}

    def _retrieve(self, req: Recorded, kind: str, object_id: str) -> Reply:
        obj = self.objects[kind].get(object_id)
        if obj is None:
            return _missing(kind, object_id)
        return Reply(200, self._expanded(obj, self.query(req).get("expand") or []))

    def _list(self, req: Recorded, kind: str, url: str = "", **where: str) -> Reply:
        query = {**self.query(req), **where}
        try:
            limit = max(1, min(100, int(query.get("limit") or 10)))
            created = query.get("created")
            bounds = created if isinstance(created, dict) else ({"eq": created} if created else {})
            bounds = {op: int(value) for op, value in bounds.items()}
        except (TypeError, ValueError):
            return _error(400, "Invalid integer", param="limit")
        tests = {"gte": int.__ge__, "gt": int.__gt__, "lte": int.__le__, "lt": int.__lt__, "eq": int.__eq__}
        with self.lock:
            # Newest first; among equal times the later-made first, as Stripe orders them.
            items = sorted(reversed(list(self.objects[kind].values())), key=lambda o: -o["created"])
        items = [o for o in items if all(tests[op](o["created"], value) for op, value in bounds.items() if op in tests)
                 and all(o.get(name) == query[name] for name in LIST_FILTERS[kind] if name in query)]
        ids = [o["id"] for o in items]
        if query.get("starting_after"):
            if query["starting_after"] not in ids:
                return _missing(kind, query["starting_after"])
            start = ids.index(query["starting_after"]) + 1
            page, has_more = items[start:start + limit], start + limit < len(items)
        elif query.get("ending_before"):
            if query["ending_before"] not in ids:
                return _missing(kind, query["ending_before"])
            end = ids.index(query["ending_before"])
            page, has_more = items[max(0, end - limit):end], end - limit > 0
        else:
            page, has_more = items[:limit], len(items) > limit
        expand = [p.removeprefix("data.") for p in query.get("expand") or [] if p.startswith("data.")]
        return Reply(200, self._list_of([self._expanded(o, expand) for o in page], url or LIST_URLS[kind], has_more))

    @route("POST", r"/v1/checkout/sessions")
    def create_checkout_session(self, req: Recorded) -> Reply:
        try:
            return Reply(200, self._public(self.create_session(self.params(req))))
        except RequestError as exc:
            return exc.reply()
        except LookupError as exc:
            return _error(400, str(exc), "resource_missing", "line_items[0][price]")
        except ValueError as exc:
            return _error(400, str(exc))

    @route("GET", r"/v1/checkout/sessions/(?P<object_id>[^/]+)/line_items")
    def session_line_items(self, req: Recorded, object_id: str) -> Reply:
        if object_id not in self.sessions:
            return _missing("checkout.session", object_id)
        return Reply(200, self._list_of(self.line_items.get(object_id, []), req.path))

    @route("GET", r"/v1/(?P<collection>checkout/sessions|invoices|refunds|disputes|charges|payment_intents"
                  r"|customers|subscriptions|events|setup_intents|payment_methods|products)(?:/(?P<object_id>[^/]+))?")
    def read(self, req: Recorded, collection: str, object_id: str | None) -> Reply:
        kind = next(k for k, url in LIST_URLS.items() if url == f"/v1/{collection}")
        return self._list(req, kind) if object_id is None else self._retrieve(req, kind, object_id)

    @route("GET", r"/v1/products/(?P<object_id>[^/]+)/features")
    def product_features(self, req: Recorded, object_id: str) -> Reply:
        """A Product's entitlement features (dj-stripe lists them after a Product): none."""
        if object_id not in self.objects["product"]:
            return _missing("product", object_id)
        return Reply(200, self._list_of([], req.path))

    @route("GET", r"/v1/prices/(?P<object_id>[^/]+)")
    def read_price(self, req: Recorded, object_id: str) -> Reply:
        return self._retrieve(req, "price", object_id)

    @route("GET", r"/v1/account")
    def account(self, req: Recorded) -> Reply:
        """The key's own account: dj-stripe asks for it before it mirrors anything."""
        return Reply(200, {"id": "acct_standin", "object": "account", "type": "standard", "country": "US",
                           "default_currency": "usd", "email": "billing@example.com", "charges_enabled": True,
                           "payouts_enabled": True, "details_submitted": True, "created": 1700000000,
                           "business_profile": {"name": "TIMEPOINT (Stripe stand-in)", "url": None,
                                                "support_email": None, "support_phone": None, "support_url": None,
                                                "mcc": None, "product_description": None},
                           "settings": {"dashboard": {"display_name": "TIMEPOINT (Stripe stand-in)",
                                                      "timezone": "Etc/UTC"},
                                        "branding": {"icon": None, "logo": None, "primary_color": None,
                                                     "secondary_color": None}},
                           "capabilities": {}, "metadata": {}, "business_type": None, "requirements": {},
                           "tos_acceptance": {},
                           "external_accounts": {"object": "list", "data": [], "has_more": False,
                                                 "url": "/v1/accounts/acct_standin/external_accounts"}})

    @route("GET", r"/v1/customers/(?P<customer_id>[^/]+)/payment_methods(?:/(?P<object_id>[^/]+))?")
    def customer_payment_methods(self, req: Recorded, customer_id: str, object_id: str | None) -> Reply:
        if customer_id not in self.objects["customer"]:
            return _missing("customer", customer_id)
        if object_id is None:
            return self._list(req, "payment_method", req.path, customer=customer_id)
        method = self.objects["payment_method"].get(object_id)
        if method is None or method["customer"] != customer_id:
            return _missing("payment_method", object_id)
        return self._retrieve(req, "payment_method", object_id)

    @route("POST", r"/v1/customers")
    def create_customer(self, req: Recorded) -> Reply:
        params = self.params(req)
        customer = self.add_customer(params.get("email"), name=params.get("name"), metadata=params.get("metadata"))
        self._emit("customer.created", customer)
        return Reply(200, self._public(customer))

    @route("POST", r"/v1/payment_intents")
    def create_payment_intent(self, req: Recorded) -> Reply:
        try:
            return Reply(200, self._public(self._create_payment_intent(self.params(req))))
        except RequestError as exc:
            return exc.reply()

    @route("POST", r"/v1/payment_methods/(?P<object_id>[^/]+)/detach")
    def detach_payment_method(self, req: Recorded, object_id: str) -> Reply:
        try:
            return Reply(200, self._public(self.detach(object_id)))
        except LookupError:
            return _missing("payment_method", object_id)
        except RequestError as exc:
            return exc.reply()

    @route("POST", r"/v1/refunds")
    def create_refund(self, req: Recorded) -> Reply:
        params = self.params(req)
        try:  # its events go out after the answer, as any the API causes
            refund = self.refund(params.get("charge"), payment_intent=params.get("payment_intent"),
                                 amount=params.get("amount"), reason=params.get("reason"), deliver=False)
        except LookupError as exc:
            return _error(404, str(exc), "resource_missing", "charge")
        except ValueError as exc:
            return _error(400, str(exc), "amount_too_large", "amount")
        return Reply(200, refund)

    @route("POST", r"/v1/billing_portal/sessions")
    def create_portal(self, req: Recorded) -> Reply:
        params = self.params(req)
        if not params.get("customer"):
            return _error(400, "Missing required param: customer.", "parameter_missing", "customer")
        portal_id = "bps_" + secrets.token_hex(8)
        portal = {"id": portal_id, "object": "billing_portal.session",
                  "customer": params["customer"], "return_url": params.get("return_url"), "created": self.now(),
                  "url": f"{self.url}/billing_portal/{portal_id}"}
        with self.lock:
            self.portal_sessions.append(portal)
        return Reply(200, portal)

    # --- the hosted pages ------------------------------------------------------------

    @route("GET", r"/checkout/(?P<session_id>[^/]+)")
    def checkout_page(self, req: Recorded, session_id: str) -> Reply:
        session = self.sessions.get(session_id)
        if session is None:
            return Reply(404, _page("Checkout not found", "<p>This Checkout Session does not exist.</p>"),
                         {"Content-Type": "text/html; charset=utf-8"})
        if session["mode"] == "setup":
            return Reply(200, _page("Save a card (Stripe stand-in)", _setup_form(session)),
                         {"Content-Type": "text/html; charset=utf-8"})
        rows = "".join(
            f"<tr><td>{html.escape(line['description'])} × {line['quantity']}</td>"
            f"<td>{_money(line['amount_total'], line['currency'])}</td></tr>"
            for line in self.line_items.get(session_id, []))
        total = _money(session["amount_total"], session["currency"])
        if session["status"] == "open":
            verb = "Subscribe" if session["mode"] == "subscription" else f"Pay {total}"
            cancel = (f'<a href="{html.escape(session["cancel_url"])}">Cancel</a>' if session["cancel_url"] else "")
            action = (
                f'<form method="post" action="/checkout/{session_id}/pay">'
                f'<p>{html.escape(session["customer_email"] or "")} · card 4242 4242 4242 4242</p>'
                f'<button type="submit">{verb}</button> {cancel}'
                '<p><label><input type="checkbox" name="lose_webhook" value="1"> Stand-in: complete the payment'
                " without delivering its webhook</label></p></form>")
        else:
            action = "<p>This Checkout Session is complete.</p>"
        body = f"<table>{rows}<tr><th>Total</th><th>{total}</th></tr></table>{action}"
        return Reply(200, _page("Checkout (Stripe stand-in)", body), {"Content-Type": "text/html; charset=utf-8"})

    @route("POST", r"/checkout/(?P<session_id>[^/]+)/pay")
    def checkout_pay(self, req: Recorded, session_id: str) -> Reply:
        form = req.form()
        try:
            session = self.pay(session_id, deliver=form.get("lose_webhook") != "1", card=form.get("card", DEFAULT_CARD))
        except LookupError:
            return Reply(404, _page("Checkout not found", "<p>No such session.</p>"),
                         {"Content-Type": "text/html; charset=utf-8"})
        except RequestError as exc:  # declined: Checkout says so and the buyer may try another card
            return Reply(exc.status, _page("Card declined", f'<p>{html.escape(str(exc))}</p>'
                                                            f'<p><a href="/checkout/{session_id}">Back</a></p>'),
                         {"Content-Type": "text/html; charset=utf-8"})
        except ValueError as exc:
            if form.get("card", DEFAULT_CARD) not in TEST_CARDS:
                return Reply(400, _page("Unknown card", f"<p>{html.escape(str(exc))}</p>"),
                             {"Content-Type": "text/html; charset=utf-8"})
            # already completed: show its page
            return Reply(303, "", {"Location": f"/checkout/{session_id}"})
        target = (session["success_url"] or f"/checkout/{session_id}").replace("{CHECKOUT_SESSION_ID}", session_id)
        return Reply(303, "", {"Location": target})

    def _portal_session(self, portal_id: str) -> dict | None:
        return next((p for p in self.portal_sessions if p["id"] == portal_id), None)

    @route("GET", r"/billing_portal/(?P<portal_id>[^/]+)")
    def billing_portal_page(self, req: Recorded, portal_id: str) -> Reply:
        """The billing portal's page: the customer's live subscriptions, each with a
        *Cancel plan* button, and the way back to `return_url`."""
        portal = self._portal_session(portal_id)
        if portal is None:
            return Reply(404, _page("Billing portal not found", "<p>This portal session does not exist.</p>"),
                         {"Content-Type": "text/html; charset=utf-8"})
        live = [sub for sub in self.objects["subscription"].values()
                if sub["customer"] == portal["customer"] and sub["status"] not in ("canceled", "incomplete_expired")]
        rows = "".join(
            f'<form method="post" action="/billing_portal/{portal_id}/cancel/{sub["id"]}"><p>'
            + html.escape(", ".join(str(item["price"].get("nickname") or item["price"]["id"])
                                    for item in sub["items"]["data"]))
            + f' ({html.escape(sub["status"])})</p><button type="submit">Cancel plan</button></form>'
            for sub in live) or "<p>No active plan.</p>"
        back = html.escape(portal["return_url"] or "/")
        return Reply(200, _page("Billing portal (Stripe stand-in)",
                                f"<p>{html.escape(portal['customer'])}</p>{rows}"
                                f'<p><a href="{back}">Return</a></p>'),
                     {"Content-Type": "text/html; charset=utf-8"})

    @route("POST", r"/billing_portal/(?P<portal_id>[^/]+)/cancel/(?P<subscription_id>[^/]+)")
    def billing_portal_cancel(self, req: Recorded, portal_id: str, subscription_id: str) -> Reply:
        portal = self._portal_session(portal_id)
        subscription = self.objects["subscription"].get(subscription_id)
        if portal is None or subscription is None or subscription["customer"] != portal["customer"]:
            return Reply(404, _page("Not found", "<p>No such plan in this billing portal.</p>"),
                         {"Content-Type": "text/html; charset=utf-8"})
        self.cancel_subscription(subscription_id)
        return Reply(303, "", {"Location": portal["return_url"] or f"/billing_portal/{portal_id}"})

    @route("GET", r"/dashboard/(?P<rest>.*)")
    def dashboard(self, req: Recorded, rest: str) -> Reply:
        """Where billing's admin links "the Stripe object": the object itself."""
        object_id = (req.query.get("query") or [rest.rsplit("/", 1)[-1]])[0]
        obj = self.get(object_id)
        return Reply(200, self._public(obj)) if obj else _missing("object", object_id)

    # --- test controls over HTTP (/__standin__/…) -----------------------------------------

    def _control(self, req: Recorded) -> Reply:
        if any(method == req.method and pattern.fullmatch(req.path) for method, pattern, _ in self._routes):
            return super().dispatch(req)  # never recorded, never faulted, no API key
        return super()._control(req)

    def _controlled(self, req: Recorded, action: Callable[..., dict], *args: Any) -> Reply:
        body = req.json() if req.body else {}
        try:
            return Reply(200, action(*args, **(body or {})))
        except LookupError as exc:
            return Reply(404, {"detail": str(exc)})
        except (TypeError, ValueError) as exc:
            return Reply(400, {"detail": str(exc)})

    @route("POST", r"/__standin__/pay/(?P<session_id>[^/]+)")
    def control_pay(self, req: Recorded, session_id: str) -> Reply:
        return self._controlled(req, self.pay, session_id)

    @route("POST", r"/__standin__/renew/(?P<subscription_id>[^/]+)")
    def control_renew(self, req: Recorded, subscription_id: str) -> Reply:
        return self._controlled(req, self.renew, subscription_id)

    @route("POST", r"/__standin__/refund")
    def control_refund(self, req: Recorded) -> Reply:
        return self._controlled(req, self.refund)

    @route("POST", r"/__standin__/dispute")
    def control_dispute(self, req: Recorded) -> Reply:
        return self._controlled(req, self.dispute)

    @route("POST", r"/__standin__/dispute/(?P<dispute_id>[^/]+)/close")
    def control_close_dispute(self, req: Recorded, dispute_id: str) -> Reply:
        return self._controlled(req, self.close_dispute, dispute_id)

    @route("POST", r"/__standin__/next_payment")
    def control_next_payment(self, req: Recorded) -> Reply:
        return self._controlled(req, self.next_payment)

    @route("POST", r"/__standin__/deliver_pending")
    def control_deliver_pending(self, req: Recorded) -> Reply:
        try:
            return self._controlled(req, lambda **options: self.deliver_pending(**options) or {
                "deliveries": copy.deepcopy(self.deliveries)})
        except TimeoutError as exc:
            return Reply(504, {"detail": str(exc)})

    @route("POST", r"/__standin__/deliver/(?P<event_id>[^/]+)")
    def control_deliver(self, req: Recorded, event_id: str) -> Reply:
        return self._controlled(req, lambda: {"event": event_id, "status": self.deliver(event_id)})

    @route("GET", r"/__standin__/webhook")
    def control_webhook(self, req: Recorded) -> Reply:
        return Reply(200, {"url": self.webhook_url, "deliveries": self.deliveries, "undelivered": self.undelivered})

    @route("POST", r"/__standin__/webhook")
    def control_set_webhook(self, req: Recorded) -> Reply:
        url = (req.json() or {}).get("url")
        if not isinstance(url, str):
            return Reply(400, {"detail": "url (a string) is required"})
        self.webhook_url = url
        return Reply(200, {"url": url})


def _setup_form(session: dict) -> str:
    """The hosted page of a setup-mode session: pick a test card and save it."""
    if session["status"] != "open":
        return "<p>This card is saved: the Checkout Session is complete.</p>"
    cards = "".join(
        f'<p><label><input type="radio" name="card" value="{number}"{" checked" if number == DEFAULT_CARD else ""}>'
        f" {' '.join(number[i:i + 4] for i in range(0, 16, 4))} · {html.escape(spec['label'])}</label></p>"
        for number, spec in TEST_CARDS.items())
    cancel = f'<a href="{html.escape(session["cancel_url"])}">Cancel</a>' if session["cancel_url"] else ""
    return (f"<p>{html.escape(session['customer_email'] or '')}</p>"
            "<p>Nothing is charged now: the card is saved for later payments.</p>"
            f'<form method="post" action="/checkout/{session["id"]}/pay"><fieldset><legend>Test card</legend>'
            f'{cards}</fieldset><p><button type="submit">Save card</button> {cancel}</p>'
            '<p><label><input type="checkbox" name="lose_webhook" value="1"> Stand-in: save the card'
            " without delivering its webhooks</label></p></form>")


def _money(cents: int, currency: str) -> str:
    return f"{cents / 100:,.2f} {currency.upper()}"


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}"
            "table{width:100%;border-collapse:collapse;margin:1rem 0}td,th{padding:.4rem 0;text-align:left}"
            "td+td,th+th{text-align:right}button{font-size:1.1rem;padding:.6rem 1.4rem;background:#635bff;"
            "color:#fff;border:0;border-radius:6px;margin-right:1rem}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")
