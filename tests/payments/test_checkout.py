from standins.stripe import PRICES

URL = "/api/v1/billing/checkout"


def test_it_creates_a_payment_session_for_a_package(as_alice, alice, stripe_api):
    response = as_alice.post(URL, {"package": "500_credits"}, content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["session_id"].startswith("cs_test_")
    assert body["checkout_url"] == f"{stripe_api.url}/checkout/{body['session_id']}"  # its hosted page
    [sent] = stripe_api.received("/v1/checkout/sessions")
    params = stripe_api.params(sent)
    assert params["mode"] == "payment"
    assert params["line_items"] == [{"price": PRICES["STRIPE_PRICE_500_CREDITS"], "quantity": "1"}]
    assert params["client_reference_id"] == str(alice.pk)
    assert params["metadata"] == {"account_id": str(alice.pk), "package": "500_credits", "credits": "500"}
    assert params["customer_email"] == alice.email and params["customer_creation"] == "always"
    assert params["success_url"] and params["cancel_url"]


def test_it_creates_a_subscription_session_with_metadata_on_the_subscription(as_alice, alice, stripe_api):
    alice.stripe_customer_id = "cus_alice"
    alice.save()
    response = as_alice.post(URL, {"plan": "historian"}, content_type="application/json")
    assert response.status_code == 200, response.content
    params = stripe_api.params(stripe_api.received("/v1/checkout/sessions")[0])
    assert params["mode"] == "subscription"
    assert params["customer"] == "cus_alice" and "customer_email" not in params
    assert params["line_items"][0]["price"] == PRICES["STRIPE_PRICE_HISTORIAN"]
    expected = {"account_id": str(alice.pk), "plan": "historian", "credits": "200"}
    assert params["metadata"] == expected and params["subscription_data"]["metadata"] == expected


def test_it_sends_a_subscriber_to_the_portal_instead_of_a_second_subscription(as_alice, alice, stripe_api):
    alice.plan = "explorer"
    alice.save()
    response = as_alice.post(URL, {"plan": "historian"}, content_type="application/json")
    assert response.status_code == 400 and "portal" in response.json()["error"]["message"]
    assert stripe_api.received("/v1/checkout/sessions") == []
    assert as_alice.post(URL, {"package": "100_credits"}, content_type="application/json").status_code == 200


def test_it_refuses_unknown_or_ambiguous_choices(as_alice, stripe_api):
    for body in ({"package": "1_credit"}, {"plan": "free"}, {}, {"package": "100_credits", "plan": "explorer"}):
        response = as_alice.post(URL, body, content_type="application/json")
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_request"
    assert stripe_api.received("/v1/checkout/sessions") == []


def test_it_answers_a_package_without_a_price_as_not_on_sale(as_alice, settings, stripe_api):
    settings.STRIPE_PRICE_100_CREDITS = ""
    response = as_alice.post(URL, {"package": "100_credits"}, content_type="application/json")
    assert response.status_code == 400 and "not on sale" in response.json()["error"]["message"]


def test_it_maps_stripe_outages_and_errors_to_the_envelope(as_alice, stripe_api):
    stripe_api.fail(500, body={"error": {"type": "api_error", "message": "boom"}}, times=None)
    response = as_alice.post(URL, {"package": "100_credits"}, content_type="application/json")
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_error"
    stripe_api.reset()
    stripe_api.fail(drop=True, times=None)
    response = as_alice.post(URL, {"package": "100_credits"}, content_type="application/json")
    assert response.status_code == 503 and response.json()["error"]["code"] == "upstream_unavailable"


def test_it_needs_a_caller(db, client):
    assert client.post(URL, {"package": "100_credits"}, content_type="application/json").status_code == 401
