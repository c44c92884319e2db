"""A newcomer's first hour under `make run`, in one browser: the curl token's identity
signs in to the portal, makes a key, calls the API with it, sees the call, buys credits
on the Stripe stand-in's checkout page and sees them in the balance."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from accounts.models import Account
from tests.conftest import bearer

from .conftest import screenshot, wait_for_records

pytestmark = pytest.mark.browser


def test_it_walks_from_the_printed_token_to_a_bought_balance(page, auth0, flash, stripe_api, live_server):
    # What make run prints: a token for the stand-in's default identity, used with curl.
    token = auth0.mint(auth0.default_sub)
    first = requests.get(f"{live_server.url}/api/v1/credits/balance", headers=bearer(token), timeout=10)
    assert first.status_code == 200, first.text
    start = first.json()["balance"]

    # The portal's sign-in, leaving the Auth0 stand-in's page at its default identity.
    page.goto("/portal/login/")
    page.get_by_role("button", name="Sign in with Auth0").click()
    page.wait_for_url(auth0.url + "/authorize?**")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/portal/")
    assert Account.objects.filter(external_id=auth0.default_sub).count() == 1  # the curl token's account
    expect(page.locator(".card", has_text="Balance")).to_contain_text(str(start))

    page.get_by_role("navigation", name="Portal").get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("first steps")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text().strip()
    assert re.fullmatch(r"tp_live_[a-z0-9]{32}", key)

    called = requests.get(f"{live_server.url}/api/v1/credits/costs", headers=bearer(key), timeout=10)
    assert called.status_code == 200, called.text
    wait_for_records(1, api_key__prefix=key[:16])
    page.goto("/portal/keys/")
    page.get_by_role("row", name=re.compile("first steps")).get_by_role("link", name="Usage").click()
    expect(page.get_by_text("/api/v1/credits/costs")).to_be_visible()
    screenshot(page, "walkthrough-key-usage")

    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Credits").click()
    page.get_by_role("button", name="Buy 100 credits").click()
    page.wait_for_url(f"{stripe_api.url}/checkout/**")
    page.get_by_role("button", name="Pay 9.99 USD").click()

    # Stripe's webhook reached the gateway, the grant reached Flash: the balance is up.
    page.wait_for_url("**/portal/credits/success/**")
    expect(page.locator("main")).to_contain_text(f"100 credits were added to your balance, which is now "
                                                 f"{start + 100} credits")
    screenshot(page, "walkthrough-bought")
    again = requests.get(f"{live_server.url}/api/v1/credits/balance", headers=bearer(key), timeout=10)
    assert again.json()["balance"] == start + 100
