"""Sales figures (`payments.sales`) from purchases, refunds and a grant Flash refused,
all reported by Stripe through the webhook; the ledger rows are then placed on fixed
days so that the month is the same whenever the test runs."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from payments import sales
from payments.models import CreditGrant, GrantState

from .conftest import committed
from .purchases import buy, pay_invoice, refund

MARCH = dt.date(2026, 3, 1)


def _on(day: dt.date, **lookup) -> None:
    moment = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    assert CreditGrant.objects.filter(**lookup).update(created_at=moment) >= 1, lookup


@pytest.fixture
def operator(db) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-123"))
    return client


@pytest.fixture
def march(alice, flash, stripe_api, post_event, operator) -> None:
    buy(post_event, stripe_api, alice, "100_credits", "cs_a", 999)
    buy(post_event, stripe_api, alice, "500_credits", "cs_b", 3999)
    pay_invoice(post_event, stripe_api, alice, "in_c", 499)
    buy(post_event, stripe_api, alice, "100_credits", "cs_e", 900, currency="eur")
    flash.fail(422, body={"detail": "user is closed"}, path="admin/grant")
    buy(post_event, stripe_api, alice, "100_credits", "cs_d", 999)  # refused by Flash: failed
    buy(post_event, stripe_api, alice, "100_credits", "cs_f", 999)
    refund(post_event, stripe_api, "cs_a", 999, 500)
    refund(post_event, stripe_api, "cs_a", 999, 999)  # the rest: Stripe sends the running total
    with committed():
        operator.post("/admin/payments/creditgrant/add/", {"account": str(alice.pk), "amount": "25",
                                                           "transaction_type": "admin_grant", "reason": "goodwill"})
    assert CreditGrant.objects.get(stripe_object_id="cs_d").state == GrantState.FAILED
    _on(dt.date(2026, 3, 2), stripe_object_id__in=["cs_a", "cs_b"])
    _on(dt.date(2026, 3, 5), stripe_object_id__in=["in_c", "cs_d", "cs_e"])
    _on(dt.date(2026, 3, 5), source="manual")
    _on(dt.date(2026, 3, 20), amount__lt=0)
    _on(dt.date(2026, 2, 27), stripe_object_id="cs_f")


def test_it_counts_money_received_given_back_and_net_per_currency(march):
    report = sales.month_report(dt.date(2026, 3, 17), today=dt.date(2026, 3, 31))

    total = report.total
    assert report.month == MARCH and report.currencies == ["eur", "usd"]
    assert (total.purchases, total.unpriced_purchases, total.reversals) == (5, 0, 2)
    # Money received is what buyers paid, the purchase Flash refused included.
    assert total.received == {"usd": 999 + 3999 + 499 + 999, "eur": 900}
    assert total.received_not_in_flash == {"usd": 999}
    assert total.given_back == {"stripe_refund": {"usd": 999}}  # 500 + 499: the whole charge, once
    assert total.net == {"usd": 6496 - 999, "eur": 900}
    assert sales.money_text(total.net) == "9.00 EUR · 54.97 USD"
    # Credits: every grant of the month; applied only where Flash confirmed it.
    assert (total.credits_granted, total.credits_applied, total.credits_not_applied) == (875, 775, 100)
    assert total.credits_reversed == 100


def test_it_splits_the_month_by_day_source_and_product(march):
    report = sales.month_report(MARCH, today=dt.date(2026, 3, 31))

    assert len(report.days) == 31
    days = {day: figures for day, figures in report.days if not figures.is_empty}
    assert sorted(days) == [dt.date(2026, 3, 2), dt.date(2026, 3, 5), dt.date(2026, 3, 20)]
    assert (days[dt.date(2026, 3, 2)].purchases, days[dt.date(2026, 3, 2)].received) == (2, {"usd": 4998})
    assert days[dt.date(2026, 3, 5)].credits_granted == 50 + 100 + 100 + 25
    assert days[dt.date(2026, 3, 20)].given_back_total == {"usd": 999}

    lines = {(line.source_label, line.product_label): line for line in report.purchases}
    assert set(lines) == {("Stripe purchase", "100 credits package"), ("Stripe purchase", "500 credits package"),
                          ("Stripe subscription", "Explorer plan")}
    hundred = lines["Stripe purchase", "100 credits package"]
    assert (hundred.count, hundred.credits, hundred.credits_not_applied) == (3, 300, 100)
    assert hundred.money_text == "9.00 EUR · 19.98 USD"
    assert [(line.source_label, line.credits) for line in report.other_grants] == [("Manual (operator)", 25)]
    [given_back] = report.given_back
    assert (given_back.source_label, given_back.count, given_back.credits, given_back.money_text) == (
        "Stripe refund", 2, -100, "9.99 USD")


def test_it_lists_each_month_of_the_year_up_to_today(march):
    report = sales.month_report(MARCH, today=dt.date(2026, 3, 31))

    assert [month for month, _ in report.year] == [dt.date(2026, 1, 1), dt.date(2026, 2, 1), MARCH]
    january, february, _ = (figures for _, figures in report.year)
    assert january.is_empty and (february.purchases, february.received) == (1, {"usd": 999})


def test_it_exports_the_days_of_a_month_as_csv(operator, alice, stripe_api, post_event):
    buy(post_event, stripe_api, alice, "500_credits", "cs_now", 3999)
    today = timezone.now().astimezone(dt.UTC).date()

    response = operator.get(f"/admin/payments/salesreport/export/?month={today:%Y-%m}")

    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert f'filename="sales-{today:%Y-%m}-by-day.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == today.day  # every day of the month so far
    assert rows[-1] == {"period": today.isoformat(), "purchases": "1", "purchases_without_price": "0",
                        "refunds_and_disputes": "0", "received_usd": "39.99", "given_back_usd": "0.00",
                        "net_usd": "39.99", "received_not_in_flash_usd": "0.00", "credits_granted": "500",
                        "credits_applied": "500", "credits_not_applied": "0", "credits_reversed": "0"}


def test_it_shows_the_sales_page_only_to_operators(alice_token):
    assert Client().get("/admin/payments/salesreport/").status_code == 302  # to the admin's sign-in
    staff = get_user_model().objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/payments/salesreport/").status_code == 403
    assert client.get("/admin/payments/salesreport/export/").status_code == 403


def test_it_shows_the_same_net_sales_on_the_usage_dashboard(operator, alice, stripe_api, post_event):
    buy(post_event, stripe_api, alice, "100_credits", "cs_1", 999)
    buy(post_event, stripe_api, alice, "500_credits", "cs_2", 3999)
    refund(post_event, stripe_api, "cs_1", 999, 999)

    body = operator.get("/admin/metering/usagedashboard/?days=7").content.decode()

    assert "Net sales: <strong>39.99 USD</strong>" in body
    assert "Net sales per day (USD)" in body
    assert f"{timezone.now().astimezone(dt.UTC).date().isoformat()}: 39.99</title>" in body
