"""The portal's auto-reload page in a browser: a card saved on the Stripe stand-in's
setup page, the settings, a reload that pays and one that fails, each shown."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from playwright.sync_api import expect

from payments.models import AutoReload, Reload, ReloadStatus
from tests.conftest import bearer

from .conftest import PHONE, fully_on_screen, screenshot

pytestmark = pytest.mark.browser


def _save_card(page, stripe_api, live_server, card_label: str) -> None:
    page.goto("/portal/credits/auto-reload/")
    page.get_by_role("button", name="Save a card").click()
    page.wait_for_url(f"{stripe_api.url}/checkout/**")
    session = stripe_api.sessions[page.url.rsplit("/", 1)[-1]]
    assert session["mode"] == "setup"
    sent = stripe_api.params(stripe_api.received("/v1/checkout/sessions")[-1])
    assert sent["success_url"] == f"{live_server.url}/portal/credits/auto-reload/?card=saved"
    screenshot(page, "stripe-setup-checkout")
    page.get_by_label(card_label).check()
    page.get_by_role("button", name="Save card").click()
    page.wait_for_url("**/portal/credits/auto-reload/?card=saved")


def _turn_on(page, threshold: int, limit: int) -> None:
    page.get_by_label("Reload automatically").check()
    page.get_by_label("When my balance falls below").fill(str(threshold))
    page.get_by_label("Buy").select_option("100_credits")
    page.get_by_label("At most").fill(str(limit))
    page.get_by_role("button", name="Save auto-reload").click()
    expect(page.get_by_role("status").filter(has_text="Auto-reload is on")).to_be_visible()


def _read_balance(alice, auth0) -> None:
    assert Client(headers=bearer(auth0.mint(alice.external_id))).get("/api/v1/credits/balance").status_code == 200


def test_it_saves_a_card_turns_auto_reload_on_and_shows_the_reload(alice_page, alice, flash, stripe_api, auth0,
                                                                     live_server):
    page = alice_page
    page.goto("/portal/credits/")
    page.get_by_role("link", name="auto-reload").click()
    expect(page.locator("#saved-card")).to_have_text("No card saved yet.")

    _save_card(page, stripe_api, live_server, "5555 5555 5555 4444 · Mastercard: saved, later payments succeed")
    page.reload()
    expect(page.locator("#saved-card")).to_have_text("Mastercard ···· 4444")

    _turn_on(page, threshold=150, limit=2)
    assert AutoReload.objects.get(account=alice).enabled is True

    _read_balance(alice, auth0)  # 100 credits, below 150: one reload
    stripe_api.deliver_pending()
    assert flash.balance_of(alice.flash_user_id) == 200
    page.reload()
    expect(page.locator("#reloads tbody tr")).to_have_count(1)
    expect(page.locator("#reloads tbody tr")).to_contain_text("Succeeded")
    expect(page.locator("#reloads tbody tr")).to_contain_text("+100")
    expect(page.locator("#reloads-this-month")).to_contain_text("1 of 2 reloads")
    screenshot(page, "auto-reload")
    page.set_viewport_size(PHONE)
    assert fully_on_screen(page.locator("#reloads"), PHONE) or page.locator(".table-wrap").count() == 1
    screenshot(page, "auto-reload-phone")


def test_it_shows_why_a_reload_failed_and_that_it_is_off(alice_page, alice, flash, stripe_api, auth0, live_server):
    page = alice_page
    _save_card(page, stripe_api, live_server, "4000 0000 0000 0341 · Visa: saved, but every payment is declined")
    page.reload()
    _turn_on(page, threshold=150, limit=3)

    _read_balance(alice, auth0)
    stripe_api.deliver_pending()
    assert Reload.objects.get().status == ReloadStatus.FAILED
    page.reload()
    expect(page.locator("#last-error")).to_contain_text("Your card was declined.")
    expect(page.locator("#reloads tbody tr")).to_contain_text("Failed")
    expect(page.get_by_label("Reload automatically")).not_to_be_checked()
    assert len(mail.outbox) == 1
    screenshot(page, "auto-reload-failed")


def test_it_refuses_to_turn_on_without_a_card_and_saves_nothing(alice_page, alice):
    page = alice_page
    page.goto("/portal/credits/auto-reload/")
    page.get_by_label("Reload automatically").check()
    page.get_by_role("button", name="Save auto-reload").click()
    expect(page.get_by_role("status").filter(has_text="Save a card first")).to_be_visible()
    assert not AutoReload.objects.filter(account=alice, enabled=True).exists()


def test_it_says_a_cancelled_card_setup_saved_nothing(alice_page):
    alice_page.goto("/portal/credits/auto-reload/?card=cancelled")
    expect(alice_page.get_by_role("status")).to_contain_text("Nothing was saved or charged")
