from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from apikeys.models import APIKey
from tests.conftest import bearer, flush_usage

from .conftest import (
    DESKTOP,
    PHONE,
    colliding_chart_labels,
    csrf_post,
    fully_on_screen,
    screenshot,
    sign_in_through_auth0,
    wait_for_records,
)

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
    # Every column of the row is on screen, the last ones (when, what to do) too.
    for part in ("Tier", "Created", "Last used"):
        assert fully_on_screen(row.locator(f'td[data-label="{part}"]'), PHONE), part
    for link in ("Usage", "Revoke"):
        assert fully_on_screen(row.get_by_role("link", name=link), PHONE), link


def test_it_shows_a_key_s_active_days_and_its_latest_failed_requests(alice_page, alice, live_server):
    from apikeys.keys import create_key

    key, plaintext = create_key(alice, "batch job", "live")
    for _ in range(2):
        assert requests.get(f"{live_server.url}/api/v1/credits/balance", headers=bearer(plaintext),
                            timeout=10).status_code == 200
    refused = requests.get(f"{live_server.url}/api/v1/keys", headers=bearer(plaintext), timeout=10)
    assert refused.status_code == 403  # keys are for people to manage, not for programs
    wait_for_records(3, api_key=key)
    page = alice_page
    page.goto("/portal/keys/")

    page.get_by_role("row", name=re.compile("batch job")).get_by_role("link", name="Usage").click()

    breadcrumb = page.get_by_role("navigation", name="Breadcrumb")
    assert breadcrumb.get_by_role("link", name="API keys").get_attribute("href") == "/portal/keys/"
    assert breadcrumb.locator('[aria-current="page"]').inner_text() == "batch job"
    assert page.locator(".card", has_text="Errors").first.locator(".stat").inner_text() == "1"
    failed = page.get_by_role("region", name="Latest failed requests").locator("tbody tr")
    expect(failed).to_have_count(1)
    listed = failed.inner_text()
    assert "403" in listed and "Forbidden" in listed and "GET /api/v1/keys" in listed
    assert refused.headers["X-Request-ID"] in listed
    page.get_by_text("Show as a table").click()
    days = page.locator(".chart-table tbody tr")
    expect(days).to_have_count(1)  # today; the 29 quiet days are one sentence
    assert days.inner_text().split()[-1] == "3"
    expect(page.get_by_text("The other 29 days had no requests.")).to_be_visible()
    screenshot(page, "key-usage-details")

    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert colliding_chart_labels(page) == []
    assert fully_on_screen(failed.get_by_text(refused.headers["X-Request-ID"]), PHONE)
    by_endpoint = page.get_by_role("region", name="By endpoint").get_by_role("row", name=re.compile("balance"))
    assert fully_on_screen(by_endpoint.locator("td").last, PHONE)  # credits spent, the last column
    screenshot(page, "key-usage-phone")
    page.set_viewport_size(DESKTOP)
    assert colliding_chart_labels(page) == []


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
