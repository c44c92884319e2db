"""GET/PUT /api/v1/billing/auto-reload (CONTRACT.md §9): the settings, their validation,
and no auto-reload without a saved card."""

import pytest

from payments.models import AutoReload

from .reloads import AUTO_RELOAD, save_card, turn_on


def test_it_answers_the_defaults_before_anything_is_set(as_alice):
    response = as_alice.get(AUTO_RELOAD)
    assert response.status_code == 200
    assert response.json() == {"enabled": False, "threshold": 20, "package": "100_credits", "monthly_limit": 3,
                               "reloads_this_month": 0, "payment_method": None, "last_error": None}


def test_it_refuses_to_enable_without_a_saved_card(as_alice, alice):
    response = as_alice.put(AUTO_RELOAD, {"enabled": True}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "card" in response.json()["error"]["message"]
    assert not AutoReload.objects.filter(account=alice, enabled=True).exists()


def test_it_saves_the_settings_once_a_card_is_saved(as_alice, stripe_api):
    save_card(as_alice, stripe_api)
    body = turn_on(as_alice, threshold=30, package="500_credits", monthly_limit=5)
    assert body["enabled"] is True and body["threshold"] == 30 and body["package"] == "500_credits"
    assert body["monthly_limit"] == 5 and body["payment_method"] == {"brand": "visa", "last4": "4242"}
    assert as_alice.get(AUTO_RELOAD).json() == body


def test_it_changes_settings_while_off_without_a_card(as_alice):
    response = as_alice.put(AUTO_RELOAD, {"threshold": 50, "monthly_limit": 2}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["threshold"] == 50 and response.json()["enabled"] is False


@pytest.mark.parametrize("body", [
    {"threshold": 0}, {"threshold": -5}, {"threshold": "20"}, {"threshold": 2.5}, {"threshold": True},
    {"monthly_limit": 0}, {"monthly_limit": 101}, {"package": "7_credits"}, {"package": 100},
    {"enabled": "yes"}, {"enabled": 1}, {"colour": "red"}, {}, [], "on",
])
def test_it_refuses_bad_values_with_the_envelope_and_writes_nothing(as_alice, alice, body):
    response = as_alice.put(AUTO_RELOAD, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_request"
    assert not AutoReload.objects.filter(account=alice).exclude(threshold=20).exists()


def test_it_shows_each_account_only_its_own(as_alice, stripe_api, bob, auth0):
    from django.test import Client

    from tests.conftest import bearer

    save_card(as_alice, stripe_api)
    turn_on(as_alice)
    as_bob = Client(headers=bearer(auth0.mint(bob.external_id)))
    assert as_bob.get(AUTO_RELOAD).json()["enabled"] is False
    assert as_bob.get(AUTO_RELOAD).json()["payment_method"] is None


def test_it_takes_back_the_object_it_answered_ignoring_what_billing_sets(as_alice):
    read = as_alice.get(AUTO_RELOAD).json()
    sent = {**read, "threshold": 40, "reloads_this_month": 99, "last_error": "not mine to set",
            "payment_method": {"brand": "amex", "last4": "0005"}}
    response = as_alice.put(AUTO_RELOAD, sent, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {**read, "threshold": 40}


@pytest.mark.parametrize("body", ['{"package": "\\ud800"}', '{"threshold": 5, "\\ud800": 1}'])
def test_it_refuses_a_lone_surrogate_with_400_not_500(as_alice, alice, body):
    # A legal JSON escape with no UTF-8 form, echoed in the refusal: it was a 500.
    response = as_alice.put(AUTO_RELOAD, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert not AutoReload.objects.filter(account=alice).exclude(threshold=20).exists()
