"""Operators see each account's auto-reload and its reloads (payment intent, grant,
error), read-only, with the card as brand and last 4 only and no secret anywhere."""

from django.conf import settings

from payments.models import AutoReload, Reload

from .reloads import paid_then_declined, save_card, turn_on


def test_it_shows_each_accounts_auto_reload_and_its_history(operator, as_alice, alice, flash, stripe_api):
    paid_then_declined(as_alice, alice, flash, stripe_api)
    row = AutoReload.objects.get(account=alice)

    listing = operator.get("/admin/payments/autoreload/").content.decode()
    assert alice.email in listing and "visa ···· 4242" in listing and "expired" in listing

    page = operator.get(f"/admin/payments/autoreload/{alice.pk}/change/").content.decode()
    succeeded, failed = Reload.objects.order_by("created_at")
    assert succeeded.payment_intent_id in page and failed.payment_intent_id in page
    assert "Succeeded" in page and "Failed" in page and "9.99 USD" in page
    for secret in (settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET, row.payment_method_id):
        assert secret not in page and secret not in listing

    reloads = operator.get("/admin/payments/reload/?status__exact=failed").context["cl"]
    assert [r.pk for r in reloads.result_list] == [failed.pk]


def test_operators_cannot_change_an_accounts_auto_reload(operator, as_alice, alice, stripe_api):
    save_card(as_alice, stripe_api)
    turn_on(as_alice)
    response = operator.post(f"/admin/payments/autoreload/{alice.pk}/change/", {"enabled": ""})
    assert response.status_code == 403
    assert AutoReload.objects.get(account=alice).enabled is True
    assert operator.post(f"/admin/payments/autoreload/{alice.pk}/delete/", {"post": "yes"}).status_code == 403


def test_it_counts_in_the_list_the_reloads_the_monthly_cap_counts(operator, as_alice, alice, flash, stripe_api):
    paid_then_declined(as_alice, alice, flash, stripe_api)  # one paid, one declined: the declined one paid nothing
    changelist = operator.get("/admin/payments/autoreload/").context["cl"]
    [row] = changelist.result_list
    assert changelist.model_admin.month(row) == "1 of 3"  # of the monthly limit
