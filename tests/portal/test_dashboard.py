from __future__ import annotations

import pytest
import requests

from apikeys.keys import create_key
from tests.conftest import bearer

from .conftest import PHONE, colliding_chart_labels, screenshot, wait_for_records

pytestmark = pytest.mark.browser


def test_it_shows_balance_plan_and_this_month_s_usage(alice_page, alice, flash, live_server):
    flash.add_user(alice.external_id, balance=30)  # amber: below 50
    key, plaintext = create_key(alice, "server", "live")
    for _ in range(3):
        assert requests.get(f"{live_server.url}/api/v1/credits/balance", headers=bearer(plaintext),
                            timeout=10).status_code == 200
    # Keys are managed by people, not programs: a refusal the dashboard lists.
    refused = requests.get(f"{live_server.url}/api/v1/keys", headers=bearer(plaintext), timeout=10)
    assert refused.status_code == 403
    wait_for_records(4, api_key=key)
    page = alice_page

    page.goto("/portal/")

    assert page.get_by_role("link", name="Dashboard").get_attribute("aria-current") == "page"
    assert "30 credits" in page.locator(".balance-warn").inner_text()
    plan = page.locator(".card", has_text="Plan").first.inner_text()
    assert "Free" in plan and "10 requests/minute" in plan
    month = page.locator(".card", has_text="This month").first.inner_text()
    assert "4 requests" in month and "1 error" in month and "1 active key" in month
    chart = page.locator("svg[role=img]")
    assert "4 requests" in chart.locator("desc").text_content()
    failed = page.get_by_role("region", name="Latest failed requests").locator("tbody tr")
    assert failed.count() == 1
    assert all(part in failed.inner_text() for part in ("403", "GET /api/v1/keys", "server",
                                                         refused.headers["X-Request-ID"]))
    assert page.get_by_role("link", name="Create a key").is_visible()
    by_key = page.get_by_role("region", name="Usage since").get_by_role("row", name="server")
    assert "4" in by_key.inner_text()
    by_key.get_by_role("link", name="server").click()
    page.wait_for_url("**/portal/keys/*/")
    page.go_back()
    screenshot(page, "dashboard")

    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert colliding_chart_labels(page) == []
    screenshot(page, "dashboard-phone")


def test_it_says_hd_is_included_when_the_plan_includes_it(alice_page, alice, auth0, live_server):
    alice.plan = "historian"  # the free tier's limits, with HD (CONTRACT §6's plans)
    alice.save(update_fields=["plan"])

    alice_page.goto("/portal/")

    plan = alice_page.locator(".card", has_text="Plan").first.inner_text()
    assert "Historian" in plan and "HD included" in plan
    hd = requests.post(f"{live_server.url}/api/v1/generate", headers=bearer(auth0.mint(alice.external_id)),
                       json={"query": "Apollo 11 landing, 1969", "preset": "hd"}, timeout=10)
    assert hd.status_code == 200  # what the page says is what the API does


def test_it_shows_an_empty_month_without_a_chart(alice_page):
    alice_page.goto("/portal/")

    assert alice_page.get_by_text("Nothing yet in this period.").is_visible()
    assert alice_page.locator("svg[role=img]").count() == 0
