"""The admin's reconciliation page: latest runs, per-day totals of the three sides, open
differences with their links, "Run now", and explaining a difference (who, why, when)."""

from __future__ import annotations

import pytest
import requests
from django.contrib.auth.models import Permission
from django.test import Client

from payments import reconciliation
from payments.models import Difference, ReconciliationRun

from .conftest import committed

PAGE = "/admin/payments/reconciliationrun/"


@pytest.fixture(autouse=True)
def _no_grace(settings) -> None:
    settings.PAYMENTS_RECONCILE_GRACE_SECONDS = 0


def _run_now(operator: Client):
    with committed():
        return operator.post(PAGE + "run/", follow=True)


def test_it_runs_now_and_shows_the_differences_with_their_links(operator, as_alice, alice, buy):
    lost = buy(as_alice, "500_credits", deliver=False)
    buy(as_alice, "100_credits")

    page = _run_now(operator)

    assert page.status_code == 200
    text = page.content.decode()
    run = ReconciliationRun.objects.get()
    assert run.triggered_by == "admin: ops" and f"Run {run.pk}: 1 unexplained difference(s)." in text
    difference = Difference.objects.get()
    assert difference.get_kind_display() in text and difference.detail in text
    stripe_link = next(line for line in text.splitlines() if f"Stripe {lost['id']}" in line)
    url = stripe_link.split('href="')[1].split('"')[0]
    assert requests.get(url, timeout=5).json()["id"] == lost["id"]  # the object's page (the stand-in's)
    assert f"/admin/accounts/account/{alice.pk}/change/" in text
    # Per-day totals of the three sides: 600 credits paid for, 100 granted and in Flash.
    [today] = run.daily
    assert (today["stripe"]["credits"], today["ledger"]["credits"], today["flash"]["credits"]) == (600, 100, 100)
    assert "49.98 USD" in text


def test_it_marks_a_difference_explained_with_who_why_and_when(operator, as_alice, buy):
    buy(as_alice, "100_credits", deliver=False)
    _run_now(operator)
    difference = Difference.objects.get()
    assert reconciliation.open_differences_count() == 1

    page = operator.post(f"{PAGE}explain/{difference.pk}/", {"note": "Refunded by phone, ticket 12"}, follow=True)

    difference.refresh_from_db()
    assert difference.explanation == "Refunded by phone, ticket 12"
    assert difference.explained_by.username == "ops" and difference.explained_at is not None
    assert reconciliation.open_differences_count() == 0
    assert "Refunded by phone, ticket 12" in page.content.decode()  # under "Recently explained"
    _run_now(operator)
    assert ReconciliationRun.objects.first().outcome == "clean"


def test_it_wants_a_reason_to_explain(operator, as_alice, buy):
    buy(as_alice, "100_credits", deliver=False)
    _run_now(operator)
    difference = Difference.objects.get()

    page = operator.post(f"{PAGE}explain/{difference.pk}/", {"note": "  "}, follow=True)

    assert "Say why the difference is explained." in page.content.decode()
    assert Difference.objects.get().is_open


def test_it_lets_a_viewer_look_but_not_run_or_explain(django_user_model, as_alice, buy, operator):
    buy(as_alice, "100_credits", deliver=False)
    _run_now(operator)
    viewer = django_user_model.objects.create_user("viewer", password="pw-view-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_reconciliationrun"))
    client = Client()
    client.force_login(viewer)

    page = client.get(PAGE)

    assert page.status_code == 200 and "Run now" not in page.content.decode()
    assert client.post(PAGE + "run/").status_code == 403
    assert client.post(f"{PAGE}explain/{Difference.objects.get().pk}/", {"note": "x"}).status_code == 403
    assert ReconciliationRun.objects.count() == 1 and Difference.objects.get().is_open


def test_it_shows_a_failed_run_with_its_reason(operator, flash, alice):
    flash.fail(503, path="credits/history", times=None)

    text = _run_now(operator).content.decode()

    assert "could not complete" in text and "Flash&#x27;s history could not be read" in text
