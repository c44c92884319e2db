"""With every logger at DEBUG (SQL, urllib3 and stripe included), a journey through
every kind of credential and upstream, good and failing, writes no secret into any
log line. (tests/accounts/test_secrets_in_logs.py covers the identity endpoints.)"""

from __future__ import annotations

import base64
import logging

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.accounts.test_secrets_in_logs import every_log_text
from tests.conftest import bearer
from tests.payments.conftest import WEBHOOK, committed, completed_session

NOISY = ["urllib3", "django.db.backends", "django.request", "django.security", "stripe", "requests"]


def test_no_secret_reaches_a_log_line_at_debug(caplog, standins, settings, alice):
    flash, clockchain, auth0, stripe_api, apple = (standins[n] for n in ("flash", "clockchain", "auth0", "stripe",
                                                                          "apple"))
    caplog.set_level(logging.DEBUG)
    for name in NOISY:
        caplog.set_level(logging.DEBUG, logger=name)
    client = Client()
    token = auth0.mint(alice.external_id)
    with CaptureQueriesContext(connection), committed():  # SQL is logged only while captured
        session = client.post("/api/v1/auth/login", headers=bearer(token)).json()["session_token"]
        key = client.post("/api/v1/keys", {"name": "k", "environment": "live"}, content_type="application/json",
                          headers=bearer(session)).json()["key"]
        client.post("/api/v1/generate", {"query": "rome"}, content_type="application/json", headers=bearer(key))
        flash.fail(500, body={"detail": "boom"})
        client.get("/api/v1/credits/balance", headers=bearer(key))
        client.get("/api/v1/today", headers=bearer(session))
        client.get("/api/v1/keys", headers=bearer(key[:-1] + "x"))
        client.get("/api/v1/auth/me", headers=bearer(auth0.mint(alice.external_id, expires_in=-600)))
        client.post("/api/v1/billing/checkout", {"package": "100_credits"}, content_type="application/json",
                    headers=bearer(token))
        body, headers = stripe_api.signed(stripe_api.event("checkout.session.completed", completed_session(alice)))
        flash.fail(500, times=1, path="/credits/admin/grant")  # the grant is retried, not lost
        client.post(WEBHOOK, data=body, content_type="application/json", headers=headers)
        receipt = base64.b64encode(b"receipt-r1").decode()
        apple.add_receipt(receipt, [{"product_id": "com.timepointai.credits.100", "transaction_id": "1000000009",
                                     "purchase_date_ms": "1700000000000"}])
        client.post("/api/v1/billing/verify-receipt", {"receipt_data": receipt}, content_type="application/json",
                    headers=bearer(session))
        client.post("/api/v1/auth/logout", headers=bearer(session))

    assert flash.received("/credits/admin/grant"), "the journey should have reached Flash's admin grant"
    assert apple.received("/verifyReceipt"), "the journey should have reached Apple"
    logs = every_log_text(caplog)
    assert "SELECT" in logs and "127.0.0.1" in logs, "SQL and urllib3 should have logged at DEBUG"
    secrets = {
        "Flash service key": flash.service_key, "Flash admin key": flash.admin_key,
        "Clockchain service key": clockchain.service_key, "Stripe secret key": settings.STRIPE_SECRET_KEY,
        "Stripe webhook secret": stripe_api.webhook_secret, "Apple shared secret": apple.shared_secret,
        "Auth0 client secret": auth0.client_secret, "API key": key, "session token": session, "Auth0 token": token,
        "Auth0 token's signature": token.rsplit(".", 1)[1],
    }
    assert all(secrets.values())
    leaked = [name for name, secret in secrets.items() if secret in logs]
    assert leaked == []
