from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from timepoint_billing.views import server_error

from .conftest import screenshot, signed_in_user


@pytest.mark.browser
def test_it_shows_a_portal_404_with_the_layout(alice_page):
    page = alice_page
    response = page.goto("/portal/no-such-page/")

    assert response.status == 404
    assert page.get_by_role("heading", name="Page not found").is_visible()
    assert "/portal/no-such-page/" in page.locator("main").inner_text()
    assert page.get_by_role("navigation", name="Portal").is_visible()
    screenshot(page, "error-404")


def test_it_answers_500_with_a_page_that_needs_no_context(db):
    response = server_error(RequestFactory().get("/portal/"))

    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body
    assert "portal.css" in body  # still the portal's look, without a signed-in user


@pytest.mark.browser
def test_it_says_balance_unavailable_when_flash_is_down(alice_page, flash):
    flash.down()
    page = alice_page

    response = page.goto("/portal/")

    assert response.status == 200
    assert "Balance unavailable" in page.locator(".balance-unknown").inner_text()
    screenshot(page, "dashboard-flash-down")
    response = page.goto("/portal/credits/")
    assert response.status == 200
    assert "Balance unavailable" in page.locator("main").inner_text()
    assert "Transaction history unavailable" in page.locator("main").inner_text()


def test_it_tells_a_signed_in_user_without_an_account_instead_of_failing(client, django_user_model):
    operator = django_user_model.objects.create_user("operator", "op@example.com")
    client.force_login(operator)

    response = client.get("/portal/keys/")

    assert response.status_code == 403
    assert b"No developer account" in response.content


def test_it_explains_a_refused_form_in_the_portal_s_look(alice):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(signed_in_user(alice))

    response = strict.post("/portal/keys/new/", {"name": "forged", "environment": "live"})

    assert response.status_code == 403
    assert b"This form has expired" in response.content and b"portal.css" in response.content
