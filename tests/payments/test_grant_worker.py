from django.core.management import call_command
from django.utils import timezone

from payments import grants
from payments.models import CreditGrant, GrantSource, GrantState

from .conftest import committed, completed_session


def _work() -> None:
    call_command("process_grants", "--once", stdout=open("/dev/null", "w"))


def test_it_applies_exactly_one_grant_after_flash_fails_three_times(alice, flash, stripe_api, post_event):
    flash.fail(500, times=3, path="admin/grant")
    assert post_event(stripe_api.event("checkout.session.completed", completed_session(alice))).status_code == 200
    grant = CreditGrant.objects.get()
    assert grant.state == GrantState.PENDING
    for _ in range(3):
        _work()
    grant.refresh_from_db()
    assert grant.state == GrantState.APPLIED and grant.attempts == 4
    assert len(flash.received("admin/grant", "POST")) == 4
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]


def _due_now(grant) -> None:
    """What the passing of the wait looks like to the worker."""
    CreditGrant.objects.filter(pk=grant.pk).update(next_attempt_at=timezone.now())


def _wait_after_attempt(grant) -> float:
    before = timezone.now()
    _work()
    grant.refresh_from_db()
    return (grant.next_attempt_at - before).total_seconds()


def test_it_waits_with_backoff_between_attempts(alice, flash, settings):
    settings.PAYMENTS_GRANT_BACKOFF_BASE = 60
    flash.fail(500, path="admin/grant")
    with committed():
        grant, _ = grants.record("test:backoff", source=GrantSource.MANUAL, account=alice, amount=5,
                                 transaction_type="admin_grant")
    grant.refresh_from_db()
    assert grant.state == GrantState.PENDING
    assert grant.next_attempt_at > timezone.now() + timezone.timedelta(seconds=5)
    _work()  # not due yet: nothing sent
    assert len(flash.received("admin/grant")) == 1


def test_it_retries_a_young_grant_within_15_seconds_however_often_flash_fails(alice, flash, settings):
    # A buyer is waiting: a Flash that answers errors quickly must not push the next
    # attempt minutes away (it used to be 10, 20, 40, 80… s).
    settings.PAYMENTS_GRANT_BACKOFF_BASE = 10
    flash.fail(500, times=9, path="admin/grant")
    with committed():
        grant, _ = grants.record("test:fast", source=GrantSource.MANUAL, account=alice, amount=5,
                                 transaction_type="admin_grant")
    waits = []
    for _ in range(8):
        _due_now(grant)
        waits.append(_wait_after_attempt(grant))
    assert len(flash.received("admin/grant")) == 9
    assert all(0 < wait <= 15 for wait in waits), waits
    _due_now(grant)
    _work()
    grant.refresh_from_db()
    assert grant.state == GrantState.APPLIED


def test_it_backs_off_further_only_in_a_long_outage(alice, flash, settings):
    settings.PAYMENTS_GRANT_BACKOFF_BASE = 10
    flash.fail(500, times=None, path="admin/grant")
    with committed():
        grant, _ = grants.record("test:slow", source=GrantSource.MANUAL, account=alice, amount=5,
                                 transaction_type="admin_grant")
    # Flash has been failing for 40 minutes, 30 attempts so far.
    CreditGrant.objects.filter(pk=grant.pk).update(created_at=timezone.now() - timezone.timedelta(minutes=40),
                                                   attempts=30, next_attempt_at=timezone.now())
    grant.refresh_from_db()
    wait = _wait_after_attempt(grant)
    assert 15 < wait <= 40 * 60, wait
    # Never longer than BACKOFF_MAX_SECONDS, however long the outage.
    CreditGrant.objects.filter(pk=grant.pk).update(created_at=timezone.now() - timezone.timedelta(days=3),
                                                   next_attempt_at=timezone.now())
    grant.refresh_from_db()
    assert grants.BACKOFF_MAX_SECONDS / 2 <= _wait_after_attempt(grant) <= grants.BACKOFF_MAX_SECONDS


def test_it_never_gives_up_on_a_paid_grant(alice, flash, stripe_api, post_event):
    flash.fail(503, times=2, path="admin/grant")
    assert post_event(stripe_api.event("checkout.session.completed", completed_session(alice))).status_code == 200
    grant = CreditGrant.objects.get()
    # Days of outage: far more attempts than any limit would allow.
    CreditGrant.objects.filter(pk=grant.pk).update(attempts=500)
    _work()
    grant.refresh_from_db()
    assert grant.state in (GrantState.PENDING, GrantState.STUCK) and grant.attempts == 501
    _due_now(grant)
    _work()
    grant.refresh_from_db()
    assert grant.state == GrantState.APPLIED
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]


def test_it_fails_at_once_when_flash_refuses_the_grant(alice, flash):
    alice.flash_user_id = "not-a-flash-user"
    alice.save()
    with committed():
        grant, _ = grants.record("test:refused", source=GrantSource.MANUAL, account=alice, amount=3,
                                 transaction_type="admin_grant")
    grant.refresh_from_db()
    assert grant.state == GrantState.FAILED and "404" in grant.last_error
