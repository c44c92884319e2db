"""Grants that need a person: Flash refusing billing's own admin key (pending, retried,
alerted once: seeds/004 lost a paid 50,000-credit grant to exactly this), grants stuck
for an hour (still retried, alerted once), and refusals retrying cannot fix (failed,
with the reason)."""

import logging

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from payments.models import CreditGrant, GrantState

from .conftest import completed_session, wait_for

WRONG_ADMIN_KEY = "not-the-admin-key-flash-knows-0042"


@pytest.fixture(autouse=True)
def _operators(settings) -> None:
    settings.OPERATOR_EMAILS = ["ops@example.com", "oncall@example.com"]


def _work() -> None:
    call_command("process_grants", "--once", stdout=open("/dev/null", "w"))


def _due_now(grant) -> None:
    CreditGrant.objects.filter(pk=grant.pk).update(next_attempt_at=timezone.now())


def _paid_grant(alice, stripe_api, post_event, age: timezone.timedelta | None = None) -> CreditGrant:
    """A Stripe purchase's grant (its first delivery attempt made), `age` old."""
    post_event(stripe_api.event("checkout.session.completed", completed_session(alice)))
    grant = CreditGrant.objects.get()
    if age is not None:
        CreditGrant.objects.filter(pk=grant.pk).update(created_at=timezone.now() - age)
        grant.refresh_from_db()
    return grant


def _worker_attempts(grant) -> None:
    """One worker run with the grant due, as when its wait is over."""
    _due_now(grant)
    _work()
    grant.refresh_from_db()


def _assert_delivered_once_more(grant, flash) -> None:
    """The next worker run delivers the grant, and Flash holds it exactly once."""
    _worker_attempts(grant)
    assert grant.state == GrantState.APPLIED
    assert [g["amount"] for g in flash.grants(grant.flash_user_id)] == [grant.amount]


def _alerts() -> list:
    return [m for m in mail.outbox if "ops@example.com" in m.to]


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name == "payments.alerts"]


def test_it_keeps_a_grant_refused_for_billings_admin_key_pending_and_alerts_once(
        alice, flash, stripe_api, post_event, settings, caplog):
    settings.FLASH_ADMIN_KEY = WRONG_ADMIN_KEY  # Flash answers 403 "Invalid admin key"
    with caplog.at_level(logging.INFO):
        grant = _paid_grant(alice, stripe_api, post_event)
        assert grant.state == GrantState.PENDING
        assert "FLASH_ADMIN_KEY" in grant.last_error and "403" in grant.last_error
        for _ in range(3):  # the worker keeps trying; nobody is told again
            _worker_attempts(grant)
    assert grant.state == GrantState.PENDING and grant.attempts == 4
    assert len(flash.received("admin/grant", "POST")) == 4
    [alert] = _alerts()
    assert alert.to == ["ops@example.com", "oncall@example.com"]
    assert "FLASH_ADMIN_KEY" in alert.body and str(grant.pk) in alert.body
    assert len(_errors(caplog)) == 1
    for text in (alert.subject, alert.body, caplog.text, grant.last_error):
        assert WRONG_ADMIN_KEY not in text and "flash-admin-key" not in text

    settings.FLASH_ADMIN_KEY = flash.admin_key  # the operator fixes the key
    _assert_delivered_once_more(grant, flash)
    assert len(_alerts()) == 1


def test_it_treats_a_401_to_the_admin_key_alike(alice, flash, stripe_api, post_event):
    flash.fail(401, body={"detail": "Not authenticated"}, times=None, path="admin/grant")
    grant = _paid_grant(alice, stripe_api, post_event)
    assert grant.state == GrantState.PENDING and "401" in grant.last_error
    assert len(_alerts()) == 1


def test_it_keeps_a_grant_whose_history_check_is_refused_pending_and_never_doubles_it(
        alice, flash, stripe_api, post_event, settings):
    flash.fail(None, delay=1.0, path="admin/grant")  # applied by Flash after billing stopped waiting
    grant = _paid_grant(alice, stripe_api, post_event)
    assert grant.state == GrantState.PENDING and grant.outcome_unknown
    settings.FLASH_SERVICE_KEY = "not-the-service-key-flash-knows"  # history reads are refused
    for _ in range(2):
        _worker_attempts(grant)
    assert grant.state == GrantState.PENDING and grant.outcome_unknown
    assert "FLASH_SERVICE_KEY" in grant.last_error
    assert len(flash.received("admin/grant", "POST")) == 1  # never resent blind
    assert len(_alerts()) == 1
    assert wait_for(lambda: len(flash.grants(alice.flash_user_id)) == 1)  # the slow first attempt landed
    settings.FLASH_SERVICE_KEY = flash.service_key
    _worker_attempts(grant)
    assert grant.state == GrantState.APPLIED and "reconciled" in grant.last_error
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]


def test_it_fails_a_grant_flash_refuses_for_itself_with_the_reason(alice, flash, stripe_api, post_event, caplog):
    flash.fail(422, body={"detail": "amount exceeds the per-grant maximum"}, path="admin/grant")
    with caplog.at_level(logging.INFO):
        grant = _paid_grant(alice, stripe_api, post_event)
    assert grant.state == GrantState.FAILED
    assert "422" in grant.last_error and "per-grant maximum" in grant.last_error
    _worker_attempts(grant)
    assert len(flash.received("admin/grant")) == 1  # failed grants are not retried by the worker
    [alert] = _alerts()
    assert "per-grant maximum" in alert.body
    assert len(_errors(caplog)) == 1


def test_it_marks_a_grant_undelivered_for_an_hour_stuck_and_alerts_once(
        alice, flash, stripe_api, post_event, caplog):
    flash.fail(503, times=4, path="admin/grant")
    grant = _paid_grant(alice, stripe_api, post_event, age=timezone.timedelta(minutes=61))
    with caplog.at_level(logging.INFO):
        _worker_attempts(grant)
        assert grant.state == GrantState.STUCK and grant.stuck_at is not None
        assert grant.attempts == 2  # marked, and still retried in the same run
        for _ in range(2):
            _worker_attempts(grant)
    assert grant.state == GrantState.STUCK and grant.attempts == 4
    [alert] = _alerts()
    assert "stuck" in alert.subject and str(grant.pk) in alert.body and "1 h 01 min" in alert.body
    assert "Flash answered with an error" in alert.body  # the last error
    assert len(_errors(caplog)) == 1

    _assert_delivered_once_more(grant, flash)  # Flash is back
    assert len(_alerts()) == 1


def test_it_leaves_a_grant_younger_than_an_hour_pending(alice, flash, stripe_api, post_event):
    flash.fail(503, times=None, path="admin/grant")
    grant = _paid_grant(alice, stripe_api, post_event, age=timezone.timedelta(minutes=58))
    _worker_attempts(grant)
    assert grant.state == GrantState.PENDING and grant.attempts == 2
    assert _alerts() == []


def test_it_fails_a_stuck_grant_that_flash_then_refuses_for_itself(alice, flash, stripe_api, post_event):
    flash.fail(503, path="admin/grant")
    flash.fail(422, body={"detail": "amount exceeds the per-grant maximum"}, path="admin/grant")
    grant = _paid_grant(alice, stripe_api, post_event, age=timezone.timedelta(hours=2))
    _worker_attempts(grant)
    assert grant.state == GrantState.FAILED and "per-grant maximum" in grant.last_error
    assert flash.grants(alice.flash_user_id) == []
    assert [a.subject for a in _alerts()] == ["[timepoint-billing] grant stuck", "[timepoint-billing] grant failed"]


def test_the_admin_lists_stuck_and_failed_grants_with_why(admin_client, alice, flash, stripe_api, post_event):
    flash.fail(503, times=None, path="admin/grant")
    stuck = _paid_grant(alice, stripe_api, post_event, age=timezone.timedelta(hours=2))
    _worker_attempts(stuck)
    assert stuck.state == GrantState.STUCK
    page = admin_client.get("/admin/payments/creditgrant/?state__exact=stuck").content.decode()
    assert str(stuck.pk)[:8] in page and "Flash answered with an error" in page
    assert "?state__exact=stuck" in page and "?state__exact=failed" in page  # the filters offer both
    pending = admin_client.get("/admin/payments/creditgrant/?state__exact=pending").content.decode()
    assert str(stuck.pk)[:8] not in pending
