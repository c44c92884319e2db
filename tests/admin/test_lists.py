"""Billing's admin lists at 1280 px, each with rows in it: every column on screen."""

from __future__ import annotations

import pytest
import requests

from apikeys.keys import create_key
from apikeys.models import TierChange
from tests.conftest import bearer
from tests.payments.conftest import completed_session
from tests.payments.purchases import buy, refund
from tests.portal.conftest import screenshot, wait_for_records

from .conftest import clipped_columns

pytestmark = pytest.mark.browser

LISTS = {
    "accounts": "/admin/accounts/account/",
    "session-tokens": "/admin/accounts/sessiontoken/",
    "keys": "/admin/apikeys/apikey/",
    "tier-changes": "/admin/apikeys/tierchange/",
    "grants": "/admin/payments/creditgrant/",
    "events": "/admin/payments/stripeevent/",
    "usage-records": "/admin/metering/usagerecord/",
}


def test_it_fits_every_billing_list_on_a_1280_px_screen(operator_page, alice, bob, flash, auth0, stripe_api,
                                                         post_event, live_server):
    alice.email = "alice.with-a-rather-long-address@example-company.com"
    alice.save()
    key, plaintext = create_key(alice, "nightly export to the data warehouse", "live")
    for path in ("/api/v1/credits/balance", "/api/v1/keys"):
        requests.get(live_server.url + path, headers=bearer(plaintext), timeout=10)
    wait_for_records(2, api_key=key)
    login = requests.post(live_server.url + "/api/v1/auth/login", headers=bearer(auth0.mint(alice.external_id)),
                          timeout=10)
    assert login.status_code == 200, login.text
    TierChange.objects.create(account=bob, tier_override="enterprise", note="signed the enterprise contract",
                              changed_by="ops")
    buy(post_event, stripe_api, alice, "500_credits", "cs_list", 3999)
    refund(post_event, stripe_api, "cs_list", 3999, 1000)
    post_event(stripe_api.event("checkout.session.completed", completed_session(
        type(alice)(external_id="auth0|gone", email="gone@example.com", flash_user_id="nobody"),
        session_id="cs_orphan", customer="cus_orphan")))
    page = operator_page

    for name, path in LISTS.items():
        page.goto(path)
        screenshot(page, f"admin-list-{name}")
        assert page.locator("#result_list tbody tr").count() >= 1, name
        assert clipped_columns(page) == 0, f"{name}: columns beyond the screen"
