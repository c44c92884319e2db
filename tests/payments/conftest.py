from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core.management import CommandError, call_command
from django.db import DEFAULT_DB_ALIAS
from django.test import Client, TestCase

from payments import grants
from payments.models import Difference, ReconciliationRun
from standins.apple import Apple
from standins.stripe import PRICES, Stripe

WEBHOOK = "/api/v1/billing/webhooks/stripe"


@pytest.fixture
def stripe_api(standins: dict) -> Stripe:
    return standins["stripe"]


@pytest.fixture
def apple(standins: dict) -> Apple:
    return standins["apple"]


@pytest.fixture(autouse=True)
def _fast_retries(settings, monkeypatch) -> None:
    # Retries are due at once, so tests run the worker without waiting.
    settings.PAYMENTS_GRANT_BACKOFF_BASE = 0
    monkeypatch.setattr(grants, "INLINE_TIMEOUT", 0.5)
    settings.UPSTREAM_READ_TIMEOUT = 0.5


def committed():
    """Run on_commit hooks (the first delivery attempt) when the block ends, as a real
    commit would: tests stay in a rolled-back transaction, which is much faster on
    PostgreSQL than flushing dj-stripe's hundred tables after each test."""
    return TestCase.captureOnCommitCallbacks(using=DEFAULT_DB_ALIAS, execute=True)


@dataclass
class Outcome:
    """What `manage.py reconcile_ledger` ended with: its exit code and what it printed."""

    code: int
    output: str

    def kinds(self) -> list[str]:
        """The kinds of difference the (first) run found."""
        return sorted(Difference.objects.filter(runs=ReconciliationRun.objects.first()).values_list("kind", flat=True))


@pytest.fixture
def reconcile(settings) -> Callable[..., Outcome]:
    settings.PAYMENTS_RECONCILE_GRACE_SECONDS = 0  # a webhook is not "still on its way" here

    def run(*args: str) -> Outcome:
        out = io.StringIO()
        try:
            with committed():  # a repaired grant's first delivery happens, as after a commit
                call_command("reconcile_ledger", *args, stdout=out)
        except CommandError as exc:
            return Outcome(exc.returncode, out.getvalue() + str(exc))
        return Outcome(0, out.getvalue())

    return run


@pytest.fixture
def operator(db) -> Client:
    """An operator signed in to the admin (a superuser)."""
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-123"))
    return client


@pytest.fixture(autouse=True)
def _events_reach_the_gateway(stripe_api: Stripe) -> None:
    """What the Stripe stand-in delivers (a completed Checkout, a refund…) reaches this
    process's gateway through the test client, inside the test's transaction, as
    Stripe's deliveries reach ours."""

    def transport(body: bytes, headers: dict[str, str]) -> int:
        with committed():
            return Client().post(WEBHOOK, data=body, content_type="application/json",
                                 headers={"Stripe-Signature": headers["Stripe-Signature"]}).status_code

    stripe_api.transport = transport


@pytest.fixture
def buy(stripe_api: Stripe) -> Callable:
    """`buy(client, package, deliver=True)`: a checkout through the gateway, paid on the
    stand-in's page; returns the completed session (`deliver=False` loses its webhooks)."""

    def purchase(client: Client, package: str = "100_credits", deliver: bool = True) -> dict:
        response = client.post("/api/v1/billing/checkout", {"package": package}, content_type="application/json")
        assert response.status_code == 200, response.content
        return stripe_api.pay(response.json()["session_id"], deliver=deliver)

    return purchase


@pytest.fixture
def post_event(stripe_api: Stripe) -> Callable:
    def post(event: dict, client: Client | None = None, **sign) -> object:
        body, headers = stripe_api.signed(event, **sign)
        with committed():
            return (client or Client()).post(WEBHOOK, data=body, content_type="application/json", headers=headers)

    return post


def completed_session(account, package: str = "100_credits", session_id: str = "cs_test_1", **extra) -> dict:
    credits = {"100_credits": 100, "500_credits": 500}[package]
    session = {
        "id": session_id, "object": "checkout.session", "mode": "payment", "payment_status": "paid",
        "status": "complete", "client_reference_id": str(account.pk), "customer": "cus_alice",
        "metadata": {"account_id": str(account.pk), "package": package, "credits": str(credits)},
        "amount_total": 999, "currency": "usd", "payment_intent": "pi_" + session_id,
    }
    session.update(extra)
    return session


def price(name: str) -> str:
    return PRICES[name]


def wait_for(condition: Callable[[], bool], deadline: float = 5.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def dumps(obj: dict) -> str:
    return json.dumps(obj)
