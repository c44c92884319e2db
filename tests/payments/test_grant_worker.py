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


def test_it_waits_with_backoff_between_attempts(alice, flash, settings):
    settings.PAYMENTS_GRANT_BACKOFF_BASE = 60
    flash.fail(500, path="admin/grant")
    with committed():
        grant, _ = grants.record("test:backoff", source=GrantSource.MANUAL, account=alice, amount=5,
                                 transaction_type="admin_grant")
    grant.refresh_from_db()
    assert grant.state == GrantState.PENDING
    assert grant.next_attempt_at > timezone.now() + timezone.timedelta(seconds=29)
    _work()  # not due yet: nothing sent
    assert len(flash.received("admin/grant")) == 1


def test_it_marks_a_grant_failed_after_the_last_attempt_and_retries_it_on_request(alice, flash, settings):
    settings.PAYMENTS_GRANT_MAX_ATTEMPTS = 2
    flash.fail(503, times=2, path="admin/grant")
    with committed():
        grant, _ = grants.record("test:max", source=GrantSource.MANUAL, account=alice, amount=7,
                                 transaction_type="admin_grant")
    _work()
    grant.refresh_from_db()
    assert grant.state == GrantState.FAILED and grant.attempts == 2
    _work()
    assert len(flash.received("admin/grant")) == 2  # failed grants are left alone
    assert grants.retry(grant)
    _work()
    grant.refresh_from_db()
    assert grant.state == GrantState.APPLIED
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [7]


def test_it_fails_at_once_when_flash_refuses_the_grant(alice, flash):
    alice.flash_user_id = "not-a-flash-user"
    alice.save()
    with committed():
        grant, _ = grants.record("test:refused", source=GrantSource.MANUAL, account=alice, amount=3,
                                 transaction_type="admin_grant")
    grant.refresh_from_db()
    assert grant.state == GrantState.FAILED and "404" in grant.last_error
