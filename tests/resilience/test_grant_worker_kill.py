"""The grant worker killed (SIGKILL) mid-batch, after Flash applied a grant but before
the worker could record it, then started again: every grant is in Flash exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from payments import grants
from payments.models import CreditGrant, GrantSource, GrantState
from tests.payments.conftest import wait_for
from tests.payments.test_worker_process import _database_url

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def start_worker() -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=_database_url(), FLASH_URL=settings.FLASH_URL,
               FLASH_SERVICE_KEY=settings.FLASH_SERVICE_KEY, FLASH_ADMIN_KEY=settings.FLASH_ADMIN_KEY,
               PAYMENTS_WORKER_INTERVAL="0.1", PAYMENTS_GRANT_BACKOFF_BASE="0",
               # A dead worker's claims are taken over after this long.
               PAYMENTS_GRANT_LEASE_SECONDS="1")
    return subprocess.Popen([sys.executable, "manage.py", "process_grants", "--batch", "10"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_each_grant_is_applied_once_across_a_killed_worker(alice, flash):
    with transaction.atomic():
        made = [grants.record(f"test:kill-{n}", deliver_after_commit=False, source=GrantSource.MANUAL,
                              account=alice, amount=10 + n, transaction_type="admin_grant")[0] for n in range(5)]
    flash.grant_gate, flash.grants_answered = threading.Event(), 2
    worker = start_worker()
    try:
        # The third grant is in Flash, its answer held: the worker is mid-batch.
        assert wait_for(lambda: len(flash.grants(alice.flash_user_id)) == 3, deadline=30)
        worker.kill()
        worker.wait(10)
    finally:
        flash.grant_gate.set()
    assert CreditGrant.objects.filter(state=GrantState.APPLIED).count() == 2

    restarted = start_worker()
    try:
        assert wait_for(lambda: CreditGrant.objects.filter(state=GrantState.APPLIED).count() == 5, deadline=30)
    finally:
        restarted.kill()
        restarted.wait(10)
    in_flash = flash.grants(alice.flash_user_id)
    assert sorted(g["amount"] for g in in_flash) == [10, 11, 12, 13, 14]
    for grant in made:
        assert sum(grant.marker in g["description"] for g in in_flash) == 1, grant.marker
