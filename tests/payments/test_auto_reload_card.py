"""POST /api/v1/billing/payment-method and setup_intent.succeeded (CONTRACT.md §9): a
card saved through Checkout in setup mode becomes the account's auto-reload card."""

from payments.models import AutoReload, StripeEvent

from .reloads import AUTO_RELOAD, PAYMENT_METHOD, save_card


def test_it_starts_a_setup_mode_checkout_on_the_stand_in(as_alice, alice, stripe_api):
    response = as_alice.post(PAYMENT_METHOD)
    assert response.status_code == 200
    body = response.json()
    assert body["checkout_url"] == f"{stripe_api.url}/checkout/{body['session_id']}"
    session = stripe_api.sessions[body["session_id"]]
    assert session["mode"] == "setup" and session["customer_creation"] == "always"
    assert session["metadata"]["account_id"] == str(alice.pk)
    assert session["setup_intent_data"]["metadata"]["account_id"] == str(alice.pk)


def test_it_stores_the_cards_brand_and_last4_from_the_payment_method(as_alice, alice, stripe_api):
    session = save_card(as_alice, stripe_api, card="5555555555554444")
    assert as_alice.get(AUTO_RELOAD).json()["payment_method"] == {"brand": "mastercard", "last4": "4444"}
    saved = AutoReload.objects.get(account=alice)
    intent = stripe_api.get(session["setup_intent"])
    assert saved.payment_method_id == intent["payment_method"] and saved.stripe_customer_id == session["customer"]
    alice.refresh_from_db()
    assert alice.stripe_customer_id == session["customer"]
    assert StripeEvent.objects.get(type="setup_intent.succeeded").state == "succeeded"


def test_it_reuses_the_accounts_stripe_customer(as_alice, alice, stripe_api):
    stripe_api.add_customer(alice.email, customer_id="cus_alice")
    alice.stripe_customer_id = "cus_alice"
    alice.save()
    save_card(as_alice, stripe_api)
    assert AutoReload.objects.get(account=alice).stripe_customer_id == "cus_alice"
    assert stripe_api.get(AutoReload.objects.get(account=alice).payment_method_id)["customer"] == "cus_alice"


def test_it_stores_the_card_once_when_the_event_arrives_twice(as_alice, alice, stripe_api):
    save_card(as_alice, stripe_api)
    event = stripe_api.events_of("setup_intent.succeeded")[0]
    assert stripe_api.deliver(event["id"]) == 200
    assert StripeEvent.objects.filter(type="setup_intent.succeeded").count() == 1


def test_a_new_card_replaces_the_old_one_and_clears_the_last_error(as_alice, alice, stripe_api):
    save_card(as_alice, stripe_api)
    AutoReload.objects.filter(account=alice).update(last_error="Your card was declined.")
    save_card(as_alice, stripe_api, card="5555555555554444")
    body = as_alice.get(AUTO_RELOAD).json()
    assert body["payment_method"]["last4"] == "4444" and body["last_error"] is None


def test_a_body_that_is_not_json_is_400_and_starts_no_setup(as_alice, stripe_api):
    # CONTRACT.md §3: bad JSON is 400 invalid_request, on a route that needs no body too.
    response = as_alice.post(PAYMENT_METHOD, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert stripe_api.sessions == {}
