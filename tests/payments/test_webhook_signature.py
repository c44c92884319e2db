import json
import time

from django.test import Client

from payments.models import CreditGrant, StripeEvent

from .conftest import WEBHOOK, completed_session


def _post(body: str, headers: dict) -> object:
    return Client().post(WEBHOOK, data=body, content_type="application/json", headers=headers)


def test_it_refuses_a_missing_signature(alice, stripe_api):
    body = json.dumps(stripe_api.event("checkout.session.completed", completed_session(alice)))
    response = _post(body, {})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_signature"
    assert not StripeEvent.objects.exists() and not CreditGrant.objects.exists()


def test_it_refuses_a_signature_with_another_secret(alice, stripe_api):
    body, headers = stripe_api.signed(stripe_api.event("checkout.session.completed", completed_session(alice)),
                                      secret="whsec_not_ours")
    assert _post(body, headers).status_code == 400
    assert not StripeEvent.objects.exists()


def test_it_refuses_a_tampered_body(alice, stripe_api):
    body, headers = stripe_api.signed(stripe_api.event("checkout.session.completed", completed_session(alice)))
    assert _post(body.replace('"100_credits"', '"500_credits"'), headers).status_code == 400
    assert not CreditGrant.objects.exists()


def test_it_refuses_a_stale_signature(alice, stripe_api):
    event = stripe_api.event("checkout.session.completed", completed_session(alice))
    body, headers = stripe_api.signed(event, timestamp=int(time.time()) - 301)
    assert _post(body, headers).status_code == 400
    assert not StripeEvent.objects.exists()


def test_it_accepts_a_fresh_signature_and_ignores_other_event_types(alice, stripe_api):
    body, headers = stripe_api.signed(stripe_api.event("customer.created", {"id": "cus_1", "object": "customer"}))
    response = _post(body, headers)
    assert response.status_code == 200 and response.json()["received"] is True
    assert not StripeEvent.objects.exists()
