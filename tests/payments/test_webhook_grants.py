
from payments.models import CreditGrant, EventState, GrantState, StripeEvent

from .conftest import completed_session, price


def test_it_grants_a_paid_checkout_once_in_flash(alice, flash, stripe_api, post_event):
    event = stripe_api.event("checkout.session.completed", completed_session(alice, "500_credits"))
    assert post_event(event).status_code == 200
    grant = CreditGrant.objects.get()
    assert (grant.state, grant.amount, grant.transaction_type) == (GrantState.APPLIED, 500, "stripe_purchase")
    assert grant.stripe_event_id == event["id"] and grant.stripe_object_id == "cs_test_1"
    assert grant.currency == "usd" and grant.money_amount == 999 and grant.source == "stripe"
    [flash_grant] = flash.grants(alice.flash_user_id)
    assert flash_grant["amount"] == 500 and flash_grant["transaction_type"] == "stripe_purchase"
    assert str(grant.id) in flash_grant["description"]
    alice.refresh_from_db()
    assert alice.stripe_customer_id == "cus_alice"


def test_it_grants_once_for_the_same_event_twice(alice, flash, stripe_api, post_event):
    event = stripe_api.event("checkout.session.completed", completed_session(alice))
    assert post_event(event).status_code == 200
    second = post_event(event)
    assert second.status_code == 200 and second.json().get("duplicate") is True
    assert CreditGrant.objects.count() == 1 and StripeEvent.objects.count() == 1
    assert len(flash.grants(alice.flash_user_id)) == 1


def test_it_grants_once_for_completed_and_async_succeeded_of_one_session(alice, flash, stripe_api, post_event):
    pending = completed_session(alice, payment_status="unpaid")
    assert post_event(stripe_api.event("checkout.session.completed", pending)).status_code == 200
    assert not CreditGrant.objects.exists()
    paid = completed_session(alice)
    assert post_event(stripe_api.event("checkout.session.async_payment_succeeded", paid)).status_code == 200
    assert post_event(stripe_api.event("checkout.session.completed", paid)).status_code == 200
    assert CreditGrant.objects.count() == 1
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]


def test_it_skips_non_credit_line_items_and_grants_the_rest(alice, flash, stripe_api, post_event):
    session = completed_session(alice, line_items={"object": "list", "data": [
        {"price": {"id": price("STRIPE_PRICE_100_CREDITS")}, "quantity": 1},
        {"price": {"id": "price_rounding_adjustment", "type": "custom"}, "quantity": 1},
    ]})
    assert post_event(stripe_api.event("checkout.session.completed", session)).status_code == 200
    event = StripeEvent.objects.get()
    assert event.state == EventState.SUCCEEDED and "price_rounding_adjustment" in event.result
    assert CreditGrant.objects.get().amount == 100
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]


def test_it_records_an_event_for_an_unknown_account_as_failed_and_answers_200(db, flash, stripe_api, post_event):
    session = completed_session(type("Nobody", (), {"pk": "00000000-0000-0000-0000-000000000000"})(),
                                customer="cus_unknown")
    assert post_event(stripe_api.event("checkout.session.completed", session)).status_code == 200
    event = StripeEvent.objects.get()
    assert event.state == EventState.FAILED and "no account" in event.result
    assert not CreditGrant.objects.exists() and flash.grants() == []


def test_it_keeps_the_grant_pending_when_flash_is_down(alice, flash, stripe_api, post_event):
    flash.fail(drop=True, times=None, path="admin/grant")  # connection lost
    assert post_event(stripe_api.event("checkout.session.completed", completed_session(alice))).status_code == 200
    grant = CreditGrant.objects.get()
    assert grant.state == GrantState.PENDING and grant.attempts == 1 and grant.last_error
