import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from payments import grants
from payments.models import CreditGrant, GrantSource, GrantState

from .conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_it_runs_as_a_long_lived_worker_and_stops_on_sigterm(alice, flash):
    env = dict(os.environ, DATABASE_URL=_database_url(), FLASH_URL=settings.FLASH_URL,
               FLASH_SERVICE_KEY=settings.FLASH_SERVICE_KEY, FLASH_ADMIN_KEY=settings.FLASH_ADMIN_KEY,
               PAYMENTS_WORKER_INTERVAL="0.1", PAYMENTS_GRANT_BACKOFF_BASE="0")
    worker = subprocess.Popen([sys.executable, "manage.py", "process_grants"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        flash.fail(503, times=2, path="admin/grant")
        with transaction.atomic():
            grants.record("test:worker-process", deliver_after_commit=False, source=GrantSource.MANUAL,
                          account=alice, amount=11, transaction_type="admin_grant")
        assert wait_for(lambda: CreditGrant.objects.get().state == GrantState.APPLIED, deadline=30)
        assert [g["amount"] for g in flash.grants(alice.flash_user_id)] == [11]
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=20)
    assert worker.returncode == 0, err.decode()[-2000:]
