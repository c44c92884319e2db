"""Stripe's answer to an auto-reload (CONTRACT.md §9): payment_intent.succeeded grants
the package once through the grant ledger; payment_intent.payment_failed turns
auto-reload off with the reason and emails the account, once."""

from django.core import mail

from payments.models import AutoReload, CreditGrant, GrantSource, Reload, ReloadStatus, StripeEvent

from .conftest import committed
from .reloads import AUTO_RELOAD, save_card, turn_on


def failed_intent(intent_id: str, account, customer: str, decline_code: str, message: str) -> dict:
    """An auto-reload payment intent of 100 credits as Stripe sends it when the card declined."""
    return {"id": intent_id, "object": "payment_intent", "status": "requires_payment_method",
            "amount": 999, "currency": "usd", "customer": customer,
            "metadata": {"account_id": str(account.pk), "package": "100_credits", "credits": "100",
                         "auto_reload": "1"},
            "last_payment_error": {"code": "card_declined", "decline_code": decline_code, "message": message}}


def read_balance(client) -> None:
    with committed():
        assert client.get("/api/v1/credits/balance").status_code == 200


def test_it_grants_once_when_payment_intent_succeeded_arrives_twice(as_alice, alice, flash, stripe_api):
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=150)
    read_balance(as_alice)
    stripe_api.deliver_pending()
    [event] = stripe_api.events_of("payment_intent.succeeded")
    assert stripe_api.deliver(event["id"]) == 200  # Stripe's retry
    grant = CreditGrant.objects.get()
    intent = event["data"]["object"]
    assert (grant.amount, grant.transaction_type, grant.source) == (100, "stripe_purchase", GrantSource.STRIPE)
    assert grant.idempotency_key == f"stripe:payment_intent:{intent['id']}"
    assert grant.stripe_payment_intent_id == intent["id"] and grant.stripe_object_id == intent["id"]
    assert (grant.money_amount, grant.currency, grant.product) == (999, "usd", "100_credits")
    assert grant.stripe_customer_id == intent["customer"] and grant.stripe_event_id == event["id"]
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]
    assert flash.balance_of(alice.flash_user_id) == 200
    assert Reload.objects.get().grant == grant
    assert StripeEvent.objects.filter(type="payment_intent.succeeded").count() == 1


def test_a_checkouts_own_payment_intent_events_are_left_to_its_session(as_alice, alice, flash, buy):
    buy(as_alice, "100_credits")
    assert not StripeEvent.objects.filter(type__startswith="payment_intent.").exists()
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]


def test_a_checkouts_payment_intent_never_pays_a_pending_reload(as_alice, alice, flash, stripe_api, buy):
    """A reload whose Stripe answer was lost waits, unlinked, for its payment intent; a
    Checkout purchase's payment_intent.succeeded (no auto_reload metadata) carries the
    same account and package, and must not be taken for it."""
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=150)
    stripe_api.fail(503, times=10, path=r"^/v1/payment_intents$")
    read_balance(as_alice)
    reload = Reload.objects.get()
    assert (reload.status, reload.payment_intent_id, reload.grant) == (ReloadStatus.PENDING, "", None)

    session = buy(as_alice, "100_credits")
    [delivered] = [d for d in stripe_api.deliveries if d["type"] == "payment_intent.succeeded"]
    assert delivered["status"] == 200
    reload.refresh_from_db()
    assert (reload.status, reload.payment_intent_id, reload.grant) == (ReloadStatus.PENDING, "", None)
    [grant] = CreditGrant.objects.all()
    assert grant.stripe_payment_intent_id == session["payment_intent"] and grant.source == GrantSource.STRIPE
    assert grant.idempotency_key != f"stripe:payment_intent:{session['payment_intent']}"
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]


def test_a_declined_reload_turns_it_off_records_why_and_emails_once(as_alice, alice, flash, stripe_api):
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=150)
    stripe_api.next_payment("decline", decline_code="insufficient_funds")
    read_balance(as_alice)
    stripe_api.deliver_pending()  # payment_intent.payment_failed after the API's 402
    reload = Reload.objects.get()
    assert reload.status == ReloadStatus.FAILED and reload.payment_intent_id
    body = as_alice.get(AUTO_RELOAD).json()
    assert body["enabled"] is False and "insufficient funds" in body["last_error"]
    assert body["reloads_this_month"] == 0
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [alice.email]
    assert "auto-reload" in mail.outbox[0].subject.lower() and "insufficient funds" in mail.outbox[0].body
    assert not CreditGrant.objects.exists() and flash.balance_of(alice.flash_user_id) == 100


def test_a_card_that_refuses_off_session_payments_turns_it_off(as_alice, alice, stripe_api):
    save_card(as_alice, stripe_api, card="4000002760003184")
    turn_on(as_alice, threshold=150)
    read_balance(as_alice)
    assert AutoReload.objects.get(account=alice).enabled is False
    assert "authentication_required" in AutoReload.objects.get(account=alice).last_error
    assert len(mail.outbox) == 1


def test_the_failure_webhook_alone_turns_it_off_when_the_api_answer_was_lost(as_alice, alice, stripe_api,
                                                                             post_event):
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=150)
    stripe_api.fail(503, times=10, path=r"^/v1/payment_intents$")
    read_balance(as_alice)
    reload = Reload.objects.get()
    event = stripe_api.event("payment_intent.payment_failed", failed_intent(
        "pi_lost_answer", alice, reload.stripe_customer_id, "expired_card", "Your card has expired."))
    assert post_event(event).status_code == 200
    assert post_event(event).status_code == 200
    reload.refresh_from_db()
    assert reload.status == ReloadStatus.FAILED and reload.payment_intent_id == "pi_lost_answer"
    assert "expired" in AutoReload.objects.get(account=alice).last_error
    assert len(mail.outbox) == 1


def test_turning_it_on_again_after_a_failure_charges_again(as_alice, alice, flash, stripe_api):
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=150)
    stripe_api.next_payment("decline")
    read_balance(as_alice)
    stripe_api.deliver_pending()
    assert turn_on(as_alice, threshold=150)["last_error"] is None
    read_balance(as_alice)
    stripe_api.deliver_pending()
    assert Reload.objects.filter(status=ReloadStatus.SUCCEEDED).count() == 1
    assert flash.balance_of(alice.flash_user_id) == 200


def test_a_failure_no_reload_matches_still_turns_it_off_and_emails_once(as_alice, alice, stripe_api, post_event):
    # A payment intent billing holds no reload for (made before a database restore, or at
    # Stripe by hand with the metadata): CONTRACT.md §9's rule holds all the same.
    save_card(as_alice, stripe_api)
    turn_on(as_alice, threshold=10)
    event = stripe_api.event("payment_intent.payment_failed", failed_intent(
        "pi_unmatched", alice, "cus_unknown", "stolen_card", "Your card was declined."))
    assert post_event(event).status_code == 200
    assert post_event(event).status_code == 200  # Stripe's retry

    body = as_alice.get(AUTO_RELOAD).json()
    assert body["enabled"] is False and "declined" in body["last_error"]
    assert not Reload.objects.exists()
    assert len(mail.outbox) == 1 and "100 credits" in mail.outbox[0].body
