"""Flash down, slow, or answering 5xx, during each thing billing asks of it: the
caller gets the contract's status and envelope (503 / 504 / 502), never a 500,
nothing is left half-made, no paid grant is lost or doubled, and the next request
after Flash recovers just works.

Single cases are in tests/relay/test_upstream_failures.py and
tests/accounts/test_first_sight.py; this is the matrix."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Account
from payments import grants
from payments.models import CreditGrant, GrantState
from tests.conftest import bearer
from tests.payments.conftest import WEBHOOK, committed, completed_session, wait_for

FAULTS = {
    "down": (503, "upstream_unavailable"),
    "slow": (504, "upstream_timeout"),
    "5xx": (502, "upstream_error"),
}


@pytest.fixture(autouse=True)
def _short_timeouts(settings, monkeypatch):
    settings.UPSTREAM_READ_TIMEOUT = 0.3
    settings.GENERATION_TIMEOUT = 0.3
    monkeypatch.setattr(grants, "INLINE_TIMEOUT", 0.3)
    settings.PAYMENTS_GRANT_BACKOFF_BASE = 0


def break_flash(flash, fault: str, path: str) -> None:
    if fault == "down":
        flash.down()
    elif fault == "slow":
        flash.fail(None, delay=1.0, times=None, path=path)
    else:
        flash.fail(503 if path.endswith("balance") else 500, times=None, path=path)


def heal(flash) -> None:
    with flash.lock:
        flash.faults.clear()
    flash.up()


CALLS = {
    "generation": ("post", "/api/v1/generate", r"/generate/sync$"),
    "streamed generation": ("post", "/api/v1/generate/stream", r"/generate/stream$"),
    "balance read": ("get", "/api/v1/credits/balance", r"/credits/balance$"),
    "history read": ("get", "/api/v1/credits/history", r"/credits/history$"),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("call", CALLS)
def test_relayed_calls_fail_cleanly_and_recover(as_alice, alice, flash, fault, call):
    method, path, flash_path = CALLS[call]
    break_flash(flash, fault, flash_path)
    response = getattr(as_alice, method)(path, {"query": "rome"}, content_type="application/json")
    assert (response.status_code, response.json()["error"]["code"]) == FAULTS[fault]
    assert "Traceback" not in response.content.decode()
    heal(flash)
    again = getattr(as_alice, method)(path, {"query": "rome"}, content_type="application/json")
    assert again.status_code == 200


@pytest.mark.parametrize("fault", FAULTS)
def test_a_first_sight_fails_cleanly_keeps_nothing_and_recovers(db, auth0, flash, fault):
    token = auth0.mint("auth0|newcomer")
    break_flash(flash, fault, r"/users/resolve$")
    response = Client().get("/api/v1/auth/me", headers=bearer(token))
    assert (response.status_code, response.json()["error"]["code"]) == FAULTS[fault]
    assert not Account.objects.filter(external_id="auth0|newcomer").exists()
    heal(flash)
    assert Client().get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    assert Account.objects.filter(external_id="auth0|newcomer").count() == 1


@pytest.mark.parametrize("fault", FAULTS)
def test_a_paid_grant_survives_any_flash_fault_and_lands_once(standins, alice, flash, fault):
    stripe_api = standins["stripe"]
    break_flash(flash, fault, r"/credits/admin/grant$")
    body, headers = stripe_api.signed(stripe_api.event("checkout.session.completed", completed_session(alice)))
    with committed():
        response = Client().post(WEBHOOK, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 200  # Stripe must not be told to give up, nor need to retry
    grant = CreditGrant.objects.get()
    assert grant.state == GrantState.PENDING
    if fault == "slow":  # Flash applies it after billing stopped waiting
        assert wait_for(lambda: len(flash.grants(alice.flash_user_id)) == 1)
    heal(flash)
    CreditGrant.objects.filter(pk=grant.pk).update(next_attempt_at=grant.created_at)  # the lease is over
    grants.process_due()
    grant.refresh_from_db()
    assert grant.state == GrantState.APPLIED
    # The slow first attempt was found in Flash's history: reconciled, not doubled.
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]
