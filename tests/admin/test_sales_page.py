"""The sales page in a browser: this month's purchases (one of them refused by Flash,
so paid for but not applied), a partial refund, and the CSV an operator downloads;
then the usage dashboard's charts, readable."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import expect

from apikeys.keys import create_key
from tests.conftest import bearer
from tests.payments.purchases import buy, pay_invoice, refund
from tests.portal.conftest import PHONE, colliding_chart_labels, screenshot, wait_for_records

pytestmark = pytest.mark.browser


@pytest.fixture
def month_of_sales(alice, flash, stripe_api, post_event) -> None:
    buy(post_event, stripe_api, alice, "100_credits", "cs_1", 999)
    buy(post_event, stripe_api, alice, "500_credits", "cs_2", 3999)
    pay_invoice(post_event, stripe_api, alice, "in_3", 499)
    flash.fail(422, body={"detail": "user is closed"}, path="admin/grant")
    buy(post_event, stripe_api, alice, "100_credits", "cs_4", 999)  # paid, refused by Flash
    refund(post_event, stripe_api, "cs_2", 3999, 1000)  # a quarter of the 500 back


def test_it_answers_how_much_was_sold_this_month(operator_page, month_of_sales):
    today = timezone.now().astimezone(dt.UTC).date()
    page = operator_page
    page.goto("/admin/")

    page.get_by_role("link", name="Sales", exact=True).click()

    expect(page.get_by_role("heading", name=f"Sales, {today:%B %Y}")).to_be_visible()
    totals = page.get_by_role("region", name="Month totals")
    card = {name: totals.locator(".sales-card", has_text=name).inner_text()
            for name in ("Money received", "Refunds and disputes", "Net", "Credits granted")}
    assert "64.96 USD" in card["Money received"] and "4 purchases" in card["Money received"]
    assert "10.00 USD" in card["Refunds and disputes"] and "Stripe refund: 10.00 USD" in card["Refunds and disputes"]
    assert "54.96 USD" in card["Net"]
    # 750 granted, 650 applied: the refused purchase's credits are not, though its money came in.
    assert "750 / 650" in card["Credits granted"] and "100 not applied yet (paid: 9.99 USD)" in card["Credits granted"]
    purchases = page.locator("#purchases tbody tr")
    expect(purchases).to_have_count(3)
    hundred = page.locator("#purchases tbody tr", has_text="100 credits package").inner_text()
    assert "Stripe purchase" in hundred and "19.98 USD" in hundred
    assert "Explorer plan" in page.locator("#purchases").inner_text()
    assert "10.00 USD" in page.locator("#given-back tbody tr").inner_text()
    today_row = page.locator("#days tbody tr").first.inner_text()
    assert "64.96 USD" in today_row and "54.96 USD" in today_row
    assert page.locator("#months tr.selected").inner_text().startswith(f"{today:%B}")
    assert colliding_chart_labels(page, "svg.usage-chart text") == []
    screenshot(page, "admin-sales")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export days (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path()).read())))
    assert rows[-1]["period"] == today.isoformat()
    assert (rows[-1]["received_usd"], rows[-1]["given_back_usd"], rows[-1]["net_usd"]) == ("64.96", "10.00", "54.96")
    assert (rows[-1]["credits_granted"], rows[-1]["credits_applied"]) == ("750", "650")

    # The link under "not applied" opens the grant Flash refused.
    totals.get_by_role("link", name="100 not applied yet").click()
    grants = page.locator("#result_list tbody tr")
    expect(grants).to_have_count(1)
    assert "Failed" in grants.inner_text()

    page.go_back()
    page.set_viewport_size(PHONE)
    assert colliding_chart_labels(page, "svg.usage-chart text") == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # wide tables scroll in place
    screenshot(page, "admin-sales-phone")


def test_it_draws_the_usage_dashboard_s_charts_with_readable_labels(operator_page, alice, month_of_sales, live_server):
    key, plaintext = create_key(alice, "server", "live")
    for path in ("/api/v1/credits/balance", "/api/v1/keys", "/api/v1/credits/balance"):
        requests.get(live_server.url + path, headers=bearer(plaintext), timeout=10)
    wait_for_records(3, api_key=key)
    page = operator_page

    page.goto("/admin/metering/usagedashboard/?days=30")

    assert "Net sales: 54.96 USD" in page.locator(".usage-totals").inner_text()
    charts = page.locator("svg.usage-chart")
    expect(charts).to_have_count(4)  # requests, credits, error rate, net sales (USD)
    assert colliding_chart_labels(page, "svg.usage-chart text") == []
    sizes = page.evaluate("() => [...document.querySelectorAll('svg.usage-chart text')]"
                          ".map(t => t.getBoundingClientRect().height)")
    assert min(sizes) >= 10  # px on screen: readable
    screenshot(page, "admin-usage-dashboard")
    page.set_viewport_size(PHONE)
    assert colliding_chart_labels(page, "svg.usage-chart text") == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "admin-usage-dashboard-phone")
