"""The admin index as an operator opens it: billing's apps first, each model named
once, and the Stripe mirror last, cut down and read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from payments.attention import Check, needs_attention

pytestmark = pytest.mark.django_db


def test_it_lists_billing_first_and_the_stripe_mirror_last(operator_client):
    apps = operator_client.get("/admin/").context["app_list"]

    assert [app["name"] for app in apps[:4]] == ["Payments", "Accounts", "API keys", "Usage"]
    assert [m["object_name"] for m in apps[0]["models"]] == ["SalesReport", "ReconciliationRun", "CreditGrant",
                                                             "StripeEvent", "Difference", "AutoReload", "Reload"]
    mirror = apps[-1]
    assert mirror["name"] == "Stripe mirror (read-only)"
    assert [m["name"] for m in mirror["models"]] == ["Customers", "Subscriptions", "Invoices", "Charges", "Refunds",
                                                     "Disputes", "Payment intents", "Products", "Prices", "Events"]
    names = [m["name"] for app in apps for m in app["models"]]
    assert len(names) == len(set(names)), "a model name appears twice"
    assert "Api keys" not in names and "API keys" in names


def test_it_keeps_the_stripe_mirror_read_only(operator_client):
    from djstripe.models import Product

    product = Product.objects.create(id="prod_1", name="100 credits", livemode=False)

    assert all(m["add_url"] is None for m in operator_client.get("/admin/").context["app_list"][-1]["models"])
    assert operator_client.get("/admin/djstripe/customer/add/").status_code == 403
    listing = operator_client.get("/admin/djstripe/product/")
    assert listing.status_code == 200 and "prod_1" in listing.content.decode()
    assert listing.context["action_form"] is None  # no bulk actions offered
    page = operator_client.get(f"/admin/djstripe/product/{product.pk}/change/")
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert operator_client.post(f"/admin/djstripe/product/{product.pk}/change/", {"name": "free"}).status_code == 403
    assert operator_client.post(f"/admin/djstripe/product/{product.pk}/delete/", {"post": "yes"}).status_code == 403
    product.refresh_from_db()
    assert product.name == "100 credits"
    # Models left out of the index stay reachable through links.
    assert operator_client.get("/admin/djstripe/paymentmethod/").status_code == 200


def test_it_adds_a_check_to_the_box_with_one_line(operator, operator_client, alice):
    from payments.models import CreditGrant

    CreditGrant.objects.create(idempotency_key="t:1", source="manual", account=alice, flash_user_id="u", amount=-5,
                               transaction_type="refund", state="pending")
    checks = [Check("corrections on their way", "payments.CreditGrant", {"amount__lt": "0", "state__in": "pending"})]

    [item] = needs_attention(operator, checks)

    assert (item.label, item.count) == ("corrections on their way", 1)
    assert item.url == "/admin/payments/creditgrant/?amount__lt=0&state__in=pending"
    # The link opens the admin's list filtered to exactly the rows counted.
    assert operator_client.get(item.url).context["cl"].result_count == 1


def test_it_shows_each_operator_only_the_checks_of_lists_they_may_see(alice):
    viewer = get_user_model().objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    assert needs_attention(viewer) == []
    client = Client()
    client.force_login(viewer)
    assert "needs-attention" not in client.get("/admin/").content.decode()


def test_it_counts_the_reconciliation_differences_nobody_has_explained(operator, operator_client):
    from django.utils import timezone

    from payments.models import Difference, DifferenceKind

    now = timezone.now()
    for key, done in (("open", {}), ("explained", {"explained_at": now, "explanation": "a test payment"}),
                      ("resolved", {"resolved_at": now})):
        Difference.objects.create(key=f"paid_no_grant:{key}", kind=DifferenceKind.PAID_NO_GRANT, occurred_at=now,
                                  detail=f"cs_{key} was paid; no grant", stripe_object_id=f"cs_{key}", **done)

    [item] = [i for i in needs_attention(operator) if "reconciliation" in i.label]

    assert item.count == 1
    listed = operator_client.get(item.url).context["cl"]
    assert [d.stripe_object_id for d in listed.result_list] == ["cs_open"]


def test_it_shows_no_secret_the_stripe_mirror_stores(operator_client):
    from djstripe.models import APIKey, WebhookEndpoint

    endpoint = WebhookEndpoint.objects.create(id="we_1", livemode=False, url="https://api.example.com/hook",
                                              secret="whsec_NeverShown1234567890", api_version="2024-06-20",
                                              enabled_events=["*"], status="enabled")
    key = APIKey.objects.create(type="secret", name="ops", secret="sk_test_51NeverShown1234567890", livemode=False)

    for url in ("/admin/djstripe/webhookendpoint/", f"/admin/djstripe/webhookendpoint/{endpoint.pk}/change/",
                "/admin/djstripe/apikey/", f"/admin/djstripe/apikey/{key.pk}/change/"):
        page = operator_client.get(url)
        assert page.status_code == 200, url
        # Stripe's own redaction (sk_test_...7890) is all that may show of a key.
        assert "NeverShown" not in page.content.decode(), url
