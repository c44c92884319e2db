"""tp_test_ keys never spend real credits: their generations go to FLASH_TEST_URL
(a Flash sandbox) or are refused with 403; their reads relay normally.

API-key authentication is another issue's work, so these tests authenticate the
request with DRF's own `force_authenticate` and a Credential of kind API_KEY."""

import json

import pytest
from django.test import override_settings
from rest_framework.test import APIRequestFactory, force_authenticate

from accounts.credentials import API_KEY, Credential
from apikeys.models import APIKey
from relay import views
from standins import Flash


def as_key(account, environment, method, path, view, body=None, **kwargs):
    factory = APIRequestFactory()
    if method == "post":
        request = factory.post(path, data=json.dumps(body or {}), content_type="application/json")
    else:
        request = factory.get(path)
    key = APIKey(account=account, environment=environment, tier="free", rate_limit=10, name="k", prefix="tp_x")
    force_authenticate(request, user=account, token=Credential(API_KEY, api_key=key))
    return view.as_view()(request, **kwargs), request


@pytest.fixture
def sandbox(alice):
    standin = Flash(service_key="flash-service-key").start()
    standin.balances[alice.flash_user_id] = 50
    yield standin
    standin.stop()


def test_a_test_key_cannot_generate_without_a_sandbox(alice, flash):
    with override_settings(FLASH_TEST_URL=""):
        response, _ = as_key(alice, "test", "post", "/api/v1/generate", views.GenerateView, {"query": "x"})
    assert response.status_code == 403
    assert "FLASH_TEST_URL" in json.loads(response.rendered_content)["error"]["message"]
    assert flash.received() == []


def test_a_test_key_cannot_stream_without_a_sandbox(alice, flash):
    with override_settings(FLASH_TEST_URL=""):
        response, _ = as_key(alice, "test", "post", "/api/v1/generate/stream", views.GenerateStreamView,
                             {"query": "x"})
    assert response.status_code == 403
    assert flash.received() == []


def test_a_test_key_generates_in_the_sandbox_and_spends_nothing(alice, flash, sandbox):
    with override_settings(FLASH_TEST_URL=sandbox.url):
        response, request = as_key(alice, "test", "post", "/api/v1/generate", views.GenerateView, {"query": "x"})
    assert response.status_code == 200
    assert flash.received() == []
    assert flash.balance_of(alice.flash_user_id) == 100
    assert len(sandbox.received("generate/sync")) == 1
    assert request.metering["credits_spent"] == 0


def test_a_live_key_generates_against_flash(alice, flash, sandbox):
    with override_settings(FLASH_TEST_URL=sandbox.url):
        response, request = as_key(alice, "live", "post", "/api/v1/generate", views.GenerateView, {"query": "x"})
    assert response.status_code == 200
    assert sandbox.received() == []
    assert flash.balance_of(alice.flash_user_id) == 95
    assert request.metering["credits_spent"] == 5


def test_a_test_key_reads_normally(alice, flash):
    with override_settings(FLASH_TEST_URL=""):
        response, _ = as_key(alice, "test", "get", "/api/v1/credits/balance", views.BalanceView)
    assert response.status_code == 200
    assert json.loads(response.content)["balance"] == 100
