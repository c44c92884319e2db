
from payments.models import CreditGrant, GrantState

from .conftest import price


def _invoice(account, plan_price: str, invoice_id: str = "in_1", extra_lines: list | None = None) -> dict:
    return {
        "id": invoice_id, "object": "invoice", "customer": "cus_alice", "amount_paid": 1499, "currency": "usd",
        "billing_reason": "subscription_cycle",
        "parent": {"type": "subscription_details", "subscription_details": {
            "subscription": "sub_1", "metadata": {"account_id": str(account.pk), "plan": "historian"}}},
        "lines": {"object": "list", "data": [
            {"id": "il_1", "pricing": {"price_details": {"price": plan_price}}, "quantity": 1},
            *(extra_lines or []),
        ]},
    }


def _subscription(status: str, plan_price: str) -> dict:
    return {"id": "sub_1", "object": "subscription", "customer": "cus_alice", "status": status,
            "metadata": {}, "items": {"data": [{"price": {"id": plan_price}}]}}


def test_it_follows_a_subscription_through_its_life(alice, flash, stripe_api, post_event):
    paid = _invoice(alice, price("STRIPE_PRICE_HISTORIAN"), extra_lines=[
        {"id": "il_tax", "description": "Rounding", "pricing": {"price_details": {"price": "price_custom"}}}])
    assert post_event(stripe_api.event("invoice.paid", paid)).status_code == 200
    alice.refresh_from_db()
    assert (alice.plan, alice.tier, alice.stripe_customer_id) == ("historian", "free", "cus_alice")
    grant = CreditGrant.objects.get()
    assert (grant.amount, grant.transaction_type, grant.state) == (200, "subscription_grant", GrantState.APPLIED)

    # Upgraded in the portal: the subscription (found by the customer kept above) moves.
    upgraded = _subscription("active", price("STRIPE_PRICE_API_PRO"))
    assert post_event(stripe_api.event("customer.subscription.updated", upgraded)).status_code == 200
    alice.refresh_from_db()
    assert (alice.plan, alice.tier) == ("api_pro", "pro")

    # The next month's invoice of the new plan, found by customer id only.
    renewal = _invoice(alice, price("STRIPE_PRICE_API_PRO"), "in_2")
    renewal["parent"]["subscription_details"]["metadata"] = {}
    assert post_event(stripe_api.event("invoice.paid", renewal)).status_code == 200
    assert sorted(g["amount"] for g in flash.grants(alice.flash_user_id)) == [200, 1000]

    deleted = _subscription("canceled", price("STRIPE_PRICE_API_PRO"))
    assert post_event(stripe_api.event("customer.subscription.deleted", deleted)).status_code == 200
    alice.refresh_from_db()
    assert (alice.plan, alice.tier) == ("free", "free")


def test_it_keeps_an_operators_tier_override(alice, stripe_api, post_event):
    alice.tier_override = "enterprise"
    alice.stripe_customer_id = "cus_alice"
    alice.save()
    explorer = _subscription("active", price("STRIPE_PRICE_EXPLORER"))
    post_event(stripe_api.event("customer.subscription.updated", explorer))
    alice.refresh_from_db()
    assert alice.plan == "explorer" and alice.effective_tier == "enterprise"


def test_it_ignores_an_invoice_that_is_not_a_subscription(alice, flash, stripe_api, post_event):
    invoice = {"id": "in_9", "object": "invoice", "customer": "cus_alice", "lines": {"data": []}}
    assert post_event(stripe_api.event("invoice.paid", invoice)).status_code == 200
    assert not CreditGrant.objects.exists()


def test_it_does_not_give_the_plan_before_the_subscription_is_paid(alice, stripe_api, post_event):
    alice.stripe_customer_id = "cus_alice"
    alice.save()
    incomplete = _subscription("incomplete", price("STRIPE_PRICE_API_PRO"))
    assert post_event(stripe_api.event("customer.subscription.created", incomplete)).status_code == 200
    alice.refresh_from_db()
    assert (alice.plan, alice.tier) == ("free", "free")


def test_a_late_older_event_does_not_undo_a_newer_one(alice, stripe_api, post_event):
    alice.stripe_customer_id = "cus_alice"
    alice.save()
    pro = price("STRIPE_PRICE_API_PRO")
    updated = stripe_api.event("customer.subscription.updated", _subscription("active", pro))
    deleted = stripe_api.event("customer.subscription.deleted", _subscription("canceled", pro))
    deleted["created"] = updated["created"] + 60  # Stripe delivered the cancellation first
    assert post_event(deleted).status_code == 200
    assert post_event(updated).status_code == 200
    alice.refresh_from_db()
    assert (alice.plan, alice.tier) == ("free", "free")


def test_the_accounts_keys_take_the_tier_of_a_new_plan(alice, stripe_api, post_event):
    from apikeys.keys import create_key

    key, _ = create_key(alice, "server", "live")
    alice.stripe_customer_id = "cus_alice"
    alice.save()
    pro = _subscription("active", price("STRIPE_PRICE_API_PRO"))
    assert post_event(stripe_api.event("customer.subscription.updated", pro)).status_code == 200
    key.refresh_from_db()
    assert (key.tier, key.rate_limit) == ("pro", 60)
