"""A small, faithful Stripe: the API billing calls (form-encoded, Bearer secret key),
kept in memory with Stripe's object shapes and ids, its own hosted Checkout page, and
signed webhook deliveries to the gateway as Stripe makes them.

Objects: customers, prices, Checkout Sessions (payment and subscription mode), payment
intents, charges, invoices, subscriptions, refunds, disputes and events. Lists page as
Stripe's do (newest first, `limit`, `starting_after`/`ending_before`, `has_more`,
`created[gte|gt|lte|lt]`, `expand[]=data.<field>`), so stripe-python's
`auto_paging_iter()` walks them unchanged.

Completing a session (the Pay button of `GET /checkout/<id>`, `pay()`, or
`POST /__standin__/pay/<id>`) creates what Stripe would (customer, payment intent and
charge; for subscriptions the subscription and its first invoice) and delivers the events
to `webhook_url`, signed with `webhook_secret`. Every control takes `deliver=False` to
"lose" its events: they are kept (`GET /v1/events`) and can be delivered later with
`deliver(event_id)`. All data is plain JSON (`state()` / `load_state()`); adding setup-mode
sessions or confirmed payment intents is one `_complete_<mode>` method or one route that
calls `_payment()`.
"""

from __future__ import annotations

import copy
import html
import json
import secrets
import string
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
}
LIST_URLS = {
    "checkout.session": "/v1/checkout/sessions", "invoice": "/v1/invoices", "refund": "/v1/refunds",
    "dispute": "/v1/disputes", "charge": "/v1/charges", "payment_intent": "/v1/payment_intents",
    "customer": "/v1/customers", "subscription": "/v1/subscriptions", "event": "/v1/events",
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
}
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


def _error(status: int, message: str, code: str = "", param: str = "") -> Reply:
    error = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return Reply(status, {"error": error})


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

    # --- state, for persistence across restarts ---------------------------------------

    def state(self) -> dict:
        with self.lock:
            return json.loads(json.dumps({"objects": self.objects, "line_items": self.line_items,
                                          "portal_sessions": self.portal_sessions, "deliveries": self.deliveries}))

    def load_state(self, state: dict) -> None:
        with self.lock:
            for name in ("objects", "line_items", "portal_sessions", "deliveries"):
                if name in state:
                    setattr(self, name, copy.deepcopy(state[name]))

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

    def add_price(self, price_id: str, unit_amount: int, product: str, *, monthly: bool = False,
                  currency: str = "usd") -> dict:
        return self._store({
            "id": price_id, "object": "price", "active": True, "currency": currency, "unit_amount": unit_amount,
            "product": "prod_" + price_id.removeprefix("price_"), "nickname": product, "livemode": False,
            "type": "recurring" if monthly else "one_time",
            "recurring": {"interval": "month", "interval_count": 1} if monthly else None,
            "created": self.now(), "metadata": {},
        })

    def _customer(self, email: str | None) -> dict:
        return self._store({"id": new_id("cus"), "object": "customer", "email": email, "created": self.now(),
                            "livemode": False, "metadata": {}})

    def _payment(self, amount: int, currency: str, customer: str | None, metadata: dict,
                 description: str = "") -> tuple[dict, dict]:
        """A succeeded payment intent and its charge (Checkout, invoices, and one day
        off-session payment intents all pay through here)."""
        now = self.now()
        intent_id, charge_id = new_id("pi"), new_id("ch")
        charge = self._store({
            "id": charge_id, "object": "charge", "amount": amount, "amount_captured": amount, "amount_refunded": 0,
            "currency": currency, "customer": customer, "payment_intent": intent_id, "paid": True, "captured": True,
            "refunded": False, "disputed": False, "status": "succeeded", "created": now, "livemode": False,
            "metadata": dict(metadata), "description": description or None,
            "payment_method_details": {"type": "card", "card": {"brand": "visa", "last4": "4242"}},
        })
        intent = self._store({
            "id": intent_id, "object": "payment_intent", "amount": amount, "amount_received": amount,
            "currency": currency, "customer": customer, "status": "succeeded", "latest_charge": charge_id,
            "metadata": dict(metadata), "created": now, "livemode": False, "description": description or None,
        })
        return intent, charge

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
            raise ValueError("mode must be one of payment, subscription")
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

    def pay(self, session_id: str, deliver: bool = True) -> dict:
        """Complete a session as the buyer's Pay would; `deliver=False` loses its webhooks."""
        with self.lock:
            session = self.sessions.get(session_id)
            if session is None:
                raise LookupError(f"No such checkout.session: '{session_id}'")
            if session["status"] != "open":
                raise ValueError(f"checkout session {session_id} is {session['status']}")
            session["status"] = "complete"  # taken: a second click cannot pay twice
        email, events = session["customer_email"], []
        if session["customer"] is None and (session["mode"] != "payment" or session["customer_creation"] == "always"):
            customer = self._customer(email)
            session["customer"] = customer["id"]
            events.append(self._emit("customer.created", customer))
        session.update(customer_details={"email": email}, payment_status="paid")
        events += getattr(self, f"_complete_{session['mode']}")(session)
        events.append(self._emit("checkout.session.completed", session))
        if deliver:
            for event in events:
                self.deliver(event["id"])
        return session

    def _complete_payment(self, session: dict) -> list[dict]:
        metadata = (session["payment_intent_data"] or {}).get("metadata") or {}
        intent, charge = self._payment(session["amount_total"], session["currency"], session["customer"], metadata)
        session["payment_intent"] = intent["id"]
        return [self._emit("charge.succeeded", charge), self._emit("payment_intent.succeeded", intent)]

    def _complete_subscription(self, session: dict) -> list[dict]:
        now = self.now()
        subscription = self._store({
            "id": new_id("sub"), "object": "subscription", "customer": session["customer"], "status": "active",
            "metadata": dict((session["subscription_data"] or {}).get("metadata") or {}), "created": now,
            "livemode": False, "latest_invoice": None, "cancel_at_period_end": False,
            "items": {"object": "list", "has_more": False, "data": [
                {"id": new_id("si"), "object": "subscription_item", "price": dict(line["price"]),
                 "quantity": line["quantity"], "current_period_start": now, "current_period_end": now + 30 * 86400}
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
            left = paid["amount"] - paid["amount_refunded"]
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
        """Record an event carrying a snapshot of the object, as Stripe does."""
        event = self.event(type_, self._public(obj))
        event["created"] = self.now()
        event["pending_webhooks"] = 1 if (self.webhook_url or self.transport) else 0
        return self._store(event)

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
        return req.headers.get("authorization") == f"Bearer {self.secret_key}"

    @staticmethod
    def params(req: Recorded) -> dict:
        """The request's parameters, nested as the caller meant them."""
        return _nested(parse_qsl(req.body.decode(), keep_blank_values=True))

    @staticmethod
    def query(req: Recorded) -> dict:
        return _nested(parse_qsl(req.raw_query, keep_blank_values=True))

    def dispatch(self, req: Recorded) -> Reply:
        if req.path.startswith("/v1/") and not self._authorized(req):
            return _error(401, "Invalid API Key provided")
        return super().dispatch(req)

    @staticmethod
    def _public(obj: dict) -> dict:
        """What Stripe shows of an object (the session keeps its creation parameters
        for its completion, which Stripe does not echo)."""
        shown = copy.deepcopy(obj)
        if shown.get("object") == "checkout.session":
            shown.pop("payment_intent_data", None)
            shown.pop("subscription_data", None)
        return shown

    def _expanded(self, obj: dict, paths: list[str]) -> dict:
        shown = self._public(obj)
        for path in paths:
            if path == "line_items" and shown.get("object") == "checkout.session":
                shown["line_items"] = self._list_of(self.line_items.get(shown["id"], []),
                                                    f"/v1/checkout/sessions/{shown['id']}/line_items")
            elif isinstance(shown.get(path), str) and self.get(shown[path]) is not None:
                shown[path] = self._public(self.get(shown[path]))
        return shown

    @staticmethod
    def _list_of(data: list[dict], url: str, has_more: bool = False) -> dict:
        return {"object": "list", "data": data, "has_more": has_more, "url": url}

    def _retrieve(self, req: Recorded, kind: str, object_id: str) -> Reply:
        obj = self.objects[kind].get(object_id)
        if obj is None:
            return _missing(kind, object_id)
        return Reply(200, self._expanded(obj, self.query(req).get("expand") or []))

    def _list(self, req: Recorded, kind: str) -> Reply:
        query = self.query(req)
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
        return Reply(200, self._list_of([self._expanded(o, expand) for o in page], LIST_URLS[kind], has_more))

    @route("POST", r"/v1/checkout/sessions")
    def create_checkout_session(self, req: Recorded) -> Reply:
        try:
            return Reply(200, self._public(self.create_session(self.params(req))))
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
                  r"|customers|subscriptions|events)(?:/(?P<object_id>[^/]+))?")
    def read(self, req: Recorded, collection: str, object_id: str | None) -> Reply:
        kind = next(k for k, url in LIST_URLS.items() if url == f"/v1/{collection}")
        return self._list(req, kind) if object_id is None else self._retrieve(req, kind, object_id)

    @route("GET", r"/v1/prices/(?P<object_id>[^/]+)")
    def read_price(self, req: Recorded, object_id: str) -> Reply:
        return self._retrieve(req, "price", object_id)

    @route("POST", r"/v1/refunds")
    def create_refund(self, req: Recorded) -> Reply:
        params = self.params(req)
        try:
            refund = self.refund(params.get("charge"), payment_intent=params.get("payment_intent"),
                                 amount=params.get("amount"), reason=params.get("reason"))
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
        portal = {"id": "bps_" + secrets.token_hex(8), "object": "billing_portal.session",
                  "customer": params["customer"], "return_url": params.get("return_url"), "created": self.now(),
                  "url": "https://billing.stripe.com/p/session/" + secrets.token_hex(8)}
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
        try:
            session = self.pay(session_id, deliver=req.form().get("lose_webhook") != "1")
        except LookupError:
            return Reply(404, _page("Checkout not found", "<p>No such session.</p>"),
                         {"Content-Type": "text/html; charset=utf-8"})
        except ValueError:  # already paid: show its page
            return Reply(303, "", {"Location": f"/checkout/{session_id}"})
        target = (session["success_url"] or f"/checkout/{session_id}").replace("{CHECKOUT_SESSION_ID}", session_id)
        return Reply(303, "", {"Location": target})

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

    @route("POST", r"/__standin__/deliver/(?P<event_id>[^/]+)")
    def control_deliver(self, req: Recorded, event_id: str) -> Reply:
        return self._controlled(req, lambda: {"event": event_id, "status": self.deliver(event_id)})

    @route("GET", r"/__standin__/webhook")
    def control_webhook(self, req: Recorded) -> Reply:
        return Reply(200, {"url": self.webhook_url, "deliveries": self.deliveries})

    @route("POST", r"/__standin__/webhook")
    def control_set_webhook(self, req: Recorded) -> Reply:
        url = (req.json() or {}).get("url")
        if not isinstance(url, str):
            return Reply(400, {"detail": "url (a string) is required"})
        self.webhook_url = url
        return Reply(200, {"url": url})


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
