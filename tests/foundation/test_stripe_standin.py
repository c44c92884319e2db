"""The Stripe stand-in is a small, faithful Stripe: stripe-python creates, reads and pages
its objects unchanged; its events are signed as Stripe signs them; every control works
in Python and over HTTP; its state is plain JSON."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import stripe

from standins.stripe import PRICES, Stripe


@pytest.fixture
def stripe_api(standins: dict) -> Stripe:
    return standins["stripe"]


@pytest.fixture
def api(stripe_api: Stripe) -> stripe.StripeClient:
    return stripe.StripeClient(stripe_api.secret_key, base_addresses={"api": stripe_api.url}).v1


@pytest.fixture
def receiver():
    """A webhook endpoint of our own: what the stand-in delivered, body and headers."""
    received: list[tuple[bytes, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append((self.rfile.read(int(self.headers["Content-Length"])), dict(self.headers)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhook", received
    server.shutdown()
    server.server_close()


def _session(api, price: str = "STRIPE_PRICE_100_CREDITS", **params):
    return api.checkout.sessions.create(params={"mode": "payment", "line_items": [{"price": PRICES[price]}],
                                                "customer_email": "a@example.com", **params})


def test_it_pages_lists_as_stripe_python_expects(stripe_api, api):
    made = [_session(api).id for _ in range(23)]
    for session_id in made[:20]:
        stripe_api.pay(session_id, deliver=False)

    first = api.checkout.sessions.list(params={"limit": 5, "status": "complete"})
    assert len(first.data) == 5 and first.has_more
    walked = [s.id for s in first.auto_paging_iter()]
    assert walked == list(reversed(made[:20]))  # newest first, every page, each once
    created = first.data[0].created
    assert [s.id for s in api.checkout.sessions.list(params={"created": {"gt": created}}).data] == []
    assert len(list(api.checkout.sessions.list(params={"created": {"lte": created}, "limit": 100}))) == 23


def test_it_expands_line_items_and_references(stripe_api, api):
    session = _session(api, "STRIPE_PRICE_500_CREDITS", payment_intent_data={"metadata": {"package": "500"}})
    stripe_api.pay(session.id, deliver=False)

    [listed] = api.checkout.sessions.list(params={"expand": ["data.line_items", "data.payment_intent"]}).data
    assert listed.line_items.data[0].price.id == PRICES["STRIPE_PRICE_500_CREDITS"]
    assert listed.line_items.data[0].amount_subtotal == 3999 and listed.amount_total == 3999
    assert listed.payment_intent.metadata["package"] == "500" and listed.payment_intent.status == "succeeded"
    assert api.checkout.sessions.retrieve(session.id).payment_intent == listed.payment_intent.id


def test_it_refuses_what_stripe_refuses(stripe_api, api):
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        api.checkout.sessions.create(params={"mode": "payment", "line_items": [{"price": "price_nope"}]})
    assert unknown.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError):  # a monthly price in payment mode
        _session(api, "STRIPE_PRICE_EXPLORER")
    stranger = stripe.StripeClient("sk_test_wrong0123456789abcdefghij", base_addresses={"api": stripe_api.url})
    with pytest.raises(stripe.AuthenticationError):
        stranger.v1.invoices.list()


def test_a_subscription_pays_its_first_invoice_and_renews(stripe_api, api):
    session = api.checkout.sessions.create(params={
        "mode": "subscription", "line_items": [{"price": PRICES["STRIPE_PRICE_HISTORIAN"]}],
        "subscription_data": {"metadata": {"plan": "historian"}}})
    stripe_api.pay(session.id, deliver=False)
    subscription = api.subscriptions.retrieve(stripe_api.sessions[session.id]["subscription"])

    stripe_api.renew(subscription.id, deliver=False)

    invoices = api.invoices.list(params={"status": "paid"}).data
    assert [i.billing_reason for i in invoices] == ["subscription_cycle", "subscription_create"]
    first = invoices[1]
    assert first.parent.subscription_details.subscription == subscription.id
    assert first.parent.subscription_details.metadata["plan"] == "historian"
    assert first.lines.data[0].pricing.price_details.price == PRICES["STRIPE_PRICE_HISTORIAN"]
    assert first.amount_paid == 1499 and first.payments.data[0].payment.payment_intent.startswith("pi_")


def test_refunds_and_disputes_are_listed_with_their_charge(stripe_api, api):
    session = _session(api)
    stripe_api.pay(session.id, deliver=False)
    intent = stripe_api.sessions[session.id]["payment_intent"]

    refund = api.refunds.create(params={"payment_intent": intent, "amount": 300})
    dispute = stripe_api.dispute(payment_intent=intent, deliver=False)
    stripe_api.close_dispute(dispute["id"], "lost", deliver=False)

    [listed] = api.refunds.list(params={"expand": ["data.charge"]}).data
    assert listed.id == refund.id and listed.charge.amount_refunded == 300 and not listed.charge.refunded
    assert api.disputes.list().data[0].status == "lost"
    assert api.charges.list(params={"payment_intent": intent}).data[0].disputed
    with pytest.raises(stripe.InvalidRequestError):
        api.refunds.create(params={"payment_intent": intent, "amount": 5000})  # more than is left


def test_it_delivers_events_signed_as_stripe_signs_them(stripe_api, api, receiver):
    url, received = receiver
    stripe_api.webhook_url = url
    session = _session(api, customer_creation="always")

    stripe_api.pay(session.id)

    types = [json.loads(body)["type"] for body, _ in received]
    assert types == ["customer.created", "charge.succeeded", "payment_intent.succeeded", "checkout.session.completed"]
    body, headers = received[-1]
    event = stripe.Webhook.construct_event(body.decode(), headers["Stripe-Signature"], stripe_api.webhook_secret)
    assert event.data.object.id == session.id and event.data.object.payment_status == "paid"
    assert "payment_intent_data" not in event.data.object  # only what Stripe shows


def test_every_control_works_over_http(stripe_api, api, receiver):
    url, received = receiver
    control = f"{stripe_api.url}/__standin__"
    assert requests.post(f"{control}/webhook", json={"url": url}, timeout=5).json() == {"url": url}
    session = _session(api)

    paid = requests.post(f"{control}/pay/{session.id}", json={"deliver": False}, timeout=5).json()
    assert paid["status"] == "complete" and received == []  # completed, its webhooks lost
    lost = next(e for e in stripe_api.events_of("checkout.session.completed"))
    assert requests.post(f"{control}/deliver/{lost['id']}", timeout=5).json()["status"] == 200
    assert json.loads(received[-1][0])["id"] == lost["id"]

    refund = requests.post(f"{control}/refund", json={"payment_intent": paid["payment_intent"], "amount": 100},
                           timeout=5).json()
    dispute = requests.post(f"{control}/dispute", json={"charge": refund["charge"]}, timeout=5).json()
    closed = requests.post(f"{control}/dispute/{dispute['id']}/close", json={"status": "won"}, timeout=5).json()
    assert closed["status"] == "won"
    assert [json.loads(b)["type"] for b, _ in received[-3:]] == [
        "charge.refunded", "charge.dispute.created", "charge.dispute.closed"]
    assert requests.post(f"{control}/pay/{session.id}", timeout=5).status_code == 400  # paid already
    assert requests.post(f"{control}/pay/cs_test_none", timeout=5).status_code == 404
    assert len(requests.get(f"{control}/webhook", timeout=5).json()["deliveries"]) == 5
    assert not stripe_api.received("__standin__")  # controls are not recorded


def test_its_state_is_plain_json_and_loads_into_another(stripe_api, api):
    session = _session(api)
    stripe_api.pay(session.id, deliver=False)

    restarted = Stripe()
    restarted.load_state(json.loads(json.dumps(stripe_api.state())))
    restarted.start()
    try:
        again = stripe.StripeClient(restarted.secret_key, base_addresses={"api": restarted.url}).v1
        assert again.checkout.sessions.retrieve(session.id).status == "complete"
        assert len(again.events.list(params={"limit": 100}).data) == len(stripe_api.events_of())
    finally:
        restarted.stop()
