from django.core.management import call_command

from payments.models import CreditGrant, GrantState, StripeEvent

from .conftest import completed_session
from .conftest import price as price_id


def test_it_keeps_the_grant_when_mirroring_through_the_stripe_api_fails(alice, flash, stripe_api, post_event):
    post_event(stripe_api.event("checkout.session.completed", completed_session(alice)))
    stripe_api.fail(503, times=None)  # dj-stripe re-fetches objects from the Stripe API
    call_command("mirror_stripe_events", stdout=open("/dev/null", "w"))
    event = StripeEvent.objects.get()
    assert event.mirrored_at is None and event.mirror_error  # left for the next run
    assert CreditGrant.objects.get().state == GrantState.APPLIED
    assert len(flash.grants(alice.flash_user_id)) == 1
    assert stripe_api.received()  # it did try the Stripe API


def test_it_mirrors_a_purchase_s_payment_from_the_stripe_stand_in(as_alice, alice, buy, stripe_api):
    # dj-stripe first asks for the key's own account (GET /v1/account): without it every
    # event under make run failed to mirror.
    buy(as_alice)
    call_command("mirror_stripe_events", stdout=open("/dev/null", "w"))
    paid = StripeEvent.objects.get(type="checkout.session.completed")
    assert paid.mirror_error == ""
    assert paid.mirrored_at is not None
    assert stripe_api.received("/v1/account", "GET")


def _mirror_errors() -> dict[str, str]:
    return dict(StripeEvent.objects.exclude(mirror_error="").values_list("type", "mirror_error"))


def test_it_mirrors_a_plan_s_subscription_invoice_price_and_product(as_alice, alice, stripe_api):
    # dj-stripe follows a Price to its Product (GET /v1/products/…): the stand-in keeps
    # the catalogue's Products, so a plan's events mirror under make run too.
    from djstripe.models import Invoice, Price, Product, Subscription

    plan = as_alice.post("/api/v1/billing/checkout", {"plan": "explorer"}, content_type="application/json")
    session = stripe_api.pay(plan.json()["session_id"])
    call_command("mirror_stripe_events", stdout=open("/dev/null", "w"))
    assert _mirror_errors() == {}
    assert not StripeEvent.objects.filter(mirrored_at__isnull=True).exists()
    subscription = Subscription.objects.get(id=session["subscription"])
    price = Price.objects.get(id=price_id("STRIPE_PRICE_EXPLORER"))
    assert Product.objects.get(id=price.product_id).name == "Explorer plan"
    assert subscription.customer_id == session["customer"]
    assert list(subscription.items.values_list("price__id", flat=True)) == [price.id]
    # (dj-stripe 2.11 links an invoice to its subscription only through the pre-basil
    # top-level `subscription`, which the API no longer sends: the link stays empty.)
    assert Invoice.objects.get(id=session["invoice"]).customer_id == session["customer"]


def test_it_mirrors_a_dispute_and_its_close(as_alice, alice, buy, stripe_api):
    from djstripe.models import Dispute

    session = buy(as_alice)
    dispute = stripe_api.dispute(payment_intent=session["payment_intent"])
    stripe_api.close_dispute(dispute["id"], "lost")
    call_command("mirror_stripe_events", stdout=open("/dev/null", "w"))
    assert _mirror_errors() == {}
    mirrored = Dispute.objects.get(id=dispute["id"])
    assert (mirrored.status, mirrored.amount) == ("lost", dispute["amount"])
