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
from tests.payments.conftest import wait_for


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
    # curl -u sk_test_…: as in Stripe's documentation
    assert requests.get(f"{stripe_api.url}/v1/invoices", auth=(stripe_api.secret_key, ""), timeout=5).ok
    assert requests.get(f"{stripe_api.url}/v1/invoices", auth=("sk_test_wrong", ""), timeout=5).status_code == 401


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


# --- auto-reload: cards saved in setup mode, off-session payment intents, idempotency ---------

OK_CARD, DECLINED_CARD, AUTHENTICATING_CARD = "4242424242424242", "4000000000000341", "4000002760003184"


def _saved_card(stripe_api: Stripe, api, card: str = OK_CARD, email: str = "a@example.com") -> tuple[str, str]:
    """(customer id, payment method id) of a card saved through a setup-mode Checkout."""
    customer = stripe_api.add_customer(email)["id"]
    session = api.checkout.sessions.create(params={"mode": "setup", "currency": "usd", "customer": customer})
    stripe_api.pay(session.id, deliver=False, card=card)
    return customer, api.setup_intents.retrieve(stripe_api.sessions[session.id]["setup_intent"]).payment_method


def _reload(api, customer: str, method: str, key: str | None = None, **params):
    options = {"idempotency_key": key} if key else None
    return api.payment_intents.create(params={
        "amount": 999, "currency": "usd", "customer": customer, "payment_method": method, "off_session": True,
        "confirm": True, "metadata": {"account_id": "7", "package": "100_credits", "auto_reload": "1"}, **params},
        options=options)


def test_the_hosted_setup_page_saves_the_card_picked(stripe_api, api, receiver):
    url, received = receiver
    stripe_api.webhook_url = url
    session = api.checkout.sessions.create(params={
        "mode": "setup", "currency": "usd", "customer_creation": "always", "customer_email": "a@example.com",
        "metadata": {"account_id": "7"}, "setup_intent_data": {"metadata": {"account_id": "7"}},
        "success_url": "https://app.example/saved?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app.example/cancelled"})
    assert (session.status, session.setup_intent, session.amount_total) == ("open", None, None)

    page = requests.get(session.url, timeout=5)
    assert page.status_code == 200 and "Save card" in page.text
    assert "4242 4242 4242 4242" in page.text and "4000 0000 0000 0341" in page.text
    saved = requests.post(session.url + "/pay", data={"card": DECLINED_CARD}, timeout=5, allow_redirects=False)

    assert saved.status_code == 303 and saved.headers["Location"] == f"https://app.example/saved?session={session.id}"
    types = [json.loads(body)["type"] for body, _ in received]
    assert types == ["customer.created", "setup_intent.created", "payment_method.attached", "setup_intent.succeeded",
                     "checkout.session.completed"]
    body, headers = received[-1]
    completed = stripe.Webhook.construct_event(body.decode(), headers["Stripe-Signature"], stripe_api.webhook_secret)
    assert completed.data.object.mode == "setup" and completed.data.object.payment_status == "no_payment_required"
    assert completed.data.object.metadata["account_id"] == "7"
    succeeded = json.loads(received[3][0])["data"]["object"]
    assert succeeded["id"] == completed.data.object.setup_intent and succeeded["metadata"] == {"account_id": "7"}
    shown = api.checkout.sessions.retrieve(session.id, params={"expand": ["setup_intent.payment_method"]})
    method = shown.setup_intent.payment_method
    assert (shown.setup_intent.status, shown.setup_intent.usage) == ("succeeded", "off_session")
    assert (method.card.brand, method.card.last4, method.customer) == ("visa", "0341", shown.customer)
    assert [m.id for m in api.customers.payment_methods.list(shown.customer).data] == [method.id]
    assert "complete" in requests.get(session.url, timeout=5).text  # saving twice is not offered


def test_a_setup_session_asks_what_stripe_asks(stripe_api, api):
    with pytest.raises(stripe.InvalidRequestError) as no_currency:
        api.checkout.sessions.create(params={"mode": "setup", "customer_creation": "always"})
    assert no_currency.value.param == "currency"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        api.checkout.sessions.create(params={"mode": "setup", "currency": "usd", "customer": "cus_nobody"})
    assert (unknown.value.code, unknown.value.param) == ("resource_missing", "customer")
    with pytest.raises(stripe.InvalidRequestError):
        api.checkout.sessions.create(params={"mode": "setup", "currency": "usd",
                                             "line_items": [{"price": PRICES["STRIPE_PRICE_100_CREDITS"]}]})
    by_types = api.checkout.sessions.create(params={"mode": "setup", "payment_method_types": ["card"]})
    assert by_types.mode == "setup" and by_types.customer is None
    assert requests.post(by_types.url + "/pay", data={"card": "4111111111111111"}, timeout=5).status_code == 400


def test_an_off_session_payment_with_a_saved_card_succeeds(stripe_api, api, receiver):
    customer, method = _saved_card(stripe_api, api)
    url, received = receiver
    stripe_api.webhook_url = url

    intent = _reload(api, customer, method, "reload:7:1", expand=["latest_charge"])

    assert (intent.status, intent.amount_received, intent.payment_method) == ("succeeded", 999, method)
    charge = intent.latest_charge
    assert charge.status == "succeeded" and charge.payment_method_details.card.last4 == "4242"
    stripe_api.deliver_pending()
    assert [(d["type"], d["status"]) for d in stripe_api.deliveries] == [
        ("payment_intent.created", 200), ("charge.succeeded", 200), ("payment_intent.succeeded", 200)]
    body, headers = received[-1]
    event = stripe.Webhook.construct_event(body.decode(), headers["Stripe-Signature"], stripe_api.webhook_secret)
    assert event.data.object.id == intent.id and event.data.object.metadata["auto_reload"] == "1"
    assert event["request"]["idempotency_key"] == "reload:7:1" and event["request"]["id"].startswith("req_")


def test_a_card_declined_off_session_fails_as_stripe_answers(stripe_api, api):
    customer, method = _saved_card(stripe_api, api, DECLINED_CARD)

    with pytest.raises(stripe.CardError) as declined:
        _reload(api, customer, method)

    assert declined.value.http_status == 402 and declined.value.code == "card_declined"
    assert declined.value.error.decline_code == "generic_decline"
    failed = declined.value.error.payment_intent
    assert failed.status == "requires_payment_method" and failed.metadata["auto_reload"] == "1"
    intent = api.payment_intents.retrieve(failed.id, params={"expand": ["latest_charge"]})
    assert intent.last_payment_error.decline_code == "generic_decline"
    assert intent.last_payment_error.payment_method.id == method and intent.payment_method is None
    assert (intent.latest_charge.status, intent.latest_charge.failure_code) == ("failed", "card_declined")
    stripe_api.deliver_pending()
    assert [d["type"] for d in stripe_api.deliveries] == [
        "payment_intent.created", "charge.failed", "payment_intent.payment_failed"]
    [event] = stripe_api.events_of("payment_intent.payment_failed")
    assert event["data"]["object"]["last_payment_error"]["code"] == "card_declined"
    with pytest.raises(stripe.InvalidRequestError):  # nothing was captured, nothing can be refunded
        api.refunds.create(params={"payment_intent": failed.id})

    customer, method = _saved_card(stripe_api, api, AUTHENTICATING_CARD)
    with pytest.raises(stripe.CardError) as authenticate:
        _reload(api, customer, method)
    assert authenticate.value.code == "authentication_required"
    # the same card confirmed with its holder there (not off-session) goes through
    assert _reload(api, customer, method, off_session=False).status == "succeeded"


def test_next_payment_decides_whatever_the_card(stripe_api, api):
    customer, method = _saved_card(stripe_api, api)
    stripe_api.next_payment("decline", decline_code="insufficient_funds")

    with pytest.raises(stripe.CardError) as declined:
        _reload(api, customer, method)
    assert declined.value.error.decline_code == "insufficient_funds"
    assert _reload(api, customer, method).status == "succeeded"  # it was for the next payment only

    control = f"{stripe_api.url}/__standin__/next_payment"
    declining_customer, declining = _saved_card(stripe_api, api, DECLINED_CARD)
    assert requests.post(control, json={"outcome": "succeed"}, timeout=5).status_code == 200
    assert _reload(api, declining_customer, declining).status == "succeeded"
    assert requests.post(control, json={"outcome": "decline", "decline_code": "expired_card", "times": 2},
                         timeout=5).status_code == 200
    for _ in range(2):
        with pytest.raises(stripe.CardError) as expired:
            _reload(api, customer, method)
        assert expired.value.code == "expired_card"
    assert _reload(api, customer, method).status == "succeeded"
    assert requests.post(control, json={"outcome": "maybe"}, timeout=5).status_code == 400


def test_a_payment_intent_refuses_what_stripe_refuses(stripe_api, api):
    customer, method = _saved_card(stripe_api, api)
    other, _ = _saved_card(stripe_api, api, email="b@example.com")

    refusals = [
        ({"amount": None}, "amount"), ({"amount": "ten"}, "amount"), ({"amount": 20}, "amount"),
        ({"currency": None}, "currency"), ({"customer": "cus_nobody"}, "customer"),
        ({"payment_method": "pm_nothing"}, "payment_method"), ({"customer": other}, "payment_method"),
        ({"confirm": False}, "off_session"), ({"payment_method": None}, "payment_method"),
    ]
    for change, param in refusals:
        params = {"amount": 999, "currency": "usd", "customer": customer, "payment_method": method,
                  "off_session": True, "confirm": True, **change}
        with pytest.raises(stripe.InvalidRequestError) as refused:
            api.payment_intents.create(params={k: v for k, v in params.items() if v is not None})
        assert refused.value.http_status == 400 and refused.value.param == param, change
    assert api.payment_intents.list().data == [] and stripe_api.pending() == []


def test_the_same_idempotency_key_returns_the_first_answer(stripe_api, api):
    customer, method = _saved_card(stripe_api, api)

    first = _reload(api, customer, method, "reload:7:2025-06:1")
    again = _reload(api, customer, method, "reload:7:2025-06:1")

    assert again.id == first.id and again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(api.payment_intents.list().data) == 1 and len(api.charges.list().data) == 1
    stripe_api.deliver_pending()
    assert len(stripe_api.events_of("payment_intent.succeeded")) == 1
    posts = stripe_api.received("^/v1/payment_intents$", "POST")
    assert [r.headers["idempotency-key"] for r in posts] == ["reload:7:2025-06:1"] * 2  # both reached Stripe
    assert Stripe.params(posts[0])["metadata"]["auto_reload"] == "1"

    declining_customer, declining = _saved_card(stripe_api, api, DECLINED_CARD)
    answers = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as declined:
            _reload(api, declining_customer, declining, "reload:8:2025-06:1")
        answers.append(declined.value.error.payment_intent.id)
    assert answers[0] == answers[1]  # a decline is kept and replayed, not tried again
    stripe_api.deliver_pending()
    assert len(stripe_api.events_of("charge.failed")) == 1


def test_a_key_is_for_one_endpoint_and_one_set_of_parameters(stripe_api, api):
    customer, method = _saved_card(stripe_api, api)
    _reload(api, customer, method, "reload:7:3")

    with pytest.raises(stripe.IdempotencyError) as other_amount:
        _reload(api, customer, method, "reload:7:3", amount=3999)
    assert other_amount.value.http_status == 400 and "same parameters" in other_amount.value.user_message
    with pytest.raises(stripe.IdempotencyError) as other_endpoint:
        api.customers.create(params={"email": "a@example.com"}, options={"idempotency_key": "reload:7:3"})
    assert "same endpoint" in other_endpoint.value.user_message
    assert len(api.payment_intents.list().data) == 1 and len(api.customers.list().data) == 1


def test_a_key_is_forgotten_after_24_hours(stripe_api, api, monkeypatch):
    customer, method = _saved_card(stripe_api, api)
    first = _reload(api, customer, method, "reload:7:9")
    now = stripe_api.now()

    monkeypatch.setattr(stripe_api, "now", lambda: now + 24 * 3600)
    later = _reload(api, customer, method, "reload:7:9", amount=3999)

    assert later.id != first.id and later.amount == 3999


def test_a_checkout_payment_declined_on_the_page_leaves_the_session_open(stripe_api, api):
    session = _session(api)

    declined = requests.post(session.url + "/pay", data={"card": DECLINED_CARD}, timeout=5, allow_redirects=False)
    assert declined.status_code == 402 and "Your card was declined." in declined.text
    assert api.checkout.sessions.retrieve(session.id).status == "open" and stripe_api.events_of() == []

    paid = stripe_api.pay(session.id, deliver=False, card="5555555555554444")
    charge = api.charges.list(params={"payment_intent": paid["payment_intent"]}).data[0]
    assert charge.payment_method_details.card.brand == "mastercard" and charge.status == "succeeded"


def test_a_refused_request_keeps_nothing_under_its_key(stripe_api, api):
    customer, method = _saved_card(stripe_api, api)
    with pytest.raises(stripe.InvalidRequestError):
        _reload(api, customer, "pm_mistyped", "reload:7:4")

    assert _reload(api, customer, method, "reload:7:4").status == "succeeded"  # the corrected retry runs


def test_every_api_post_honours_its_idempotency_key(stripe_api, api):
    once = {"idempotency_key": "once"}
    made = [api.checkout.sessions.create(params={"mode": "payment", "line_items": [
        {"price": PRICES["STRIPE_PRICE_100_CREDITS"]}]}, options={"idempotency_key": "session"}) for _ in range(2)]
    assert made[0].id == made[1].id and len(api.checkout.sessions.list().data) == 1
    customers = [api.customers.create(params={"email": "c@example.com"}, options=once) for _ in range(2)]
    assert customers[0].id == customers[1].id and len(api.customers.list().data) == 1
    stripe_api.pay(made[0].id, deliver=False)
    refunds = [api.refunds.create(params={"payment_intent": stripe_api.sessions[made[0].id]["payment_intent"],
                                          "amount": 100}, options={"idempotency_key": "refund"}) for _ in range(2)]
    assert refunds[0].id == refunds[1].id and api.charges.list().data[0].amount_refunded == 100
    portals = [api.billing_portal.sessions.create(params={"customer": customers[0].id},
                                                  options={"idempotency_key": "portal"}) for _ in range(2)]
    assert portals[0].id == portals[1].id and len(stripe_api.portal_sessions) == 1
    customer, method = _saved_card(stripe_api, api)
    detached = [api.payment_methods.detach(method, options={"idempotency_key": "detach"}) for _ in range(2)]
    assert detached[1].customer is None and detached[1].last_response.headers["Idempotent-Replayed"] == "true"
    stripe_api.deliver_pending()
    assert len(stripe_api.events_of("payment_method.detached")) == 1


def test_concurrent_requests_with_one_key_create_one_payment(stripe_api):
    retrying = stripe.StripeClient(stripe_api.secret_key, base_addresses={"api": stripe_api.url},
                                   max_network_retries=3).v1
    customer, method = _saved_card(stripe_api, retrying)
    start, answers = threading.Barrier(10), []

    def trigger() -> None:
        start.wait(timeout=10)
        answers.append(_reload(retrying, customer, method, "reload:7:crossing-1").id)

    threads = [threading.Thread(target=trigger) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(answers) == 10 and len(set(answers)) == 1
    assert len(retrying.payment_intents.list().data) == 1 and len(retrying.charges.list().data) == 1
    stripe_api.deliver_pending()
    assert len(stripe_api.events_of("payment_intent.succeeded")) == 1


def test_a_key_in_use_is_refused_with_409_until_its_first_request_ends(stripe_api, api):
    customer, method = _saved_card(stripe_api, api)
    gate = stripe_api.answer_gate = threading.Event()
    first: list = []
    running = threading.Thread(target=lambda: first.append(_reload(api, customer, method, "reload:7:5")))
    running.start()
    try:
        assert wait_for(lambda: api.payment_intents.list().data)  # it ran; its answer waits at the gate
        with pytest.raises(stripe.APIError) as in_use:
            _reload(api, customer, method, "reload:7:5")
    finally:
        gate.set()
    assert in_use.value.http_status == 409 and in_use.value.error.code == "idempotency_key_in_use"
    running.join(timeout=10)

    assert _reload(api, customer, method, "reload:7:5").id == first[0].id
    assert len(api.payment_intents.list().data) == 1


def test_a_retry_after_a_lost_answer_gets_the_first_payment(stripe_api):
    impatient = stripe.StripeClient(stripe_api.secret_key, base_addresses={"api": stripe_api.url},
                                    http_client=stripe.RequestsClient(timeout=0.5)).v1
    customer, method = _saved_card(stripe_api, impatient)
    gate = stripe_api.answer_gate = threading.Event()

    try:
        with pytest.raises(stripe.APIConnectionError):  # Stripe charged, the answer never came
            _reload(impatient, customer, method, "reload:7:6")
    finally:
        gate.set()
    assert wait_for(lambda: "reload:7:6" in stripe_api.idempotency)

    retried = _reload(impatient, customer, method, "reload:7:6")
    assert [i.id for i in impatient.payment_intents.list().data] == [retried.id] and retried.status == "succeeded"


def test_module_level_stripe_python_reaches_it_as_billing_calls_it(stripe_api, monkeypatch):
    monkeypatch.setattr(stripe, "api_base", stripe_api.url)
    customer = stripe.Customer.create(api_key=stripe_api.secret_key, email="a@example.com")
    session = stripe.checkout.Session.create(api_key=stripe_api.secret_key, mode="setup", currency="usd",
                                             customer=customer.id, metadata={"account_id": "7"})
    stripe_api.pay(session.id, deliver=False, card="5555555555554444")
    setup = stripe.SetupIntent.retrieve(stripe_api.sessions[session.id]["setup_intent"],
                                        api_key=stripe_api.secret_key, expand=["payment_method"])
    assert (setup.payment_method.card.brand, setup.payment_method.card.last4) == ("mastercard", "4444")

    made = [stripe.PaymentIntent.create(api_key=stripe_api.secret_key, idempotency_key="reload:7:7", amount=999,
                                        currency="usd", customer=customer.id, payment_method=setup.payment_method.id,
                                        off_session=True, confirm=True) for _ in range(2)]
    assert made[0].id == made[1].id and made[0].status == "succeeded"
    listed = stripe.PaymentIntent.list(api_key=stripe_api.secret_key, customer=customer.id)
    assert [i.id for i in listed.data] == [made[0].id]


def test_payment_and_setup_intents_list_by_customer_and_time(stripe_api, api):
    alice, alice_card = _saved_card(stripe_api, api)
    bob, bob_card = _saved_card(stripe_api, api, email="b@example.com")
    paid = [_reload(api, alice, alice_card), _reload(api, alice, alice_card), _reload(api, bob, bob_card)]

    assert [i.id for i in api.payment_intents.list(params={"customer": alice}).data] == [paid[1].id, paid[0].id]
    assert [i.id for i in api.payment_intents.list(params={"created": {"gte": paid[0].created}, "limit": 1})
            .auto_paging_iter()] == [p.id for p in reversed(paid)]
    assert api.payment_intents.list(params={"created": {"gt": paid[2].created}}).data == []
    [setup] = api.setup_intents.list(params={"customer": bob}).data
    assert setup.payment_method == bob_card
    assert [m.id for m in api.payment_methods.list(params={"customer": alice, "type": "card"}).data] == [alice_card]
    assert api.customers.payment_methods.retrieve(alice, alice_card).card.last4 == "4242"
    with pytest.raises(stripe.InvalidRequestError):
        api.customers.payment_methods.retrieve(bob, alice_card)


def test_with_a_transport_api_events_wait_for_the_test_thread(stripe_api, api):
    customer, method = _saved_card(stripe_api, api)
    calls: list[tuple[str, threading.Thread]] = []

    def transport(body: bytes, headers: dict) -> int:
        calls.append((json.loads(body)["type"], threading.current_thread()))
        return 200

    stripe_api.transport = transport

    intent = _reload(api, customer, method)

    assert calls == [] and [e["type"] for e in stripe_api.pending()] == [
        "payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]
    stripe_api.deliver_pending()
    assert [t for t, _ in calls] == ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]
    assert {thread for _, thread in calls} == {threading.current_thread()} and stripe_api.pending() == []
    assert stripe_api.events_of("payment_intent.succeeded")[0]["data"]["object"]["id"] == intent.id


def test_deliver_pending_works_over_http(stripe_api, api, receiver):
    url, received = receiver
    customer, method = _saved_card(stripe_api, api)
    requests.post(f"{stripe_api.url}/__standin__/webhook", json={"url": url}, timeout=5)
    _reload(api, customer, method)

    answer = requests.post(f"{stripe_api.url}/__standin__/deliver_pending", json={"timeout": 10}, timeout=15)

    assert [(d["type"], d["status"]) for d in answer.json()["deliveries"]] == [
        ("payment_intent.created", 200), ("charge.succeeded", 200), ("payment_intent.succeeded", 200)]
    assert [json.loads(body)["type"] for body, _ in received] == [d["type"] for d in answer.json()["deliveries"]]


def test_saved_cards_and_keys_survive_a_restart(stripe_api, api):
    customer, method = _saved_card(stripe_api, api)
    first = _reload(api, customer, method, "reload:7:8")

    restarted = Stripe()
    restarted.load_state(json.loads(json.dumps(stripe_api.state())))
    restarted.start()
    try:
        again = stripe.StripeClient(restarted.secret_key, base_addresses={"api": restarted.url}).v1
        assert again.payment_methods.retrieve(method).customer == customer
        assert _reload(again, customer, method, "reload:7:8").id == first.id  # replayed, not charged again
        assert len(again.charges.list().data) == 1
    finally:
        restarted.stop()


def test_a_state_kept_before_saved_cards_existed_loads(stripe_api, api):
    kept = json.loads(json.dumps(stripe_api.state()))
    for kind in ("setup_intent", "payment_method"):
        del kept["objects"][kind]
    del kept["idempotency"]

    restarted = Stripe()
    restarted.load_state(kept)
    restarted.start()
    try:
        again = stripe.StripeClient(restarted.secret_key, base_addresses={"api": restarted.url}).v1
        customer, method = _saved_card(restarted, again)
        assert again.payment_methods.list(params={"customer": customer}).data[0].id == method
    finally:
        restarted.stop()


def test_a_state_kept_before_products_existed_loads_with_its_prices_products(stripe_api):
    # make run's .standins/stripe.json from before: its Prices name Products it never kept.
    kept = json.loads(json.dumps(stripe_api.state()))
    del kept["objects"]["product"]

    restarted = Stripe()
    restarted.load_state(kept)
    restarted.start()
    try:
        again = stripe.StripeClient(restarted.secret_key, base_addresses={"api": restarted.url}).v1
        price = again.prices.retrieve(PRICES["STRIPE_PRICE_HISTORIAN"])
        product = again.products.retrieve(price.product)
        assert (product.name, product.default_price, product.active) == ("Historian plan", price.id, True)
    finally:
        restarted.stop()
