from __future__ import annotations

import pytest
from django.core import mail

from core import catalog
from tests.conftest import flush_usage

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.metering.urls")]


def _relayed_call(client, balance):
    response = client.post("/api/v1/fake/relayed/1", {"balance": balance}, content_type="application/json")
    assert response.status_code == 200
    flush_usage()  # the usage writer acts on the balance its record carries


def test_it_sends_one_email_per_threshold_crossing(as_alice, alice, monkeypatch):
    monkeypatch.setattr(catalog, "LOW_BALANCE", 20)
    _relayed_call(as_alice, 50)
    assert mail.outbox == []

    _relayed_call(as_alice, 19)
    _relayed_call(as_alice, 12)
    _relayed_call(as_alice, 3)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]
    assert "19" in mail.outbox[0].body

    _relayed_call(as_alice, 120)  # topped up: the next drop is a new crossing
    _relayed_call(as_alice, 5)
    assert len(mail.outbox) == 2


def test_the_threshold_is_the_catalogs_low_balance(as_alice, monkeypatch):
    monkeypatch.setattr(catalog, "LOW_BALANCE", 100)
    _relayed_call(as_alice, 99)
    assert len(mail.outbox) == 1


def test_no_balance_no_alert(as_alice):
    as_alice.post("/api/v1/fake/relayed/1", {"credits_spent": 1}, content_type="application/json")
    flush_usage()
    assert mail.outbox == []
