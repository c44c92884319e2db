"""API keys may not call /api/v1/billing/* (CONTRACT.md §5): account, money and payment
settings are for signed-in people only. The public plans list and the Stripe webhook
take no credential at all."""

import json

import pytest
from django.test import Client
from django.urls import URLPattern

from payments import urls as billing_urls
from tests.conftest import bearer

from .conftest import committed

PUBLIC = {"billing-plans", "billing-webhook-stripe"}
BODIES = {
    "billing-checkout": {"package": "100_credits"},
    "billing-verify-receipt": {"receipt_data": "cmVjZWlwdA=="},
    "billing-auto-reload": {"enabled": False, "threshold": 5},
}


def _routes() -> list[tuple[str, str, str]]:
    """(name, method, path) of every billing route that takes a credential, read from
    the URL configuration so that a route added later is covered too."""
    routes = []
    for pattern in billing_urls.urlpatterns:
        assert isinstance(pattern, URLPattern) and "<" not in str(pattern.pattern), pattern
        if pattern.name in PUBLIC:
            continue
        view = pattern.callback.view_class
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method):
                routes.append((pattern.name, method, "/api/v1/billing/" + str(pattern.pattern)))
    return routes


ROUTES = _routes()


def test_it_covers_every_signed_in_billing_route():
    assert {name for name, _, _ in ROUTES} >= {"billing-checkout", "billing-portal", "billing-verify-receipt",
                                                   "billing-auto-reload", "billing-payment-method"}


@pytest.fixture
def keys(as_alice, alice) -> dict[str, str]:
    made = {}
    for environment in ("live", "test"):
        response = as_alice.post("/api/v1/keys", {"name": f"ci {environment}", "environment": environment},
                                 content_type="application/json")
        assert response.status_code == 201, response.content
        made[environment] = response.json()["key"]
    return made


@pytest.mark.parametrize("environment", ["live", "test"])
@pytest.mark.parametrize(("name", "method", "path"), ROUTES, ids=[f"{m} {p}" for _, m, p in ROUTES])
def test_it_refuses_api_keys_on_billing_routes(keys, alice, stripe_api, apple, environment, name, method, path):
    alice.stripe_customer_id = "cus_alice"  # the portal would otherwise refuse for want of a customer
    alice.save()
    client = Client(headers=bearer(keys[environment]))
    body = {} if method == "get" else {"data": json.dumps(BODIES.get(name, {})), "content_type": "application/json"}
    with committed():
        response = getattr(client, method)(path, **body)
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "forbidden"
    assert stripe_api.received() == [] and apple.received() == []


def test_a_refused_request_still_counts_toward_the_keys_rate_limit(keys):
    client = Client(headers=bearer(keys["live"]))
    for _ in range(10):  # the free tier's requests per minute
        assert client.post("/api/v1/billing/portal").status_code == 403
    assert client.get("/api/v1/credits/balance").status_code == 429


def test_a_signed_in_person_still_opens_the_billing_portal(as_alice, alice, stripe_api):
    alice.stripe_customer_id = "cus_alice"
    alice.save()
    response = as_alice.post("/api/v1/billing/portal")
    assert response.status_code == 200 and response.json()["url"]


def test_the_plans_list_and_webhook_take_no_credential(keys, stripe_api):
    assert Client(headers=bearer(keys["live"])).get("/api/v1/billing/plans").status_code == 200
    body, headers = stripe_api.signed(stripe_api.event("customer.created", {"id": "cus_x", "object": "customer"}))
    response = Client().post("/api/v1/billing/webhooks/stripe", data=body, content_type="application/json",
                             headers=headers)
    assert response.status_code == 200
