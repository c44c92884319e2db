"""What each verified Stripe event does. Everything here reads the signed payload
only: no Stripe API round trip stands between a payment and its credits.

A handler returns a one-line result for the operator, or raises Unprocessable (the
event is recorded as failed with the reason, and Stripe gets a 200: retrying the
same payload would not help; an operator can reprocess it from the admin).
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from accounts.models import Account

from . import grants
from .models import CreditGrant, GrantSource, GrantState, StripeEvent, TransactionType
from .plans import PACKAGES, package_for_price, plan_for_price
from .subscriptions import set_plan

log = logging.getLogger("payments.webhooks")

ENDED_STATUSES = {"canceled", "unpaid", "incomplete_expired"}
# Statuses in which the subscriber has the plan (past_due: Stripe is still retrying).
LIVE_STATUSES = {"active", "trialing", "past_due"}


class Unprocessable(Exception):
    """A verified event billing cannot act on (unknown account, no credit product…)."""


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


def _id(value: Any) -> str:
    """A Stripe reference, expanded (an object) or not (an id)."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _account(metadata: dict | None, *, reference: str = "", customer: str = "") -> Account:
    for candidate in ((metadata or {}).get("account_id"), reference):
        try:
            account = Account.objects.filter(pk=uuid.UUID(str(candidate))).first() if candidate else None
        except ValueError:
            account = None
        if account is not None:
            return account
    if customer:
        account = Account.objects.filter(stripe_customer_id=customer).first()
        if account is not None:
            return account
    raise Unprocessable("no account for this event (metadata.account_id, client_reference_id and customer unknown)")


def _link_customer(account: Account, customer: str) -> None:
    if customer and account.stripe_customer_id != customer:
        if account.stripe_customer_id:
            log.warning("account %s changes Stripe customer %s → %s", account.pk, account.stripe_customer_id, customer)
        account.stripe_customer_id = customer
        account.save(update_fields=["stripe_customer_id"])


def checkout_completed(event: StripeEvent, session: dict) -> str:
    # Absent only in API versions before payment_status existed, when completed meant paid.
    if session.get("payment_status", "paid") not in ("paid", "no_payment_required"):
        return "payment not settled yet (an async_payment_succeeded event will follow)"
    metadata = session.get("metadata") or {}
    account = _account(metadata, reference=session.get("client_reference_id") or "",
                       customer=_id(session.get("customer")))
    _link_customer(account, _id(session.get("customer")))
    if session.get("mode") == "subscription":
        return "subscription checkout: customer linked; credits come with invoice.paid"

    credits, products, price_ids, skipped = 0, [], [], []
    lines = _get(session, "line_items", "data")
    if isinstance(lines, list):  # present only when expanded; then it is the truth
        for line in lines:
            price = _id(line.get("price"))
            package = package_for_price(price)
            if package is None:
                skipped.append(price or "?")
                continue
            credits += package.credits * int(line.get("quantity") or 1)
            products.append(package.id)
            price_ids.append(price)
    else:
        package = PACKAGES.get(metadata.get("package", ""))
        if package is not None:
            credits, products = package.credits, [package.id]
    if skipped:
        log.info("checkout %s: skipped non-credit line items %s", session.get("id"), skipped)
    if credits <= 0:
        raise Unprocessable("checkout session has no credit package (metadata.package or line items)")

    grant, created = grants.record(
        f"stripe:checkout:{session['id']}",
        source=GrantSource.STRIPE,
        account=account,
        amount=credits,
        transaction_type=TransactionType.STRIPE_PURCHASE,
        description=f"Stripe purchase: {credits} credits",
        product=",".join(products),
        currency=(session.get("currency") or "").lower(),
        money_amount=session.get("amount_total"),
        stripe_event_id=event.stripe_id,
        stripe_object_id=session["id"],
        stripe_customer_id=_id(session.get("customer")),
        stripe_payment_intent_id=_id(session.get("payment_intent")),
        stripe_price_ids=price_ids,
    )
    return f"grant {grant.id} {'recorded' if created else 'already recorded'}: {credits} credits" + (
        f"; skipped non-credit items {skipped}" if skipped else "")


def _invoice_subscription(invoice: dict) -> tuple[str, dict]:
    details = _get(invoice, "parent", "subscription_details") or invoice.get("subscription_details") or {}
    subscription = _id(details.get("subscription")) or _id(invoice.get("subscription"))
    metadata = dict(details.get("metadata") or {})
    for line in _get(invoice, "lines", "data") or []:
        if not metadata.get("account_id"):
            metadata.update(line.get("metadata") or {})
    return subscription, metadata


def _line_price(line: dict) -> str:
    return (_id(line.get("price")) or _id(_get(line, "pricing", "price_details", "price"))
            or _id(_get(line, "plan")))


def _invoice_payment_intent(invoice: dict) -> str:
    """Where a refund's charge will point: `payment_intent` in older API versions,
    `payments.data[].payment.payment_intent` in newer ones."""
    found = _id(invoice.get("payment_intent"))
    for payment in _get(invoice, "payments", "data") or []:
        found = found or _id(_get(payment, "payment", "payment_intent"))
    return found


def invoice_paid(event: StripeEvent, invoice: dict) -> str:
    subscription, metadata = _invoice_subscription(invoice)
    if not subscription:
        return "not a subscription invoice: ignored"
    customer = _id(invoice.get("customer"))
    account = _account(metadata, customer=customer)
    plan, skipped = None, []
    for line in _get(invoice, "lines", "data") or []:
        found = plan_for_price(_line_price(line))
        if found is None:
            skipped.append(_line_price(line) or line.get("description") or "?")
        elif plan is None:
            plan = found
    if plan is None:
        raise Unprocessable(f"invoice has no plan price (lines: {skipped})")
    _link_customer(account, customer)
    set_plan(account, plan.id, as_of=_happened(event))
    grant, created = grants.record(
        f"stripe:invoice:{invoice['id']}",
        source=GrantSource.STRIPE_SUBSCRIPTION,
        account=account,
        amount=plan.credits_per_month,
        transaction_type=TransactionType.SUBSCRIPTION_GRANT,
        description=f"{plan.name} plan: {plan.credits_per_month} credits",
        product=plan.id,
        currency=(invoice.get("currency") or "").lower(),
        money_amount=invoice.get("amount_paid"),
        stripe_event_id=event.stripe_id,
        stripe_object_id=invoice["id"],
        stripe_customer_id=customer,
        stripe_payment_intent_id=_invoice_payment_intent(invoice),
        stripe_price_ids=[p for p in (_line_price(line) for line in _get(invoice, "lines", "data") or []) if p],
    )
    done = "recorded" if created else "already recorded"
    return f"grant {grant.id} {done}: {plan.credits_per_month} credits; plan {plan.id}" + (
        f"; skipped non-credit items {skipped}" if skipped else "")


def _happened(event: StripeEvent) -> datetime | None:
    """When Stripe says the event happened (its `created`), None if the payload lacks it."""
    created = event.payload.get("created") if isinstance(event.payload, dict) else None
    if isinstance(created, bool) or not isinstance(created, (int, float)):
        return None
    return datetime.fromtimestamp(created, tz=UTC)


def subscription_changed(event: StripeEvent, subscription: dict) -> str:
    customer = _id(subscription.get("customer"))
    account = _account(subscription.get("metadata"), customer=customer)
    _link_customer(account, customer)
    status = subscription.get("status")
    if event.type == "customer.subscription.deleted" or status in ENDED_STATUSES:
        set_plan(account, "free", as_of=_happened(event))
        return f"subscription {status or 'deleted'}: account back on free"
    if status not in LIVE_STATUSES:
        return f"subscription {status}: plan unchanged until it is paid"
    for item in _get(subscription, "items", "data") or []:
        plan = plan_for_price(_id(item.get("price")) or _id(item.get("plan")))
        if plan is not None:
            set_plan(account, plan.id, as_of=_happened(event))
            return f"subscription {status}: plan {plan.id}"
    raise Unprocessable("subscription has no plan price")


def charge_refunded(event: StripeEvent, charge: dict) -> str:
    """A refund is recorded as a held reversal (docs/payments.md, "Refunds")."""
    intent, invoice = _id(charge.get("payment_intent")), _id(charge.get("invoice"))
    original = None
    if intent:
        original = CreditGrant.objects.filter(stripe_payment_intent_id=intent, amount__gt=0).first()
    if original is None and invoice:
        original = CreditGrant.objects.filter(stripe_object_id=invoice, amount__gt=0).first()
    if original is None:
        raise Unprocessable(f"refund of charge {charge.get('id')}: no grant found for its payment")
    paid = charge.get("amount") or original.money_amount or 0
    refunded = charge.get("amount_refunded") or 0
    to_reverse = original.amount if not paid or refunded >= paid else math.floor(original.amount * refunded / paid)
    already = -sum(r.amount for r in original.reversals.all())
    delta = to_reverse - already
    if delta <= 0:
        return f"refund of {refunded} already recorded"
    # Stripe's amount_refunded is the charge's running total; each reversal carries
    # the money of its own refund, so that the reversals of a charge add up to it.
    money_before = -sum(r.money_amount or 0 for r in original.reversals.filter(
        source=GrantSource.STRIPE_REFUND, stripe_object_id=str(charge.get("id") or "")))
    reversal, _ = grants.record(
        f"stripe:refund:{charge.get('id')}:{refunded}",
        deliver_after_commit=False,
        source=GrantSource.STRIPE_REFUND,
        account=original.account,
        flash_user_id=original.flash_user_id,
        amount=-delta,
        transaction_type=TransactionType.REFUND,
        description=f"Refund of Stripe payment: -{delta} credits",
        product=original.product,
        currency=(charge.get("currency") or "").lower(),
        money_amount=-(refunded - money_before),
        stripe_event_id=event.stripe_id,
        stripe_object_id=str(charge.get("id") or ""),
        stripe_customer_id=_id(charge.get("customer")),
        stripe_payment_intent_id=intent,
        reverses=original,
        state=GrantState.HELD,
    )
    return f"refund recorded as held reversal {reversal.id}: -{delta} credits (operator to confirm)"


HANDLERS: dict[str, Callable[[StripeEvent, dict], str]] = {
    "checkout.session.completed": checkout_completed,
    "checkout.session.async_payment_succeeded": checkout_completed,
    "invoice.paid": invoice_paid,
    "customer.subscription.created": subscription_changed,
    "customer.subscription.updated": subscription_changed,
    "customer.subscription.deleted": subscription_changed,
    "charge.refunded": charge_refunded,
}


def process(event: StripeEvent) -> str:
    obj = _get(event.payload, "data", "object")
    if not isinstance(obj, dict):
        raise Unprocessable("event has no data.object")
    return HANDLERS[event.type](event, obj)
