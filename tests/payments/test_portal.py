URL = "/api/v1/billing/portal"


def test_it_opens_the_portal_for_the_callers_customer(as_alice, alice, stripe_api):
    alice.stripe_customer_id = "cus_alice"
    alice.save()
    response = as_alice.post(URL)
    assert response.status_code == 200
    assert response.json()["url"].startswith(f"{stripe_api.url}/billing_portal/bps_")
    assert stripe_api.params(stripe_api.received("/v1/billing_portal/sessions")[0])["customer"] == "cus_alice"


def test_it_refuses_without_a_customer_yet(as_alice, stripe_api):
    response = as_alice.post(URL)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert stripe_api.received("/v1/billing_portal/sessions") == []
