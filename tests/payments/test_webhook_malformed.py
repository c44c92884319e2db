"""A verified event whose object carries fields of unexpected types (metadata that is
a string, a list where an id or a status belongs, an amount that is not a number) is
stored as failed with the field named, and Stripe gets 200: redelivering the same
payload cannot succeed. Nothing of it is written: no grant, no customer linked."""

from __future__ import annotations

import pytest

from payments.models import CreditGrant, EventState, StripeEvent

from .conftest import completed_session, price

AUTO_RELOAD = {"auto_reload": "1", "package": "100_credits"}


def _session(account: str, **fields) -> dict:
    return {"id": "cs_a1", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
            "customer": "cus_other", "metadata": {"account_id": account, "package": "100_credits"},
            "amount_total": 999, "currency": "usd", **fields}


def _invoice(account: str, **fields) -> dict:
    details = {"subscription": "sub_1", "metadata": {"account_id": account}}
    return {"id": "in_1", "object": "invoice", "customer": "cus_other", "amount_paid": 1499, "currency": "usd",
            "parent": {"type": "subscription_details", "subscription_details": details},
            "lines": {"data": [{"price": {"id": price("STRIPE_PRICE_HISTORIAN")}, "quantity": 1}]}, **fields}


def _intent(account: str, **fields) -> dict:
    return {"id": "pi_a9", "object": "payment_intent", "customer": "cus_other", "amount": 999, "currency": "usd",
            "metadata": {**AUTO_RELOAD, "account_id": account}, **fields}


# (event type, the object given the account's id, what the event's result names)
MALFORMED = {
    "checkout metadata a string": ("checkout.session.completed", lambda a: {
        "id": "cs_a1", "mode": "payment", "payment_status": "paid", "metadata": "str"}, "metadata is a string"),
    "checkout package a list": ("checkout.session.completed", lambda a: _session(
        a, metadata={"account_id": a, "package": ["x"]}), "metadata.package is a list"),
    "checkout account_id a list": ("checkout.session.async_payment_succeeded", lambda a: _session(
        a, metadata={"account_id": [a], "package": "100_credits"}), "metadata.account_id is a list"),
    "checkout mode a list": ("checkout.session.completed", lambda a: _session(a, mode=["setup"]), "mode is a list"),
    "checkout payment_status an object": ("checkout.session.completed", lambda a: _session(
        a, payment_status={"paid": True}), "payment_status is an object"),
    "checkout id a list": ("checkout.session.completed", lambda a: _session(a, id=["cs_a1"]), "id is a list"),
    "checkout amount a string": ("checkout.session.completed", lambda a: _session(
        a, amount_total="nine"), "amount_total is a string"),
    "checkout currency a list": ("checkout.session.completed", lambda a: _session(
        a, currency=["usd"]), "currency is a list"),
    "checkout line item a string": ("checkout.session.completed", lambda a: _session(
        a, line_items={"data": [price("STRIPE_PRICE_100_CREDITS")]}), "line_items.data[0] is a string"),
    "checkout quantity a string": ("checkout.session.completed", lambda a: _session(
        a, line_items={"data": [{"price": price("STRIPE_PRICE_100_CREDITS"), "quantity": "lots"}]}),
        "quantity is a string"),
    "invoice lines a string": ("invoice.paid", lambda a: _invoice(a, lines={"data": "str"}),
                               "lines.data is a string"),
    "invoice metadata a string": ("invoice.paid", lambda a: _invoice(a, parent={"subscription_details": {
        "subscription": "sub_1", "metadata": "str"}}), "subscription_details.metadata is a string"),
    "invoice quantity a list": ("invoice.paid", lambda a: _invoice(a, lines={"data": [
        {"price": price("STRIPE_PRICE_HISTORIAN"), "quantity": [2]}]}), "quantity is a list"),
    "invoice amount out of range": ("invoice.paid", lambda a: _invoice(a, amount_paid=10**20), "out of range"),
    "subscription status a list": ("customer.subscription.updated", lambda a: {
        "id": "sub_1", "customer": "cus_other", "metadata": {"account_id": a}, "status": ["active"]},
        "status is a list"),
    "subscription metadata a string": ("customer.subscription.created", lambda a: {
        "id": "sub_1", "customer": "cus_other", "metadata": "str", "status": "active"}, "metadata is a string"),
    "subscription items a string": ("customer.subscription.updated", lambda a: {
        "id": "sub_1", "customer": "cus_other", "metadata": {"account_id": a}, "status": "active",
        "items": {"data": "str"}}, "items.data is a string"),
    "refund amount a string": ("charge.refunded", lambda a: {
        "id": "ch_1", "payment_intent": "pi_cs_test_1", "amount": 999, "amount_refunded": "999"},
        "amount_refunded is a string"),
    "refund amount out of range": ("charge.refunded", lambda a: {
        "id": "ch_1", "payment_intent": "pi_cs_test_1", "amount": 999, "amount_refunded": 10**20}, "out of range"),
    "dispute amount a string": ("charge.dispute.created", lambda a: {
        "id": "dp_1", "payment_intent": "pi_cs_test_1", "amount": "999"}, "amount is a string"),
    "dispute status a list": ("charge.dispute.closed", lambda a: {
        "id": "dp_1", "payment_intent": "pi_cs_test_1", "status": ["won"]}, "status is a list"),
    "setup intent metadata a string": ("setup_intent.succeeded", lambda a: {
        "id": "seti_1", "customer": "cus_other", "payment_method": "pm_1", "metadata": "s"},
        "metadata is a string"),
    "payment intent metadata a string": ("payment_intent.succeeded", lambda a: {"id": "pi_a9", "metadata": "s"},
                                         "metadata is a string"),
    "failed payment intent metadata a string": ("payment_intent.payment_failed", lambda a: {
        "id": "pi_a9", "metadata": "s"}, "metadata is a string"),
    "reload package a list": ("payment_intent.succeeded", lambda a: _intent(
        a, metadata={"auto_reload": "1", "account_id": a, "package": ["100_credits"]}), "metadata.package is a list"),
    "reload amount a string": ("payment_intent.succeeded", lambda a: _intent(a, amount_received="lots"),
                               "amount_received is a string"),
    "reload error a string": ("payment_intent.payment_failed", lambda a: _intent(a, last_payment_error="boom"),
                              "last_payment_error is a string"),
}


@pytest.mark.parametrize("event_type, make, reason", MALFORMED.values(), ids=MALFORMED.keys())
def test_it_records_a_malformed_event_as_failed_and_answers_200(alice, flash, stripe_api, post_event,
                                                                 event_type, make, reason):
    # A purchase first (payment intent pi_cs_test_1), so that refunds and disputes find
    # the grant they would reverse.
    assert post_event(stripe_api.event("checkout.session.completed", completed_session(alice))).status_code == 200
    purchase = CreditGrant.objects.get()

    event = stripe_api.event(event_type, make(str(alice.pk)))
    response = post_event(event)

    assert response.status_code == 200, response.content
    assert response.json() == {"received": True}
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert stored.state == EventState.FAILED and reason in stored.result, stored.result
    assert list(CreditGrant.objects.all()) == [purchase]
    alice.refresh_from_db()
    assert alice.stripe_customer_id == "cus_alice" and alice.plan == "free"


def test_it_refuses_an_event_whose_id_is_too_long_to_store(alice, stripe_api, post_event):
    event = stripe_api.event("checkout.session.completed", _session(str(alice.pk)), event_id="evt_" + "x" * 300)
    response = post_event(event)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert not StripeEvent.objects.exists() and not CreditGrant.objects.exists()


def test_it_grants_an_event_whose_payload_holds_a_nul_character(alice, flash, stripe_api, post_event):
    # PostgreSQL's jsonb holds no \u0000: a customer's name typed with one must not make
    # the paid event fail to be stored (a 500, redelivered in vain).
    session = completed_session(alice, customer_details={"name": "Ada\u0000 Lovelace"})
    response = post_event(stripe_api.event("checkout.session.completed", session))
    assert response.status_code == 200, response.content
    assert CreditGrant.objects.get().amount == 100


def test_it_grants_an_event_whose_payload_holds_a_lone_surrogate(alice, flash, stripe_api, post_event):
    # "\ud800" is a legal JSON escape that jsonb refuses (and UTF-8 cannot encode): the
    # paid event must not fail to be stored for a customer's name holding one.
    session = completed_session(alice, customer_details={"name": "Ada\ud800 Lovelace"})
    response = post_event(stripe_api.event("checkout.session.completed", session))
    assert response.status_code == 200, response.content
    assert CreditGrant.objects.get().amount == 100
