"""A grant whose answer was lost is looked for in Flash's history before it is sent
again: found however many transactions the user made since, never sent twice."""

import threading

import pytest
from django.db import connections, transaction

from payments import grants
from payments.models import CreditGrant, GrantSource, GrantState

from .conftest import wait_for


def test_it_finds_a_grant_applied_before_many_newer_transactions(alice, flash):
    with transaction.atomic():
        grant, _ = grants.record("test:busy", deliver_after_commit=False, source=GrantSource.MANUAL,
                                 account=alice, amount=100, transaction_type="admin_grant")
    flash.fail(None, delay=1.0, path="admin/grant")  # Flash applies it after billing stopped waiting
    grants.process_due()
    assert CreditGrant.objects.get(pk=grant.pk).state == GrantState.PENDING
    assert wait_for(lambda: len(flash.grants(alice.flash_user_id)) == 1)
    # A busy API user: 600 generations land before the retry reads the history.
    with flash.lock:
        for _ in range(600):
            flash._record(alice.flash_user_id, -1, "generation", "Generation (balanced)")

    CreditGrant.objects.filter(pk=grant.pk).update(next_attempt_at=grant.created_at)  # the lease is over
    grants.process_due()

    grant.refresh_from_db()
    assert grant.state == GrantState.APPLIED and grant.last_error == grants.RECONCILED
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]


def test_it_does_not_send_again_when_the_history_is_too_long_to_search(alice, flash, monkeypatch):
    monkeypatch.setattr(grants, "HISTORY_SCAN", 50)
    with transaction.atomic():
        grant, _ = grants.record("test:busier", deliver_after_commit=False, source=GrantSource.MANUAL,
                                 account=alice, amount=100, transaction_type="admin_grant")
    flash.fail(None, delay=1.0, path="admin/grant")
    grants.process_due()
    assert wait_for(lambda: len(flash.grants(alice.flash_user_id)) == 1)
    with flash.lock:
        for _ in range(60):
            flash._record(alice.flash_user_id, -1, "generation", "Generation (balanced)")

    CreditGrant.objects.filter(pk=grant.pk).update(next_attempt_at=grant.created_at)
    grants.process_due()

    grant.refresh_from_db()
    # Not found within what may be searched is not "not in Flash": unknown, retried later.
    assert grant.state == GrantState.PENDING and grant.outcome_unknown
    assert "not searched to the end" in grant.last_error
    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]


@pytest.mark.django_db(transaction=True)  # two workers, two connections
def test_it_does_not_send_after_a_history_search_that_outlasted_its_lease(alice, flash, settings, monkeypatch):
    settings.UPSTREAM_READ_TIMEOUT = 5.0
    monkeypatch.setattr(grants, "HISTORY_PAGE", 1)  # one entry a page: the search takes two reads
    with flash.lock:
        flash._record(alice.flash_user_id, -1, "generation", "Generation (balanced)")
    with transaction.atomic():
        grant, _ = grants.record("test:overrun", deliver_after_commit=False, source=GrantSource.MANUAL,
                                 account=alice, amount=100, transaction_type="admin_grant")
    CreditGrant.objects.filter(pk=grant.pk).update(outcome_unknown=True)  # a previous answer was lost
    # The first worker reads page one at once (nothing there) and waits on page two.
    flash.fail(None, path="credits/history")
    flash.fail(None, delay=1.0, path="credits/history")
    first = threading.Thread(target=lambda: (grants.process_due(), connections.close_all()))
    first.start()
    assert wait_for(lambda: len(flash.received("credits/history")) == 2)

    # Its lease runs out meanwhile: a second worker searches (nothing yet) and sends.
    # The first one's page two then holds nothing new to it (the grant is on page one).
    CreditGrant.objects.filter(pk=grant.pk).update(next_attempt_at=grant.created_at)
    grants.process_due()
    first.join(10)

    assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [100]
    assert CreditGrant.objects.get(pk=grant.pk).state == GrantState.APPLIED
