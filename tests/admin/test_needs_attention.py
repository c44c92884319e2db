"""The index's "needs attention" box, made to count real trouble: a paid grant Flash
refuses (422 from the stand-in), an event for an account billing does not know, and a
refund held for review; each link opens exactly those rows."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import Account
from payments.models import CreditGrant, EventState, GrantState, StripeEvent
from tests.payments.conftest import completed_session
from tests.payments.purchases import buy, refund
from tests.portal.conftest import PHONE, screenshot

pytestmark = pytest.mark.browser


def _counts(box) -> dict[str, int]:
    return {item.locator("a").inner_text(): int(item.locator(".count").inner_text())
            for item in box.locator("li").all()}


def test_it_counts_what_needs_attention_and_links_to_exactly_those_rows(operator_page, alice, flash, stripe_api,
                                                                         post_event):
    flash.fail(422, body={"detail": "user is closed"}, path="admin/grant")
    buy(post_event, stripe_api, alice, "100_credits", "cs_refused", 999)
    refused = CreditGrant.objects.get(stripe_object_id="cs_refused")
    assert refused.state == GrantState.FAILED and "422" in refused.last_error
    buy(post_event, stripe_api, alice, "500_credits", "cs_fine", 3999)  # applied: not in the box
    refund(post_event, stripe_api, "cs_refused", 999, 999)  # a held reversal
    held = CreditGrant.objects.get(state=GrantState.HELD)
    stranger = Account(external_id="auth0|gone", email="gone@example.com", flash_user_id=flash.add_user("auth0|gone"))
    post_event(stripe_api.event("checkout.session.completed",
                                completed_session(stranger, session_id="cs_lost", customer="cus_lost")))
    lost = StripeEvent.objects.get(state=EventState.FAILED)
    page = operator_page

    page.goto("/admin/")

    box = page.get_by_role("region", name="Needs attention")
    assert _counts(box) == {"Grants stuck or failed in Flash": 1, "Stripe events that failed": 1,
                            "Refunds and disputes held for review": 1,
                            "Reconciliation differences nobody has explained": 0}
    screenshot(page, "admin-index")
    page.set_viewport_size(PHONE)
    expect(box.get_by_role("link", name="Stripe events that failed")).to_be_in_viewport()
    screenshot(page, "admin-index-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    box.get_by_role("link", name="Grants stuck or failed in Flash").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    assert str(refused.id)[:8] in rows.inner_text() and "Failed" in rows.inner_text()
    screenshot(page, "admin-grants-failed")

    page.goto("/admin/")
    page.get_by_role("link", name="Refunds and disputes held for review").click()
    expect(rows).to_have_count(1)
    assert str(held.id)[:8] in rows.inner_text() and "-100" in rows.inner_text()

    page.goto("/admin/")
    page.get_by_role("link", name="Stripe events that failed").click()
    expect(rows).to_have_count(1)
    assert lost.stripe_id in rows.inner_text()
    screenshot(page, "admin-events-failed")

    # The event's page says why, and processes it again once the account exists.
    rows.get_by_role("link", name=lost.stripe_id).click()
    expect(page.get_by_role("group", name="This event failed")).to_contain_text("no account for this event")
    screenshot(page, "admin-event-failed")
    stranger.save()
    page.get_by_role("button", name="Process again").click()
    expect(page.locator(".messagelist")).to_contain_text(re.compile(f"Event {lost.stripe_id} processed"))
    lost.refresh_from_db()
    assert lost.state == EventState.SUCCEEDED
    assert [g["amount"] for g in flash.grants(stranger.flash_user_id)] == [100]
    expect(page.get_by_role("button", name="Process again")).to_have_count(0)

    page.goto("/admin/")
    assert _counts(page.get_by_role("region", name="Needs attention"))["Stripe events that failed"] == 0
