"""tp_test_ keys never spend real credits: their generations go to FLASH_TEST_URL
(a Flash sandbox) or are refused with 403; the timepoints they made are read there too,
their other reads relay normally."""

import json

import pytest
from django.test import Client, override_settings

from apikeys.keys import create_key
from metering.models import UsageRecord
from standins import Flash
from tests.conftest import bearer, flush_usage


def with_key(account, environment: str) -> Client:
    _key, plaintext = create_key(account, "relay test", environment)
    return Client(headers=bearer(plaintext))


def generate(client: Client, path: str = "/api/v1/generate"):
    return client.post(path, data=json.dumps({"query": "x"}), content_type="application/json")


@pytest.fixture
def sandbox(alice):
    standin = Flash(service_key="flash-service-key").start()
    standin.balances[alice.flash_user_id] = 50
    yield standin
    standin.stop()


@pytest.mark.parametrize("path", ["/api/v1/generate", "/api/v1/generate/stream"])
def test_a_test_key_cannot_generate_without_a_sandbox(alice, flash, path):
    with override_settings(FLASH_TEST_URL=""):
        response = generate(with_key(alice, "test"), path)
    assert response.status_code == 403
    assert "FLASH_TEST_URL" in response.json()["error"]["message"]
    assert flash.received() == []


def test_a_test_key_generates_in_the_sandbox_and_spends_nothing(alice, flash, sandbox):
    with override_settings(FLASH_TEST_URL=sandbox.url):
        response = generate(with_key(alice, "test"))
    assert response.status_code == 200
    assert flash.received() == []
    assert flash.balance_of(alice.flash_user_id) == 100
    assert len(sandbox.received("generate/sync")) == 1
    flush_usage()
    assert UsageRecord.objects.get().credits_spent == 0


def test_a_live_key_generates_against_flash(alice, flash, sandbox):
    with override_settings(FLASH_TEST_URL=sandbox.url):
        response = generate(with_key(alice, "live"))
    assert response.status_code == 200
    assert sandbox.received() == []
    assert flash.balance_of(alice.flash_user_id) == 100 - flash.costs["generate_balanced"]
    flush_usage()
    assert UsageRecord.objects.get().credits_spent == flash.costs["generate_balanced"]


def test_a_test_key_reads_normally(alice, flash):
    with override_settings(FLASH_TEST_URL=""):
        response = with_key(alice, "test").get("/api/v1/credits/balance")
    assert response.status_code == 200
    assert response.json()["balance"] == 100


def test_a_test_key_reads_the_timepoint_it_generated_in_the_sandbox(alice, flash, sandbox):
    client = with_key(alice, "test")
    with override_settings(FLASH_TEST_URL=sandbox.url):
        timepoint_id = generate(client).json()["id"]
        read = client.get(f"/api/v1/timepoints/{timepoint_id}")
        published = client.patch(f"/api/v1/timepoints/{timepoint_id}/visibility",
                                 data=json.dumps({"visibility": "public"}), content_type="application/json")
    assert read.status_code == 200
    assert read.json()["id"] == timepoint_id
    assert published.status_code == 200
    assert published.json()["visibility"] == "public"
    assert flash.received() == []


def test_a_live_key_reads_timepoints_from_flash(alice, flash, sandbox):
    client = with_key(alice, "live")
    with override_settings(FLASH_TEST_URL=sandbox.url):
        timepoint_id = generate(client).json()["id"]
        read = client.get(f"/api/v1/timepoints/{timepoint_id}")
    assert read.status_code == 200
    assert sandbox.received() == []
