"""Every endpoint that takes a body refuses one above MAX_REQUEST_BODY_BYTES with 413
and the envelope, before anything is parsed, stored or forwarded.
(tests/foundation/test_errors.py shows the rule on a test view; this sweeps the real ones.)"""

from __future__ import annotations

import pytest
from django.test import Client

from apikeys.models import APIKey
from payments.models import CreditGrant, StripeEvent
from tests.conftest import bearer

BODY_ROUTES = [
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/keys"),
    ("post", "/api/v1/generate"),
    ("post", "/api/v1/generate/stream"),
    ("patch", "/api/v1/timepoints/tp-1/visibility"),
    ("post", "/api/v1/billing/checkout"),
    ("post", "/api/v1/billing/portal"),
    ("post", "/api/v1/billing/verify-receipt"),
    ("post", "/api/v1/billing/webhooks/stripe"),
]


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES, ids=[p for _, p in BODY_ROUTES])
def test_it_refuses_oversized_bodies_everywhere(standins, alice_token, settings, method, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    body = b'{"name": "k", "query": "' + b"x" * 5000 + b'"}'
    response = Client().generic(method.upper(), path, body, content_type="application/json",
                                headers={**bearer(alice_token), "Stripe-Signature": "t=1,v1=0"})
    assert response.status_code == 413, response.content[:300]
    assert response.json()["error"]["code"] == "request_too_large"
    assert all(s.received(r"^/api/v1/(?!users/resolve)") == [] for s in standins.values())
    assert not APIKey.objects.exists() and not StripeEvent.objects.exists() and not CreditGrant.objects.exists()
