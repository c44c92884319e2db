from __future__ import annotations

import pytest

from .conftest import screenshot

pytestmark = pytest.mark.browser


def test_it_upgrades_through_stripe_checkout(alice_page, alice, stripe_api, live_server, flash):
    page = alice_page
    page.goto("/portal/plan/")
    assert "You are on Free" in page.locator("main").inner_text()
    assert not page.get_by_role("button", name="Manage or cancel billing").count()  # nothing bought yet
    screenshot(page, "plan")

    page.get_by_role("button", name="Choose API Pro").click()

    page.wait_for_url(f"{stripe_api.url}/checkout/**")
    session = stripe_api.sessions[page.url.rsplit("/", 1)[-1]]
    assert session["mode"] == "subscription"
    assert session["metadata"]["plan"] == "api_pro"
    sent = stripe_api.params(stripe_api.received("/v1/checkout/sessions")[-1])
    assert sent["success_url"] == f"{live_server.url}/portal/plan/?checkout=done"

    page.get_by_role("button", name="Subscribe").click()

    page.wait_for_url("**/portal/plan/?checkout=done")
    assert "You are on API Pro" in page.locator("main").inner_text()  # invoice.paid came first
    assert flash.balance_of(alice.flash_user_id) == 100 + 1000


def test_it_cancels_the_plan_in_the_stand_in_s_billing_portal(alice_page, alice, stripe_api, live_server):
    # Under make run "Manage or cancel billing" must lead somewhere that answers: the
    # Stripe stand-in's own billing portal page, whose Cancel plan sends the webhook.
    page = alice_page
    page.goto("/portal/plan/")
    page.get_by_role("button", name="Choose API Pro").click()
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url("**/portal/plan/?checkout=done")
    assert "You are on API Pro" in page.locator("main").inner_text()

    page.get_by_role("button", name="Manage or cancel billing").click()

    page.wait_for_url(f"{stripe_api.url}/billing_portal/**")
    portal = stripe_api.portal_sessions[-1]
    alice.refresh_from_db()
    assert portal["customer"] == alice.stripe_customer_id
    assert portal["return_url"] == f"{live_server.url}/portal/plan/"
    page.get_by_role("button", name="Cancel plan").click()

    page.wait_for_url(f"{live_server.url}/portal/plan/")
    assert "You are on Free" in page.locator("main").inner_text()
    alice.refresh_from_db()
    assert alice.plan == "free"
