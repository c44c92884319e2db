from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from payments import grants
from payments.models import GrantSource
from upstreams import flash as flash_client

from .conftest import PHONE, fully_on_screen, screenshot

pytestmark = pytest.mark.browser

def test_it_colours_a_low_balance_red_and_pages_the_history_by_20(alice_page, alice, flash):
    for n in range(24):
        flash_client.grant(alice.flash_user_id, 1, "bonus", f"Bonus {n}")
    flash_client.grant(alice.flash_user_id, -115, "usage", "Generations")  # 100 + 24 - 115 = 9 left
    page = alice_page

    page.goto("/portal/credits/")

    balance = page.locator(".balance-low")
    assert "9 credits" in balance.inner_text() and "Running low" in balance.inner_text()
    history = page.get_by_role("region", name="Transaction history")
    rows = history.locator("tbody tr")
    assert rows.count() == 20
    assert "Page 1 of 2 · 25 transactions" in history.inner_text()
    newest = rows.first.inner_text()
    assert "Usage" in newest and "-115" in newest and re.search(r"now|seconds? ago", newest)
    assert history.locator(".badge-bonus").count() == 19
    screenshot(page, "credits")

    history.get_by_role("link", name="Older").click()

    expect(history.get_by_text("Page 2 of 2")).to_be_visible()
    expect(history.locator("tbody tr")).to_have_count(5)
    expect(history.get_by_role("link", name="Newer")).to_be_visible()


def test_it_describes_each_transaction_in_words_and_keeps_every_column_on_a_phone(alice_page, alice, flash):
    bought, _ = grants.record("test:portal:bought", deliver_after_commit=False, source=GrantSource.STRIPE,
                              account=alice, amount=100, transaction_type="stripe_purchase",
                              description="Stripe purchase: 100 credits")
    gift, _ = grants.record("test:portal:gift", deliver_after_commit=False, source=GrantSource.MANUAL,
                            account=alice, amount=25, transaction_type="admin_grant",
                            description="Manual grant by ops: goodwill after incident 7",
                            reason="goodwill after incident 7")
    for grant in (bought, gift):
        assert grants.deliver(grant.id) == "applied"
    # Flash keeps the ledger's marker in its description; the owner never sees it.
    assert any(bought.marker in t["description"] for t in flash.transactions[alice.flash_user_id])
    page = alice_page

    page.goto("/portal/credits/")

    history = page.get_by_role("region", name="Transaction history")
    listed = history.inner_text()
    assert "[grant" not in listed and str(bought.id)[:8] not in listed
    rows = history.locator("tbody tr")
    assert "Credits from TIMEPOINT support" in rows.nth(0).inner_text()
    assert "Stripe purchase: 100 credits" in rows.nth(1).inner_text()
    assert "Manual grant by" not in listed and "incident" not in listed  # an operator's note stays internal
    screenshot(page, "credits-history")

    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    newest = rows.first
    for cell in (".ledger-what", ".ledger-amount", ".ledger-when", ".ledger-balance"):
        assert fully_on_screen(newest.locator(cell), PHONE), cell
    assert newest.locator(".ledger-amount").inner_text() == "+25"
    assert newest.locator(".ledger-balance").inner_text() == "balance 225"
    screenshot(page, "credits-phone")


def test_it_buys_credits_on_the_checkout_page_and_shows_the_grant_until_flash_has_it(
    alice_page, alice, flash, stripe_api, live_server, settings
):
    settings.PAYMENTS_GRANT_BACKOFF_BASE = 0  # the retry below is due at once
    page = alice_page
    page.goto("/portal/credits/")

    page.get_by_role("button", name="Buy 100 credits").click()

    page.wait_for_url(f"{stripe_api.url}/checkout/**")
    session_id = page.url.rsplit("/", 1)[-1]
    session = stripe_api.sessions[session_id]
    assert session["client_reference_id"] == str(alice.pk)
    assert session["metadata"]["package"] == "100_credits"
    sent = stripe_api.params(stripe_api.received("/v1/checkout/sessions")[-1])
    success_url = f"{live_server.url}/portal/credits/success/?session_id={{CHECKOUT_SESSION_ID}}"
    assert sent["success_url"] == success_url
    assert sent["cancel_url"] == f"{live_server.url}/portal/credits/cancel/"
    screenshot(page, "stripe-checkout")

    # The buyer pays while Flash is down: Stripe's webhook records the grant, pending.
    flash.down()
    page.get_by_role("button", name="Pay 9.99 USD").click()

    page.wait_for_url("**/portal/credits/success/**")
    assert session_id in page.url
    assert "on their way" in page.get_by_role("status").inner_text()
    assert page.locator('meta[http-equiv="refresh"]').count() == 1
    screenshot(page, "credits-success-pending")
    page.goto("/portal/credits/")
    assert "+100" in page.locator(".card", has_text="On its way").inner_text()

    flash.up()
    from payments.grants import process_due

    assert process_due() == 1
    page.goto(success_url.replace("{CHECKOUT_SESSION_ID}", session_id))
    assert "100 credits were added to your balance, which is now 200 credits" in page.locator("main").inner_text()
    assert page.locator('meta[http-equiv="refresh"]').count() == 0
    screenshot(page, "credits-success-applied")


def test_it_says_a_cancelled_checkout_charged_nothing(alice_page):
    alice_page.goto("/portal/credits/cancel/")

    assert "Nothing was charged" in alice_page.locator("main").inner_text()
    screenshot(alice_page, "credits-cancel")


def test_it_says_so_when_stripe_cannot_start_a_checkout(alice_page, stripe_api):
    page = alice_page
    page.goto("/portal/credits/")
    stripe_api.down()

    page.get_by_role("button", name="Buy 500 credits").click()

    expect(page.get_by_role("status").filter(has_text="Checkout could not start")).to_be_visible()
    assert page.url.endswith("/portal/credits/")
