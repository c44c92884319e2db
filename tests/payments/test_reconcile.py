from datetime import timedelta

from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from payments import grants
from payments.models import CreditGrant, GrantSource, GrantState
from upstreams import flash as flash_client

from .conftest import committed, completed_session, wait_for


def _work() -> None:
    call_command("process_grants", "--once", stdout=open("/dev/null", "w"))


def test_it_reconciles_a_grant_flash_applied_after_we_timed_out(alice, flash, stripe_api, post_event):
    flash.slow(1.0, path="admin/grant")  # longer than the 0.5 s read timeout of the tests
    assert post_event(stripe_api.event("checkout.session.completed", completed_session(alice))).status_code == 200
    grant = CreditGrant.objects.get()
    assert grant.state == GrantState.PENDING and grant.outcome_unknown
    assert wait_for(lambda: len(flash.grants(alice.flash_user_id)) == 1)  # Flash did apply it
    _work()
    grant.refresh_from_db()
    assert grant.state == GrantState.APPLIED and "reconciled" in grant.last_error
    assert len(flash.grants(alice.flash_user_id)) == 1
    assert len(flash.received("admin/grant", "POST")) == 1


def test_it_sends_again_when_the_lost_attempt_never_reached_flash(alice, flash, stripe_api, post_event):
    flash.fail(drop=True, path="admin/grant")
    post_event(stripe_api.event("checkout.session.completed", completed_session(alice)))
    _work()
    assert CreditGrant.objects.get().state == GrantState.APPLIED
    assert len(flash.received("credits/history")) == 1
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]


def test_it_recovers_the_grant_of_a_worker_killed_mid_attempt(alice, flash):
    with committed():
        grant, _ = grants.record("test:killed", deliver_after_commit=False, source=GrantSource.MANUAL,
                                 account=alice, amount=9, transaction_type="admin_grant", description="Manual")
    # What a worker leaves when it dies mid-attempt: the row claimed for its attempt
    # (the lease ahead, the outcome unknown) and the grant applied in Flash.
    CreditGrant.objects.filter(pk=grant.pk).update(attempts=F("attempts") + 1, outcome_unknown=True,
                                                   next_attempt_at=timezone.now() + timedelta(minutes=2))
    flash_client.grant(alice.flash_user_id, 9, "admin_grant", f"Manual {grant.marker}")
    _work()  # its lease has not run out: nobody touches it
    assert CreditGrant.objects.get(pk=grant.pk).state == GrantState.PENDING
    CreditGrant.objects.filter(pk=grant.pk).update(next_attempt_at=timezone.now())  # the lease runs out
    _work()
    grant.refresh_from_db()
    assert grant.state == GrantState.APPLIED
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [9]


def test_it_does_not_guess_while_flash_history_is_unreadable(alice, flash, stripe_api, post_event):
    flash.fail(drop=True, path="admin/grant")
    post_event(stripe_api.event("checkout.session.completed", completed_session(alice)))
    flash.fail(500, path="credits/history")
    _work()
    grant = CreditGrant.objects.get()
    assert grant.state == GrantState.PENDING
    assert len(flash.received("admin/grant")) == 1  # no blind resend
    _work()
    assert CreditGrant.objects.get().state == GrantState.APPLIED
    assert len(flash.grants(alice.flash_user_id)) == 1
