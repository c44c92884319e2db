from __future__ import annotations

import datetime as dt

import pytest

from apikeys.models import APIKey
from metering.models import UsageRecord


@pytest.fixture
def make_key():
    def make(account, name="k", environment="live"):
        import secrets

        return APIKey.objects.create(
            account=account, key_hash=secrets.token_hex(32), prefix="tp_live_abcdefgh",
            name=name, environment=environment,
        )

    return make


@pytest.fixture
def make_record():
    def make(when: dt.datetime, **fields):
        values = {"endpoint": "/api/v1/generate", "method": "POST", "status_code": 200,
                  "credits_spent": 0, "response_time_ms": 10}
        values.update(fields)
        return UsageRecord.objects.create(created_at=when, **values)

    return make


@pytest.fixture
def staff_client(db, client, django_user_model):
    user = django_user_model.objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(user)
    return client
