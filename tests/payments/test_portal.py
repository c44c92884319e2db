import pytest

URL = "/api/v1/billing/portal"


@pytest.fixture
def customer(alice):
    """Alice after a first purchase: Stripe knows her as a customer."""
    alice.stripe_customer_id = "cus_alice"
    alice.save()
    return alice


def test_it_opens_the_portal_for_the_callers_customer(as_alice, customer, stripe_api):
    response = as_alice.post(URL)
    assert response.status_code == 200
    assert response.json()["url"].startswith(f"{stripe_api.url}/billing_portal/bps_")
    assert stripe_api.params(stripe_api.received("/v1/billing_portal/sessions")[0])["customer"] == "cus_alice"


def test_it_refuses_without_a_customer_yet(as_alice, stripe_api):
    response = as_alice.post(URL)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert stripe_api.received("/v1/billing_portal/sessions") == []


def test_it_refuses_a_body_that_is_not_json_and_opens_no_portal(as_alice, customer, stripe_api):
    # CONTRACT.md §3: bad JSON is 400 invalid_request, on a route that needs no body too.
    response = as_alice.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert stripe_api.received("/v1/billing_portal/sessions") == []


def test_it_ignores_a_body_of_another_type(as_alice, customer, stripe_api):
    assert as_alice.post(URL, "anything", content_type="text/plain").status_code == 200
