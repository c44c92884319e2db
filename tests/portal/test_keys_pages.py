from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from apikeys.models import APIKey
from tests.conftest import bearer, flush_usage

from .conftest import PHONE, csrf_post, screenshot, sign_in_through_auth0

pytestmark = pytest.mark.browser


def test_it_creates_a_key_shown_once_that_works_is_metered_and_can_be_revoked(page, context, auth0, flash,
                                                                            live_server):
    sign_in_through_auth0(page, auth0, "auth0|dev-1", "dev1@example.com", "Dev One")
    page.get_by_role("navigation", name="Portal").get_by_role("link", name="API keys").click()
    expect(page.get_by_text("No keys yet")).to_be_visible()
    screenshot(page, "keys-empty")

    page.get_by_label("Name").fill("ci runner")
    page.get_by_label("Test").check()
    page.get_by_role("button", name="Create key").click()

    plaintext = page.locator("#new-key").inner_text().strip()
    assert re.fullmatch(r"tp_test_[a-z0-9]{32}", plaintext)
    expect(page.get_by_text("It will not be shown again")).to_be_visible()
    screenshot(page, "key-created")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == plaintext
    page.reload()
    assert plaintext not in page.content()
    expect(page.get_by_text("cannot be shown again")).to_be_visible()

    answer = requests.get(f"{live_server.url}/api/v1/credits/balance", headers=bearer(plaintext), timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["balance"] == flash.signup_credits
    flush_usage()  # its usage record stored, as the usage writer would within 250 ms

    page.goto("/portal/keys/")
    row = page.get_by_role("row", name=re.compile("ci runner"))
    assert plaintext[:16] in row.inner_text()
    assert "Test" in row.inner_text() and "Free" in row.inner_text()
    assert "never used" not in row.inner_text()
    screenshot(page, "keys-list")

    row.get_by_role("link", name="Usage").click()
    expect(page.get_by_role("heading", name=re.compile("ci runner"))).to_be_visible()
    endpoints = page.get_by_role("region", name="By endpoint")
    assert "/api/v1/credits/balance" in endpoints.inner_text()
    assert page.locator("svg[role=img]").count() == 1
    screenshot(page, "key-usage")

    page.get_by_role("link", name="Revoke").click()
    expect(page.get_by_role("heading", name="Revoke “ci runner”?")).to_be_visible()
    screenshot(page, "key-revoke-confirm")
    page.get_by_role("button", name="Revoke key").click()

    expect(page.get_by_text("is revoked")).to_be_visible()
    assert "Revoked" in page.get_by_role("row", name=re.compile("ci runner")).inner_text()
    answer = requests.get(f"{live_server.url}/api/v1/credits/balance", headers=bearer(plaintext), timeout=10)
    assert answer.status_code == 401


def test_it_lists_a_new_key_as_never_used_and_reads_well_on_a_phone(alice_page, alice):
    page = alice_page
    page.set_viewport_size(PHONE)
    page.goto("/portal/keys/")
    page.get_by_label("Name").fill("mobile app")
    page.get_by_role("button", name="Create key").click()
    page.get_by_role("link", name="Done: back to my keys").click()

    row = page.get_by_role("row", name=re.compile("mobile app"))
    assert "never used" in row.inner_text()
    assert "Live" in row.inner_text()  # the default environment
    assert APIKey.objects.get(account=alice).environment == "live"
    screenshot(page, "keys-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # nothing forces sideways scrolling of the page


def test_it_explains_a_missing_name_next_to_the_field(alice_page, alice):
    page = alice_page
    page.goto("/portal/keys/")

    page.get_by_role("button", name="Create key").click()

    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("This field is required.")).to_be_visible()
    assert not APIKey.objects.filter(account=alice).exists()


def test_it_refuses_a_form_without_its_csrf_token(alice_page, alice):
    page = alice_page
    page.goto("/portal/keys/")

    response = page.request.post("/portal/keys/new/", form={"name": "forged", "environment": "live"})

    assert response.status == 403
    assert not APIKey.objects.filter(account=alice).exists()


def test_it_shows_nobody_else_s_key(alice_page, bob):
    from apikeys.keys import create_key

    key, _ = create_key(bob, "bob's", "live")

    for path in (f"/portal/keys/{key.pk}/", f"/portal/keys/{key.pk}/revoke/"):
        assert alice_page.goto(path).status == 404
    assert csrf_post(alice_page, f"/portal/keys/{key.pk}/revoke/").status == 404
    key.refresh_from_db()
    assert key.is_active
