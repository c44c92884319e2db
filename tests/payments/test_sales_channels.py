"""What the sales page says was sold, and where: an auto-reload apart from a Checkout
purchase of the same package, and a dispute Stripe decided in our favour as no money
given back. Made through the gateway and the Stripe stand-in."""

from __future__ import annotations

import datetime as dt

from django.test import Client
from django.utils import timezone

from payments import sales
from payments.models import CreditGrant, GrantSource, GrantState

from .conftest import committed
from .reloads import paid_then_declined


def _this_month() -> sales.MonthReport:
    today = timezone.now().astimezone(dt.UTC).date()
    return sales.month_report(today, today)


def _send(operator: Client, grant: CreditGrant) -> None:
    with committed():
        operator.post("/admin/payments/creditgrant/", {"action": "retry_grants", "_selected_action": [grant.pk]})


def test_it_tells_an_auto_reload_from_a_checkout_purchase_of_the_same_package(as_alice, alice, buy, flash,
                                                                             stripe_api):
    buy(as_alice, "100_credits")
    paid_then_declined(as_alice, alice, flash, stripe_api)  # one reload paid, one declined

    lines = {(line.source_label, line.product_label): line for line in _this_month().purchases}

    assert set(lines) == {("Stripe purchase", "100 credits package"), ("Stripe auto-reload", "100 credits package")}
    assert lines["Stripe auto-reload", "100 credits package"].count == 1
    assert lines["Stripe purchase", "100 credits package"].count == 1


def test_it_gives_no_money_back_for_a_dispute_that_was_won(as_alice, buy, stripe_api):
    session = buy(as_alice, "500_credits")
    dispute = stripe_api.dispute(payment_intent=session["payment_intent"])
    assert _this_month().total.given_back_total == {"usd": 3999}  # open: shown as given back

    stripe_api.close_dispute(dispute["id"], "won")

    total = _this_month().total
    assert CreditGrant.objects.get(source=GrantSource.STRIPE_DISPUTE).state == GrantState.RELEASED
    assert (total.given_back_total, total.reversals, total.credits_reversed) == ({}, 0, 0)
    assert total.net == {"usd": 3999}


def test_it_nets_a_dispute_won_after_its_reversal_was_sent(as_alice, buy, stripe_api, operator):
    session = buy(as_alice, "500_credits")
    dispute = stripe_api.dispute(payment_intent=session["payment_intent"])
    _send(operator, CreditGrant.objects.get(source=GrantSource.STRIPE_DISPUTE))

    stripe_api.close_dispute(dispute["id"], "won")

    assert _this_month().total.net == {"usd": 3999}


def test_it_filters_the_grants_list_by_checkout_or_auto_reload(as_alice, alice, buy, flash, stripe_api, operator):
    buy(as_alice, "500_credits")
    paid_then_declined(as_alice, alice, flash, stripe_api)  # one reload paid

    def listed(choice: str) -> list[str]:
        return [grant.idempotency_key for grant in
                operator.get(f"/admin/payments/creditgrant/?sold_through={choice}").context["cl"].result_list]

    [checkout] = listed("checkout")
    [reload] = listed("auto_reload")
    assert checkout.startswith("stripe:checkout:") and reload.startswith("stripe:payment_intent:")
