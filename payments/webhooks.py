"""What each verified Stripe event does. Everything here reads the signed payload
only: no Stripe API round trip stands between a payment and its credits.

An event's life (zulip's corporate/ pattern): the webhook view verifies it, `receive`
ignores the types billing does not handle, stores the others once (a delivery again
is a duplicate) and `run`s each stored event: its handler returns a one-line result
for the operator (succeeded), or raises Unprocessable (failed, with the reason; Stripe
still gets a 200: retrying the same payload would not help). The admin's *Process
again* runs a failed event through the same `run`.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from core import request_json
from core.catalog import PACKAGES, Plan, PlanTerms, package_for_price, plan_for_price
from upstreams import stripe as stripe_api

from . import autoreload, grants
from .models import (
    CreditGrant,
    EventState,
    GrantSource,
    GrantState,
    StripeEvent,
    TransactionType,
)
from .subscriptions import set_plan

log = logging.getLogger("payments.webhooks")

ENDED_STATUSES = {"canceled", "unpaid", "incomplete_expired"}
# Statuses in which the subscriber has the plan (past_due: Stripe is still retrying).
LIVE_STATUSES = {"active", "trialing", "past_due"}
# Dispute outcomes that give the money back (won) or never took it (an inquiry closed).
DISPUTE_SETTLED = {"won", "warning_closed"}
# Longest Stripe id taken: grant keys add a prefix to it within their 255 characters.
MAX_ID = 200
# What money_amount (an IntegerField) holds on PostgreSQL; a larger one would be a 500.
MAX_AMOUNT = 2**31 - 1
# The last Unix time a datetime holds (9999-12-31T23:59:59Z).
LATEST_TIME = 253402300799


class Unprocessable(Exception):
    """A verified event billing cannot act on (unknown account, no credit product…)."""


def nested(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


def object_id(value: Any) -> str:
    """A Stripe reference, expanded (an object) or not (an id)."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, str) and len(value) > MAX_ID:
        raise Unprocessable(f"a Stripe id is {len(value)} characters long, at most {MAX_ID} expected")
    return value if isinstance(value, str) else ""


# --- reading a verified object's fields ----------------------------------------------
# A signed event can still carry fields of unexpected types (metadata that is a string, a
# list where an id belongs): each is read through one of these, which turn a wrong type
# into Unprocessable (the event fails, with the field's name) before anything is written.
# Absent or null fields read as empty, as Stripe omits or nulls what does not apply.


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _name(where: str, path: tuple[str, ...]) -> str:
    return ".".join((where, *path) if where else path)


def _field(obj: dict, path: tuple[str, ...], expected: type, described: str, where: str) -> Any:
    """The value at `path` in `obj` (`where` names `obj` in the reason), None when absent."""
    value: Any = obj
    for depth, name in enumerate(path):
        if value is None:
            return None
        if not isinstance(value, dict):
            raise Unprocessable(f"{_name(where, path[:depth])} is {_kind(value)}, not an object")
        value = value.get(name)
    if value is not None and (not isinstance(value, expected) or isinstance(value, bool) and expected is not bool):
        raise Unprocessable(f"{_name(where, path)} is {_kind(value)}, not {described}")
    return value


def text(obj: dict, *path: str, default: str = "", where: str = "") -> str:
    """A string field (`default` when absent)."""
    value = _field(obj, path, str, "a string", where)
    return default if value is None else value


def mapping(obj: dict, *path: str, where: str = "") -> dict:
    """An object field, such as `metadata` ({} when absent)."""
    return _field(obj, path, dict, "an object", where) or {}


def entries(obj: dict, *path: str, where: str = "") -> list[dict]:
    """A list of objects, such as `lines.data` ([] when absent)."""
    items = _field(obj, path, list, "a list", where) or []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise Unprocessable(f"{_name(where, path)}[{index}] is {_kind(item)}, not an object")
    return items


def integer(obj: dict, *path: str, where: str = "") -> int | None:
    """A whole number such as an amount in minor units (None when absent)."""
    value = _field(obj, path, int, "a whole number", where)
    if value is not None and abs(value) > MAX_AMOUNT:
        raise Unprocessable(f"{_name(where, path)} is {value}, out of range")
    return value


def timestamp(obj: dict, *path: str, where: str = "") -> int | None:
    """A Unix time such as `created` (None when absent): a whole number, without
    integer()'s money range, which times pass in 2038."""
    value = _field(obj, path, int, "a whole number (a Unix time)", where)
    if value is not None and not 0 <= value <= LATEST_TIME:
        raise Unprocessable(f"{_name(where, path)} is {value}, not a time")
    return value


def quantity(line: dict) -> int:
    """A line's quantity; absent (or 0, as this code always read it) counts as one."""
    count = integer(line, "quantity") or 1
    if count < 1:
        raise Unprocessable(f"quantity is {count}, not a positive whole number")
    return count


def own_id(obj: dict, where: str = "") -> str:
    """The object's own id, which every grant key is made of (`where` names `obj` in
    the reason it cannot be read)."""
    found = object_id(text(obj, "id", where=where))
    if not found:
        raise Unprocessable(f"{where}.id is absent" if where else "the object has no id")
    return found


def currency(obj: dict) -> str:
    """An ISO currency code, lowercased (grants keep three characters)."""
    found = text(obj, "currency").lower()
    if len(found) > 3:
        raise Unprocessable(f"currency {found[:20]!r} is not a three-letter code")
    return found


def _account(metadata: dict, *, reference: str = "", customer: str = "") -> Account:
    for candidate in (text(metadata, "account_id", where="metadata"), reference):
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
    if text(session, "payment_status", default="paid") not in ("paid", "no_payment_required"):
        return "payment not settled yet (an async_payment_succeeded event will follow)"
    account = session_account(session)
    _link_customer(account, object_id(session.get("customer")))
    mode = text(session, "mode")
    if mode == "subscription":
        return "subscription checkout: customer linked; credits come with invoice.paid"
    if mode == "setup":
        return "setup checkout: customer linked; the card comes with setup_intent.succeeded"
    grant, created, skipped = grant_for_session(session, account=account, event_id=event.stripe_id)
    return f"grant {grant.id} {'recorded' if created else 'already recorded'}: {grant.amount} credits" + (
        f"; skipped non-credit items {skipped}" if skipped else "")


def session_credits(session: dict) -> tuple[int, list[str], list[str], list[str]]:
    """What a payment-mode Checkout session bought: (credits, package ids, credit Price
    ids, skipped non-credit Price ids). From its line items when they are present
    (expanded: then they are the truth), else from `metadata.package`."""
    credits, products, price_ids, skipped = 0, [], [], []
    if nested(session, "line_items", "data") is not None:
        for line in entries(session, "line_items", "data"):
            price = object_id(line.get("price"))
            package = package_for_price(price)
            if package is None:
                skipped.append(price or "?")
                continue
            credits += package.credits * quantity(line)
            products.append(package.id)
            price_ids.append(price)
    else:
        package = PACKAGES.get(text(session, "metadata", "package"))
        if package is not None:
            credits, products = package.credits, [package.id]
    return credits, products, price_ids, skipped


def _paid_with(obj: dict, event_id: str) -> dict[str, Any]:
    """What a grant keeps of the Stripe object (a Checkout session, an invoice, a
    payment intent) that paid for it, for reconciliation."""
    return {"currency": currency(obj), "stripe_event_id": event_id, "stripe_object_id": own_id(obj),
            "stripe_customer_id": object_id(obj.get("customer"))}


def session_account(session: dict) -> Account:
    return _account(mapping(session, "metadata"), reference=text(session, "client_reference_id"),
                    customer=object_id(session.get("customer")))


def grant_for_session(session: dict, *, account: Account | None = None, event_id: str = "",
                      reason: str = "") -> tuple[CreditGrant, bool, list[str]]:
    """The grant a paid Checkout session of credit packages owes, recorded once under
    `stripe:checkout:<session id>`: the webhook and reconciliation's repair both record
    through here, so whichever comes second finds the first's grant. Returns (grant,
    created, skipped non-credit items)."""
    account = account or session_account(session)
    credits, products, price_ids, skipped = session_credits(session)
    if skipped:
        log.info("checkout %s: skipped non-credit line items %s", session.get("id"), skipped)
    if credits <= 0:
        raise Unprocessable("checkout session has no credit package (metadata.package or line items)")
    grant, created = grants.record(
        f"stripe:checkout:{own_id(session)}",
        source=GrantSource.STRIPE,
        account=account,
        amount=credits,
        transaction_type=TransactionType.STRIPE_PURCHASE,
        description=f"Stripe purchase: {credits} credits",
        product=",".join(products),
        money_amount=integer(session, "amount_total"),
        **_paid_with(session, event_id),
        stripe_payment_intent_id=object_id(session.get("payment_intent")),
        stripe_price_ids=price_ids,
        reason=reason,
    )
    return grant, created, skipped


def invoice_subscription(invoice: dict) -> tuple[str, dict]:
    details = mapping(invoice, "parent", "subscription_details") or mapping(invoice, "subscription_details")
    subscription = object_id(details.get("subscription")) or object_id(invoice.get("subscription"))
    metadata = dict(mapping(details, "metadata", where="subscription_details"))
    for line in entries(invoice, "lines", "data"):
        if not metadata.get("account_id"):
            metadata.update(mapping(line, "metadata", where="lines.data[]"))
    return subscription, metadata


def line_price(line: dict) -> str:
    return (object_id(line.get("price")) or object_id(nested(line, "pricing", "price_details", "price"))
            or object_id(nested(line, "plan")))


def _invoice_payment_intent(invoice: dict) -> str:
    """Where a refund's charge will point: `payment_intent` in older API versions,
    `payments.data[].payment.payment_intent` in newer ones."""
    found = object_id(invoice.get("payment_intent"))
    for payment in entries(invoice, "payments", "data"):
        found = found or object_id(nested(payment, "payment", "payment_intent"))
    return found


def invoice_plan(invoice: dict) -> tuple[PlanTerms | None, int, list[str]]:
    """The plan a subscription invoice bills (its first plan line), that line's
    quantity, and the lines that are not plans (rounding adjustments, custom prices)."""
    plan, count, skipped = None, 1, []
    for line in entries(invoice, "lines", "data"):
        found = plan_for_price(line_price(line))
        if found is None:
            skipped.append(line_price(line) or text(line, "description") or "?")
        elif plan is None:
            plan, count = found, quantity(line)
    return plan, count, skipped


def invoice_account(invoice: dict) -> Account:
    _subscription, metadata = invoice_subscription(invoice)
    return _account(metadata, customer=object_id(invoice.get("customer")))


def grant_for_invoice(invoice: dict, *, event_id: str = "",
                      reason: str = "") -> tuple[CreditGrant, bool, PlanTerms, list[str]]:
    """The grant a paid subscription invoice owes (the plan's credits × quantity),
    recorded once under `stripe:invoice:<invoice id>`, for the webhook and the repair
    alike. Returns (grant, created, plan, skipped non-plan lines)."""
    account = invoice_account(invoice)
    plan, count, skipped = invoice_plan(invoice)
    if plan is None:
        raise Unprocessable(f"invoice has no plan price (lines: {skipped})")
    credits = plan.credits_per_month * count
    grant, created = grants.record(
        f"stripe:invoice:{own_id(invoice)}",
        source=GrantSource.STRIPE_SUBSCRIPTION,
        account=account,
        amount=credits,
        transaction_type=TransactionType.SUBSCRIPTION_GRANT,
        description=f"{plan.name} plan: {credits} credits",
        product=plan.id,
        money_amount=integer(invoice, "amount_paid"),
        **_paid_with(invoice, event_id),
        stripe_payment_intent_id=_invoice_payment_intent(invoice),
        stripe_price_ids=[p for p in (line_price(line) for line in entries(invoice, "lines", "data")) if p],
        reason=reason,
    )
    return grant, created, plan, skipped


def invoice_paid(event: StripeEvent, invoice: dict) -> str:
    subscription, _metadata = invoice_subscription(invoice)
    if not subscription:
        return "not a subscription invoice: ignored"
    grant, created, plan, skipped = grant_for_invoice(invoice, event_id=event.stripe_id)
    _link_customer(grant.account, object_id(invoice.get("customer")))
    set_plan(grant.account, plan.id, as_of=_happened(event))
    done = "recorded" if created else "already recorded"
    return f"grant {grant.id} {done}: {grant.amount} credits; plan {plan.id}" + (
        f"; skipped non-credit items {skipped}" if skipped else "")


def _happened(event: StripeEvent) -> datetime | None:
    """When Stripe says the event happened (its `created`), None if the payload lacks it."""
    created = event.payload.get("created") if isinstance(event.payload, dict) else None
    if isinstance(created, bool) or not isinstance(created, (int, float)):
        return None
    return datetime.fromtimestamp(created, tz=UTC)


def subscription_changed(event: StripeEvent, subscription: dict) -> str:
    customer = object_id(subscription.get("customer"))
    account = _account(mapping(subscription, "metadata"), customer=customer)
    _link_customer(account, customer)
    status = text(subscription, "status")
    if event.type == "customer.subscription.deleted" or status in ENDED_STATUSES:
        set_plan(account, Plan.FREE, as_of=_happened(event))
        return f"subscription {status or 'deleted'}: account back on free"
    if status not in LIVE_STATUSES:
        return f"subscription {status}: plan unchanged until it is paid"
    for item in entries(subscription, "items", "data"):
        plan = plan_for_price(object_id(item.get("price")) or object_id(item.get("plan")))
        if plan is not None:
            set_plan(account, plan.id, as_of=_happened(event))
            return f"subscription {status}: plan {plan.id}"
    raise Unprocessable("subscription has no plan price")


def original_grant(payment_intent: str, invoice: str = "") -> CreditGrant | None:
    """The purchase grant a charge paid for: by its payment intent (Checkout and, in
    newer API versions, invoices), else by its invoice (older versions)."""
    original = None
    if payment_intent:
        original = CreditGrant.objects.filter(stripe_payment_intent_id=payment_intent, amount__gt=0).first()
    if original is None and invoice:
        original = CreditGrant.objects.filter(stripe_object_id=invoice, amount__gt=0).first()
    return original


def reversal_credits(original: CreditGrant, paid: int | None, taken_back: int) -> int:
    """The credits to take back when `taken_back` of the `paid` money goes back to the
    buyer: in proportion, all of them when all of it (or an unknown share) does."""
    if not paid or taken_back >= paid:
        return original.amount
    return math.floor(original.amount * taken_back / paid)


def _held(key: str, event: StripeEvent, reversed_grant: CreditGrant, source: str, credits: int, description: str,
          *, currency: str | None, money_amount: int, stripe_object_id: str, customer: str,
          intent: str, state: str = GrantState.HELD) -> tuple[CreditGrant, bool]:
    """A `refund` grant against another grant, held for an operator: never sent to
    Flash by itself (docs/payments.md, "Refunds" and "Disputes")."""
    return grants.record(
        key,
        deliver_after_commit=False,
        source=source,
        account=reversed_grant.account,
        flash_user_id=reversed_grant.flash_user_id,
        amount=credits,
        transaction_type=TransactionType.REFUND,
        description=description,
        product=reversed_grant.product,
        currency=(currency or "").lower(),
        money_amount=money_amount,
        stripe_event_id=event.stripe_id,
        stripe_object_id=stripe_object_id,
        stripe_customer_id=customer,
        stripe_payment_intent_id=intent,
        reverses=reversed_grant,
        state=state,
    )


def charge_refunded(event: StripeEvent, charge: dict) -> str:
    """A refund is recorded as a held reversal (docs/payments.md, "Refunds")."""
    charge_id, intent = own_id(charge), object_id(charge.get("payment_intent"))
    refunded = integer(charge, "amount_refunded") or 0
    paid = integer(charge, "amount")
    original = original_grant(intent, object_id(charge.get("invoice")))
    if original is None:
        raise Unprocessable(f"refund of charge {charge_id}: no grant found for its payment")
    # Partial refunds of one charge arrive as separate events, possibly at once: each
    # reads the reversals before it, so they take turns on the original grant's row
    # (otherwise two of them both see none and reverse more than was refunded).
    original = CreditGrant.objects.select_for_update(no_key=True).get(pk=original.pk)
    to_reverse = reversal_credits(original, paid or original.money_amount, refunded)
    already = -sum(r.amount for r in original.reversals.filter(source=GrantSource.STRIPE_REFUND))
    delta = to_reverse - already
    if delta <= 0:
        return f"refund of {refunded} already recorded"
    # Stripe's amount_refunded is the charge's running total; each reversal carries
    # the money of its own refund, so that the reversals of a charge add up to it.
    money_before = -sum(r.money_amount or 0 for r in original.reversals.filter(
        source=GrantSource.STRIPE_REFUND, stripe_object_id=charge_id))
    reversal, _ = _held(
        f"stripe:refund:{charge_id}:{refunded}", event, original, GrantSource.STRIPE_REFUND, -delta,
        f"Refund of Stripe payment: -{delta} credits", currency=currency(charge),
        money_amount=-(refunded - money_before), stripe_object_id=charge_id,
        customer=object_id(charge.get("customer")), intent=intent)
    return f"refund recorded as held reversal {reversal.id}: -{delta} credits (operator to confirm)"


def _dispute_reversal(event: StripeEvent, dispute: dict,
                      state: str = GrantState.HELD) -> tuple[CreditGrant, bool]:
    """A disputed payment's credits, held like a refund's until an operator (or the
    dispute's outcome) decides; one per dispute."""
    dispute_id, intent = own_id(dispute), object_id(dispute.get("payment_intent"))
    disputed = integer(dispute, "amount") or 0
    original = original_grant(intent)
    if original is None:
        raise Unprocessable(f"dispute {dispute_id}: no grant found for its payment")
    credits = reversal_credits(original, original.money_amount, disputed)
    return _held(f"stripe:dispute:{dispute_id}", event, original, GrantSource.STRIPE_DISPUTE, -credits,
                 f"Disputed Stripe payment: -{credits} credits", currency=currency(dispute),
                 money_amount=-disputed, stripe_object_id=dispute_id,
                 customer=original.stripe_customer_id, intent=intent, state=state)


def dispute_created(event: StripeEvent, dispute: dict) -> str:
    reversal, created = _dispute_reversal(event, dispute)
    done = "recorded as held reversal" if created else "already recorded as"
    return f"dispute {done} {reversal.id}: {reversal.amount} credits (operator to confirm)"


def dispute_closed(event: StripeEvent, dispute: dict) -> str:
    """Won (or an inquiry closed): the held reversal is released, never sent; if an
    operator had already sent it, the credits given back wait, held, for the operator.
    Lost: the reversal stays held (recorded now if the created event never came)."""
    dispute_id, status = own_id(dispute), text(dispute, "status")
    if status == "lost":
        reversal, _ = _dispute_reversal(event, dispute)
        return f"dispute lost: reversal {reversal.id} ({reversal.amount} credits) stays held for the operator"
    if status not in DISPUTE_SETTLED:
        return f"dispute closed ({status}): nothing to do"
    # Stripe does not deliver in order: when nothing is held yet, the reversal is
    # recorded released now, under the key the `created` event would use, so that a
    # late (or concurrent) `created` finds it and holds nothing.
    try:
        reversal, created = _dispute_reversal(event, dispute, state=GrantState.RELEASED)
    except Unprocessable:
        return "dispute won: nothing was held (no grant found for its payment)"
    if created:
        return f"dispute won: reversal {reversal.id} recorded released, nothing taken from Flash"
    if CreditGrant.objects.filter(pk=reversal.pk, state=GrantState.HELD).update(
            state=GrantState.RELEASED, last_error="dispute won: released, never sent to Flash"):
        return f"dispute won: held reversal {reversal.id} released, nothing taken from Flash"
    if reversal.state == GrantState.RELEASED:
        return f"dispute won: reversal {reversal.id} already released"
    given_back, _ = _held(f"stripe:dispute:{dispute_id}:won", event, reversal, GrantSource.STRIPE_DISPUTE,
                          -reversal.amount, f"Dispute won: {-reversal.amount} credits back",
                          currency=reversal.currency, money_amount=-(reversal.money_amount or 0),
                          stripe_object_id=dispute_id, customer=reversal.stripe_customer_id,
                          intent=reversal.stripe_payment_intent_id)
    return f"dispute won after its reversal was sent: {given_back.amount} credits back, held for the operator"


# --- auto-reload (CONTRACT.md §9) ------------------------------------------------------


def is_auto_reload(intent: Any) -> bool:
    metadata = intent.get("metadata") if isinstance(intent, dict) else None
    return isinstance(metadata, dict) and metadata.get("auto_reload") == "1"


def setup_succeeded(event: StripeEvent, intent: dict) -> str:
    """A card saved through a setup-mode Checkout becomes the account's auto-reload card.
    Its brand and last4 are on the payment method, which the event names only by id:
    read from Stripe, and the card is kept even when that read fails (brand unknown)."""
    customer, method = object_id(intent.get("customer")), object_id(intent.get("payment_method"))
    if not method:
        raise Unprocessable("setup intent has no payment_method")
    if not customer:
        raise Unprocessable("setup intent has no customer: an off-session payment needs one")
    account = _account(mapping(intent, "metadata"), customer=customer)
    _link_customer(account, customer)
    card = nested(intent, "payment_method", "card")  # None unless the event expanded the payment method
    if card is None:
        try:
            card = nested(stripe_api.retrieve_payment_method(method), "card")
        except Exception as exc:  # the card still works; only its label is missing
            log.warning("payment method %s could not be read: %s", method, type(exc).__name__)
    card = card if isinstance(card, dict) else {}
    autoreload.save_payment_method(account, customer, method, str(card.get("brand") or ""),
                                   str(card.get("last4") or ""))
    return f"payment method {method} saved for auto-reload ({card.get('brand') or '?'} {card.get('last4') or '?'})"


def reload_account(intent: dict) -> Account:
    return _account(mapping(intent, "metadata"), customer=object_id(intent.get("customer")))


def grant_for_reload(intent: dict, *, event_id: str = "", reason: str = "") -> tuple[CreditGrant, bool]:
    """The grant a succeeded auto-reload payment intent owes, recorded once under
    `stripe:payment_intent:<id>` (the webhook and reconciliation's repair alike)."""
    intent_id, account = own_id(intent), reload_account(intent)
    package_id = text(intent, "metadata", "package")
    package = PACKAGES.get(package_id)
    if package is None:
        raise Unprocessable(f"auto-reload payment intent names no known package ({package_id!r})")
    return grants.record(
        f"stripe:payment_intent:{intent_id}",
        source=GrantSource.STRIPE,
        account=account,
        amount=package.credits,
        transaction_type=TransactionType.STRIPE_PURCHASE,
        description=f"Auto-reload: {package.credits} credits",
        product=package.id,
        money_amount=integer(intent, "amount_received") or integer(intent, "amount"),
        **_paid_with(intent, event_id),
        stripe_payment_intent_id=intent_id,
        reason=reason,
    )


def reload_paid(event: StripeEvent, intent: dict) -> str:
    grant, created = grant_for_reload(intent, event_id=event.stripe_id)
    reload = autoreload.reload_for_intent(intent, grant.account_id)
    if reload is not None:
        autoreload.succeed(reload, grant)
    return (f"auto-reload grant {grant.id} {'recorded' if created else 'already recorded'}: {grant.amount} credits"
            + ("" if reload else "; no reload row matched"))


def reload_failed(event: StripeEvent, intent: dict) -> str:
    own_id(intent)  # the reload is found by it
    account = reload_account(intent)
    error = text(intent, "last_payment_error", "message") or "The payment failed."
    code = text(intent, "last_payment_error", "decline_code") or text(intent, "last_payment_error", "code")
    error = f"{error} ({code})" if code else error
    reload = autoreload.reload_for_intent(intent, account.pk)
    if reload is None:
        package = PACKAGES.get(text(intent, "metadata", "package") or "")
        autoreload.fail_unmatched(account, error, package.credits if package else None)
        return f"auto-reload payment failed with no reload matching it: {error}; auto-reload turned off"
    autoreload.fail(reload, error, notify=True)
    return f"auto-reload {reload.pk} failed: {error}; auto-reload turned off"


def _storable(value: Any) -> Any:
    """`value` with the NUL characters and lone surrogates (a legal JSON escape with no
    UTF-8 form) of its strings (keys included) dropped: PostgreSQL's jsonb and text
    hold neither, and a stored event must not fail on one (a customer's name typed with
    it), or its grant would wait on a delivery that never succeeds."""
    if isinstance(value, str):
        return request_json.storable(value)
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def receive(event: dict) -> dict[str, bool]:
    """Stripe's answer for a verified event (`{"id", "type", ...}`): ignored when
    billing does not handle its type, a duplicate when it was stored before, else
    stored and run, in one transaction."""
    if not wanted(event):
        return {"received": True, "ignored": True}
    event = _storable(event)
    with transaction.atomic():
        row, created = StripeEvent.objects.get_or_create(
            stripe_id=event["id"],
            defaults={"type": event["type"], "payload": event, "livemode": bool(event.get("livemode"))},
        )
        if not created:
            return {"received": True, "duplicate": True}
        run(row)
    return {"received": True}


def run(event: StripeEvent) -> bool:
    """Run a stored event through its handler and record the outcome on it: succeeded
    with what it did, or failed with why. Call inside a transaction (what the handler
    wrote and the outcome commit together); True when it succeeded."""
    try:
        with transaction.atomic():
            event.result = process(event)
        event.state = EventState.SUCCEEDED
    except Unprocessable as exc:
        log.error("stripe event %s (%s) failed: %s", event.stripe_id, event.type, exc)
        event.state, event.result = EventState.FAILED, str(exc)
    event.processed_at = timezone.now()
    event.save(update_fields=["state", "result", "processed_at"])
    return event.state == EventState.SUCCEEDED


HANDLERS: dict[str, Callable[[StripeEvent, dict], str]] = {
    "checkout.session.completed": checkout_completed,
    "checkout.session.async_payment_succeeded": checkout_completed,
    "invoice.paid": invoice_paid,
    "customer.subscription.created": subscription_changed,
    "customer.subscription.updated": subscription_changed,
    "customer.subscription.deleted": subscription_changed,
    "charge.refunded": charge_refunded,
    "charge.dispute.created": dispute_created,
    "charge.dispute.closed": dispute_closed,
    "setup_intent.succeeded": setup_succeeded,
    "payment_intent.succeeded": reload_paid,
    "payment_intent.payment_failed": reload_failed,
}

# Types handled only for auto-reload payment intents: a Checkout purchase's payment
# intent is granted through its session, so only an auto-reload's is stored and run.
AUTO_RELOAD_ONLY = frozenset({"payment_intent.succeeded", "payment_intent.payment_failed"})


def wanted(event: dict) -> bool:
    if event["type"] not in AUTO_RELOAD_ONLY:
        return event["type"] in HANDLERS
    # An intent whose metadata is not an object may be an auto-reload's: stored, so that
    # it fails where operators see it rather than being ignored unseen.
    metadata = nested(event, "data", "object", "metadata")
    return is_auto_reload(nested(event, "data", "object")) or not isinstance(metadata, (dict, type(None)))


def process(event: StripeEvent) -> str:
    obj = nested(event.payload, "data", "object")
    if not isinstance(obj, dict):
        raise Unprocessable("event has no data.object")
    return HANDLERS[event.type](event, obj)
