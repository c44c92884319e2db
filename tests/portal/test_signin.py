from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Account

from .conftest import screenshot, sign_in_through_auth0

pytestmark = pytest.mark.browser


def test_it_signs_in_through_auth0_and_out_again(page, auth0, flash):
    sign_in_through_auth0(page, auth0, "auth0|dev-1", "dev1@example.com", "Dev One")

    assert auth0.received("/authorize")[-1].query["client_id"] == [auth0.client_id]
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert "dev1@example.com" in page.locator("header").inner_text()
    account = Account.objects.get(external_id="auth0|dev-1")
    assert account.user is not None  # the portal's user and the API's account are one
    assert flash.received("/api/v1/users/resolve")  # first sight made the Flash user
    screenshot(page, "dashboard-first-sign-in")

    page.get_by_role("button", name="Sign out").click()

    expect(page.get_by_text("You are signed out")).to_be_visible()
    response = page.request.get("/portal/", max_redirects=0)
    assert response.status == 302
    assert response.headers["location"].startswith("/portal/login/")


def test_it_brings_a_signed_out_visitor_back_to_the_page_after_sign_in(page, auth0):
    auth0.login_as("auth0|dev-2", "dev2@example.com", "Dev Two")

    page.goto("/portal/docs/")
    assert "/portal/login/" in page.url
    screenshot(page, "sign-in")
    page.get_by_role("button", name="Sign in with Auth0").click()

    page.wait_for_url("**/portal/docs/")
    expect(page.get_by_role("heading", name="Using the API")).to_be_visible()
    assert auth0.received("/authorize")


def test_it_signs_in_as_whoever_is_chosen_on_the_auth0_page(page, auth0):
    page.goto("/portal/login/")
    page.get_by_role("button", name="Sign in with Auth0").click()

    page.wait_for_url(auth0.url + "/authorize?**")
    expect(page.get_by_label("User id (sub)")).to_have_value("auth0|newcomer")
    screenshot(page, "auth0-standin-sign-in")
    page.get_by_label("User id (sub)").fill("auth0|chosen")
    page.get_by_label("Email").fill("chosen@example.com")
    page.get_by_role("button", name="Sign in", exact=True).click()

    page.wait_for_url("**/portal/")
    assert "chosen@example.com" in page.locator("header").inner_text()
    assert Account.objects.get(external_id="auth0|chosen").user.email == "chosen@example.com"
