"""Deeply nested JSON in a request body is bad JSON like any other: 400
`invalid_request` on every route that reads a JSON body, never a 500, and nothing
looked up upstream, stored or forwarded."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from apikeys.models import APIKey
from payments.models import CreditGrant, StripeEvent
from tests.conftest import bearer

JSON_ROUTES = [
    ("post", "/api/v1/keys"),
    ("post", "/api/v1/generate"),
    ("post", "/api/v1/generate/stream"),
    ("post", "/api/v1/billing/checkout"),
    ("post", "/api/v1/billing/verify-receipt"),
]


def nested_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_object(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def in_every_field(value: str) -> str:
    fields = ("environment", "package", "preset", "receipt_data")
    return '{"name": "k", ' + ", ".join(f'"{name}": {value}' for name in fields) + "}"


# 10,000 levels overflow the decoder itself (RecursionError); 900 decode, then break
# whatever walks the value (a validation message's repr); 129 is just over the cap.
BODIES = {
    "array of 10,000 levels": nested_array(10_000),
    "object of 10,000 levels": nested_object(10_000),
    "a field of 900 levels": in_every_field(nested_array(900)),
    "a field of 129 levels": in_every_field(nested_object(128)),
}


def assert_invalid_request(response) -> None:
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
@pytest.mark.parametrize(("method", "path"), JSON_ROUTES, ids=[p for _, p in JSON_ROUTES])
def test_it_refuses_deeply_nested_json_with_400(standins, alice_token, method, path, body):
    client = Client(raise_request_exception=False)
    response = client.generic(method.upper(), path, body, content_type="application/json",
                              headers=bearer(alice_token))
    assert_invalid_request(response)
    assert standins["flash"].received(r"/generate|/grant") == []
    assert all(standins[name].received() == [] for name in ("stripe", "apple"))
    assert not APIKey.objects.exists() and not CreditGrant.objects.exists()


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_it_refuses_a_deeply_nested_signed_webhook_with_400(standins, db, body):
    # Stripe never sends one, but whoever holds the secret must not be able to cause a 500.
    stripe_api = standins["stripe"]
    response = Client(raise_request_exception=False).post(
        "/api/v1/billing/webhooks/stripe", body, content_type="application/json",
        headers={"Stripe-Signature": stripe_api.sign(body)})
    assert_invalid_request(response)
    assert not StripeEvent.objects.exists()


def test_it_takes_json_nested_as_deep_as_the_cap(as_alice, flash):
    body = {"query": "Rome", "preset": "balanced", "options": json.loads(nested_object(127))}
    response = as_alice.post("/api/v1/generate", body, content_type="application/json")
    assert response.status_code == 200, response.content[:300]
    assert flash.received("/generate/sync$")[0].json() == body


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_it_refuses_values_that_are_not_json(as_alice, constant, flash):
    response = as_alice.post("/api/v1/keys", '{"name": "k", "environment": "test", "n": ' + constant + "}",
                             content_type="application/json")
    assert_invalid_request(response)
    assert not APIKey.objects.exists()
