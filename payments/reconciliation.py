"""Proof of every paid cent: Stripe (money in) ↔ the grant ledger ↔ Flash (issue #16).

For a window, three sides are read:

- **Stripe**, through the official client's list endpoints: paid Checkout sessions of
  credit packages, paid subscription invoices, succeeded auto-reload payment intents,
  refunds and disputes created in it;
- **the ledger**: the grant each Stripe object owes (by the idempotency key the webhook
  gives it) and every grant created in the window;
- **Flash**: the credit history of each account the window concerns (a grant, a payment,
  a sign-up or a request in it), newest first down to the window's start, matched to
  grants by the `[grant <uuid>]` marker every grant carries.

Each difference is classified (`DifferenceKind`) and kept under a stable key across runs,
so an operator's explanation sticks and a difference a later run no longer finds is
resolved. An object or entry of a shape that cannot be read (the webhook's typed readers
refuse it) is a difference of its own (`unreadable`): the run goes on with the others.
`--repair` records the missing grants of paid objects through the webhook's own builders
and idempotency keys, and nothing else (never from an unreadable object).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import stripe
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account
from core.catalog import PACKAGES, cents, package_for_price, plan_for_price
from upstreams import flash
from upstreams.stripe import client
from upstreams.transport import UpstreamError

from . import webhooks
from .models import (
    CreditGrant,
    Difference,
    DifferenceKind,
    GrantSource,
    GrantState,
    ReconciliationRun,
    RunOutcome,
    StripeEvent,
)
from .webhooks import Unprocessable, currency, integer, mapping, object_id, quantity, text, timestamp

log = logging.getLogger("payments.reconciliation")

MARKER = re.compile(r"\[grant ([0-9a-f-]{36})\]")
# Flash transaction types only its admin grant produces; Flash's own signup bonuses and
# job refunds (`signup_bonus`, `refund`) count only when they carry a grant marker.
ADMIN_GRANT_TYPES = {"admin_grant", "apple_iap", "stripe_purchase", "subscription_grant"}
# States in which a grant is not owed to Flash (yet or ever).
NOT_SENT = {GrantState.HELD, GrantState.RELEASED}
# Flash's clock and ours may differ a little: read its history this much before the window.
CLOCK_SKEW = timedelta(minutes=10)
# How many accounts' Flash histories are read at once.
FLASH_READERS = 8


class ReconciliationFailed(Exception):
    """A side could not be read: nothing can be proven about this window."""


@dataclass
class Paid:
    """Money in: a paid Checkout session of credit packages or a paid subscription invoice."""

    obj: dict
    kind: str  # "session", "invoice" or "payment_intent" (an auto-reload)
    key: str  # the idempotency key of the grant it owes
    paid_at: datetime
    credits: int  # what the grant should be: package/plan credits × quantity
    price_checks: list[tuple[str, int, int]]  # (price id, charged, what the catalogue says)
    amount: int  # what the buyer paid
    currency: str
    account: Account | None = None  # its grant's, or found as the webhook finds it (read_ledger)


@dataclass
class Finding:
    kind: str
    key: str
    occurred_at: datetime
    detail: str
    account_id: Any = None
    grant_id: Any = None
    stripe_object_id: str = ""
    flash_transaction_id: str = ""
    paid: Paid | None = None  # what --repair can record a grant from


@dataclass
class Sides:
    paid: list[Paid] = field(default_factory=list)
    refunded_charges: dict[str, dict] = field(default_factory=dict)  # charge id → charge (latest)
    refunds: list[dict] = field(default_factory=list)
    disputes: list[dict] = field(default_factory=list)
    grants_by_key: dict[str, CreditGrant] = field(default_factory=dict)
    window_grants: list[CreditGrant] = field(default_factory=list)
    flash: dict[str, list[dict]] = field(default_factory=dict)  # flash user id → entries
    unreadable: list[Finding] = field(default_factory=list)  # Stripe objects that could not be read
    unreadable_flash: list[tuple[str, dict, str]] = field(default_factory=list)  # (flash user id, entry, why)


def _ts(when: datetime) -> int:
    return int(when.timestamp())


def _time(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value or 0), tz=UTC)


# --- reading the sides ------------------------------------------------------------------


def _listed(resource: Any, since: datetime, until: datetime, **params: Any) -> Iterator[dict]:
    first = resource.list(params={"limit": 100, "created": {"gte": _ts(since), "lte": _ts(until)}, **params})
    for obj in first.auto_paging_iter():
        yield obj.to_dict()


def _paid_session(session: dict) -> Paid | None:
    if session.get("mode") != "payment" or session.get("payment_status") not in ("paid", "no_payment_required"):
        return None
    credits, _products, _prices, _skipped = webhooks.session_credits(session)
    if credits <= 0:
        return None  # not a credit package: sold by something else on this Stripe account
    checks = []
    for line in webhooks.entries(session, "line_items", "data"):
        package = package_for_price(object_id(line.get("price")))
        if package is not None:
            checks.append((package.id, integer(line, "amount_subtotal", where="line_items.data[]") or 0,
                           cents(package.price) * quantity(line)))
    intent = session.get("payment_intent")
    created = (timestamp(intent, "created", where="payment_intent") if isinstance(intent, dict)
               else timestamp(session, "created"))
    return Paid(session, "session", f"stripe:checkout:{webhooks.own_id(session)}", _time(created),
                credits, checks, integer(session, "amount_total") or 0, currency(session))


def _paid_invoice(invoice: dict) -> Paid | None:
    subscription, _metadata = webhooks.invoice_subscription(invoice)
    plan, count, _skipped = webhooks.invoice_plan(invoice)
    if not subscription or plan is None:
        return None
    checks = []
    # Prorations and mid-period changes bill other amounts; a plan's own periods bill its price.
    if invoice.get("billing_reason") in ("subscription_create", "subscription_cycle"):
        for line in webhooks.entries(invoice, "lines", "data"):
            if plan_for_price(webhooks.line_price(line)) == plan:
                checks.append((plan.id, integer(line, "amount", where="lines.data[]") or 0,
                               cents(plan.price) * quantity(line)))
    paid_at = timestamp(invoice, "status_transitions", "paid_at") or timestamp(invoice, "created")
    return Paid(invoice, "invoice", f"stripe:invoice:{webhooks.own_id(invoice)}", _time(paid_at),
                plan.credits_per_month * count, checks, integer(invoice, "amount_paid") or 0, currency(invoice))


def _paid_reload(intent: dict) -> Paid | None:
    """An auto-reload's off-session payment (payments/autoreload.py): a Checkout
    purchase's own payment intent is counted through its session instead."""
    if intent.get("status") != "succeeded":
        return None
    # Metadata that is not an object may be an auto-reload's: unreadable, not skipped
    # unseen (as the webhook stores such an intent's events: webhooks.wanted).
    if mapping(intent, "metadata").get("auto_reload") != "1":
        return None
    package = PACKAGES.get(text(intent, "metadata", "package"))
    credits = package.credits if package is not None else 0
    amount = integer(intent, "amount_received") or integer(intent, "amount") or 0
    checks = [(package.id, amount, cents(package.price))] if package is not None else []
    return Paid(intent, "payment_intent", f"stripe:payment_intent:{webhooks.own_id(intent)}",
                _time(timestamp(intent, "created")), credits, checks, amount, currency(intent))


def _refunded_charge(refund: dict) -> dict | None:
    """The charge a succeeded or pending refund gives money back from (expanded), every
    field the classifying reads checked; None for a refund that gives nothing back."""
    if refund.get("status") not in ("succeeded", "pending"):
        return None
    webhooks.own_id(refund)
    timestamp(refund, "created")
    integer(refund, "amount")
    currency(refund)
    # Listed with expand=data.charge: an id, or nothing, is money back that cannot be traced.
    charge = mapping(refund, "charge")
    if not charge:
        raise Unprocessable("charge is absent, not the refunded charge")
    webhooks.own_id(charge, "charge")
    for name in ("amount", "amount_refunded"):
        integer(charge, name, where="charge")
    object_id(charge.get("payment_intent"))
    object_id(charge.get("invoice"))
    text(charge, "currency", where="charge")
    return charge


def _dispute(dispute: dict) -> dict:
    """A dispute, every field the classifying reads checked."""
    webhooks.own_id(dispute)
    timestamp(dispute, "created")
    object_id(dispute.get("payment_intent"))
    text(dispute, "status")
    integer(dispute, "amount")
    text(dispute, "currency")
    return dispute


Read = TypeVar("Read")


def _readable(sides: Sides, until: datetime, object_type: str, obj: dict,
              read: Callable[[dict], Read]) -> Read | None:
    """`read(obj)`, or None when the object cannot be read: then it is recorded as
    unreadable, and the run goes on with the others."""
    try:
        return read(obj)
    except Unprocessable as exc:
        sides.unreadable.append(_unreadable_stripe(object_type, obj, str(exc), until))
        return None


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _unreadable_stripe(object_type: str, obj: dict, reason: str, until: datetime) -> Finding:
    """Named by its id (its key too, `unreadable:<id>`, as other differences are keyed by
    their object) or, without a usable one, by a digest of its content; only the
    reader's reason is kept of it, never its fields' values."""
    raw = obj.get("id")
    object_id_ = raw if isinstance(raw, str) and 0 < len(raw) <= webhooks.MAX_ID else ""
    try:
        when = _time(timestamp(obj, "created"))
    except Unprocessable:
        when = until  # in this window: a run over it again resolves it once the object reads
    return Finding(
        DifferenceKind.UNREADABLE, f"unreadable:{object_id_ or object_type + ':' + _digest(obj)}", when,
        f"Stripe {object_type} {object_id_ or '(no usable id)'} cannot be read: {reason}; "
        "it is not reconciled, and --repair grants nothing from it",
        stripe_object_id=object_id_)


def read_stripe(sides: Sides, since: datetime, until: datetime) -> None:
    api = client().v1
    paid_objects = (
        ("checkout.session", _listed(api.checkout.sessions, since, until, status="complete",
                                     expand=["data.line_items", "data.payment_intent"]), _paid_session),
        ("invoice", _listed(api.invoices, since, until, status="paid"), _paid_invoice),
        # Stripe's list of payment intents filters by neither status nor metadata.
        ("payment_intent", _listed(api.payment_intents, since, until), _paid_reload),
    )
    for object_type, objects, read in paid_objects:
        for obj in objects:
            paid = _readable(sides, until, object_type, obj, read)
            if paid is not None:
                sides.paid.append(paid)
    for refund in _listed(api.refunds, since, until, expand=["data.charge"]):
        charge = _readable(sides, until, "refund", refund, _refunded_charge)
        if charge is not None:
            sides.refunds.append(refund)
            sides.refunded_charges[charge["id"]] = charge
    for dispute in _listed(api.disputes, since, until):
        if _readable(sides, until, "dispute", dispute, _dispute) is not None:
            sides.disputes.append(dispute)


def read_ledger(sides: Sides, since: datetime, until: datetime) -> None:
    keys = [paid.key for paid in sides.paid]
    for start in range(0, len(keys), 1000):
        for grant in CreditGrant.objects.filter(idempotency_key__in=keys[start:start + 1000]).select_related("account"):
            sides.grants_by_key[grant.idempotency_key] = grant
    for paid in sides.paid:
        grant = sides.grants_by_key.get(paid.key)
        if grant is not None:
            paid.account = grant.account
            continue
        try:  # only payments without a grant: one query each, as the webhook would make
            paid.account = PAYER[paid.kind](paid.obj)
        except webhooks.Unprocessable:
            paid.account = None
    sides.window_grants = list(CreditGrant.objects.filter(created_at__gte=since, created_at__lte=until)
                               .select_related("account"))
    # Whether an unreadable object's webhook granted anything after all, for the operator
    # who explains it (a rare object: one query each).
    for finding in sides.unreadable:
        grant = CreditGrant.objects.filter(stripe_object_id=finding.stripe_object_id, amount__gt=0).first() if (
            finding.stripe_object_id) else None
        if grant is not None:
            finding.grant_id, finding.account_id = grant.pk, grant.account_id
            finding.detail += f"; grant {grant.pk} ({grant.amount} credits, {grant.state}) was recorded for it"


PAYER = {"session": webhooks.session_account, "invoice": webhooks.invoice_account,
         "payment_intent": webhooks.reload_account}


def accounts_in_window(sides: Sides, since: datetime) -> dict[str, Account]:
    """Every account the window concerns, by Flash user id."""
    accounts = {g.account.flash_user_id: g.account for g in sides.window_grants}
    accounts.update({p.account.flash_user_id: p.account for p in sides.paid if p.account is not None})
    for account in Account.objects.filter(Q(last_seen_at__gte=since) | Q(created_at__gte=since)):
        accounts.setdefault(account.flash_user_id, account)
    return accounts


def read_flash(sides: Sides, accounts: dict[str, Account], since: datetime) -> None:
    def one(user_id: str) -> tuple[str, list[dict] | str]:
        try:
            return user_id, list(flash.history_since(user_id, since - CLOCK_SKEW))
        except UpstreamError as exc:
            return user_id, exc.message

    with ThreadPoolExecutor(max_workers=FLASH_READERS) as pool:
        read = dict(pool.map(one, accounts))
    failed = sorted(str(accounts[user].pk) for user, entries in read.items() if isinstance(entries, str))
    if failed:
        raise ReconciliationFailed(f"Flash's history could not be read for {len(failed)} account(s): "
                                   + ", ".join(failed[:5]) + (" …" if len(failed) > 5 else ""))
    for user_id, history in read.items():
        sides.flash[user_id] = []
        for entry in history:
            reason = _unreadable_entry(entry)
            if reason:
                sides.unreadable_flash.append((user_id, entry, reason))
            else:
                sides.flash[user_id].append(entry)


def _unreadable_entry(entry: dict) -> str:
    """Why classifying cannot read a Flash history entry ("" when it can): its type
    decides whether it is billing's, and a billing entry's amount is compared."""
    kind = entry.get("transaction_type")
    if kind is not None and not isinstance(kind, str):
        return f"transaction_type is a {type(kind).__name__}, not a string"
    amount = entry.get("amount")
    if (_marker(entry) or kind in ADMIN_GRANT_TYPES) and (not isinstance(amount, int) or isinstance(amount, bool)):
        return f"amount of an admin grant is a {type(amount).__name__}, not a whole number"
    return ""


def _unreadable_flash(sides: Sides, accounts: dict[str, Account], since: datetime,
                      until: datetime) -> Iterator[Finding]:
    """Flash's entries in the window that classifying cannot read, keyed as
    `unreadable:flash:<entry id>` (flash_unexplained's entry key)."""
    for user_id, entry, reason in sides.unreadable_flash:
        when = flash.transaction_time(entry)
        if when is not None and not since <= when <= until:
            continue
        key = _flash_entry_key(user_id, entry)
        yield Finding(
            DifferenceKind.UNREADABLE, f"unreadable:flash:{key}", when or until,
            f"Flash history entry {str(entry.get('id') or '(no id)')[:80]} cannot be read: {reason}; "
            "it is not reconciled",
            account_id=accounts[user_id].pk, flash_transaction_id=str(entry.get("id") or "")[:255])


# --- classifying ------------------------------------------------------------------------


def _webhook_story(paid: Paid) -> str:
    """What became of the object's webhook here, if anything did."""
    event = (StripeEvent.objects.filter(payload__data__object__id=paid.obj["id"])
             .order_by("-received_at").first())
    if event is None:
        return "no webhook event for it was ever received (missed, or refused: check STRIPE_WEBHOOK_SECRET)"
    return f"webhook {event.stripe_id} ({event.type}) was received and {event.state}: {event.result}"


def _marker(entry: dict) -> str | None:
    match = MARKER.search(str(entry.get("description", "")))
    return match.group(1) if match else None


def _flash_entry_key(user_id: str, entry: dict) -> str:
    """The entry's id (else who, when and how much), a digest of it past 200 characters:
    a difference's key has 255, with its kind in front."""
    key = str(entry.get("id") or f"{user_id}:{entry.get('created_at')}:{entry.get('amount')}")
    return key if len(key) <= 200 else _digest(key)


def classify(sides: Sides, accounts: dict[str, Account], since: datetime, until: datetime,
             now: datetime) -> list[Finding]:
    found: list[Finding] = []
    settled = now - timedelta(seconds=settings.PAYMENTS_RECONCILE_GRACE_SECONDS)
    deadline = now - timedelta(seconds=settings.PAYMENTS_RECONCILE_GRANT_DEADLINE_SECONDS)
    mismatches: dict[Any, list[str]] = defaultdict(list)

    # Stripe → ledger: every payment has its grant, of the right size.
    for paid in sides.paid:
        grant = sides.grants_by_key.get(paid.key)
        if grant is None:
            if paid.paid_at <= settled:
                found.append(Finding(
                    DifferenceKind.PAID_NO_GRANT, f"paid_no_grant:{paid.obj['id']}", paid.paid_at,
                    f"{paid.kind} paid {format_money({paid.currency: paid.amount})} for {paid.credits} credits; "
                    "no grant: "
                    + _webhook_story(paid),
                    account_id=paid.account.pk if paid.account else None, stripe_object_id=paid.obj["id"], paid=paid))
            continue
        if grant.amount != paid.credits:
            mismatches[grant].append(f"paid for {paid.credits} credits, the grant gives {grant.amount}")
        for product, charged, price in paid.price_checks:
            if charged != price:
                mismatches[grant].append(f"{product} charged {charged} {paid.currency}, its price is {price}")
        if grant.money_amount is not None and grant.money_amount != paid.amount:
            mismatches[grant].append(f"the grant records {grant.money_amount} paid, Stripe says {paid.amount}")

    # Ledger → Flash: applied grants are in Flash's history, with their amount.
    in_flash: dict[str, tuple[str, dict]] = {}
    for user_id, entries in sides.flash.items():
        for entry in entries:
            marker = _marker(entry)
            if marker:
                in_flash[marker] = (user_id, entry)
    for grant in sides.window_grants:
        seen = in_flash.get(str(grant.id))
        if grant.state == GrantState.APPLIED and grant.account.flash_user_id in accounts:
            if seen is None:
                found.append(Finding(
                    DifferenceKind.NOT_IN_FLASH, f"not_in_flash:{grant.id}", grant.created_at,
                    f"grant of {grant.amount} credits ({grant.transaction_type}) is applied "
                    f"(Flash transaction {grant.flash_transaction_id or 'unknown'}) but not in Flash's history",
                    account_id=grant.account_id, grant_id=grant.id, stripe_object_id=grant.stripe_object_id,
                    flash_transaction_id=grant.flash_transaction_id))
            elif seen[1].get("amount") != grant.amount:
                mismatches[grant].append(
                    f"Flash applied {seen[1].get('amount')} credits, the grant says {grant.amount}")
        overdue = grant.state == GrantState.FAILED or (
            grant.state not in (GrantState.APPLIED, GrantState.FAILED, *NOT_SENT) and grant.created_at <= deadline)
        if overdue:
            note = "; Flash's history has it: reconcile it from the grant's admin page" if seen else ""
            found.append(Finding(
                DifferenceKind.GRANT_OVERDUE, f"grant_overdue:{grant.id}", grant.created_at,
                f"grant of {grant.amount} credits is {grant.state} after {grant.attempts} attempt(s)"
                + (f": {grant.last_error}" if grant.last_error else "") + note,
                account_id=grant.account_id, grant_id=grant.id, stripe_object_id=grant.stripe_object_id))

    for grant, reasons in mismatches.items():
        found.append(Finding(
            DifferenceKind.AMOUNT_MISMATCH, f"amount_mismatch:{grant.id}", grant.created_at, "; ".join(reasons),
            account_id=grant.account_id, grant_id=grant.id, stripe_object_id=grant.stripe_object_id))

    # Flash → ledger: every admin grant in Flash was made by billing.
    markers = list(in_flash)
    known = {str(pk) for start in range(0, len(markers), 1000)
             for pk in CreditGrant.objects.filter(pk__in=markers[start:start + 1000]).values_list("pk", flat=True)}
    for user_id, entries in sides.flash.items():
        for entry in entries:
            when = flash.transaction_time(entry)
            marker = _marker(entry)
            if (when is not None and not since <= when <= until) or (marker and marker in known):
                continue
            if marker or entry.get("transaction_type") in ADMIN_GRANT_TYPES:
                key = _flash_entry_key(user_id, entry)
                found.append(Finding(
                    DifferenceKind.NOT_BILLINGS, f"flash_unexplained:{key}", when or now,
                    f"Flash has {entry.get('amount')} credits ({entry.get('transaction_type')}: "
                    f"\"{str(entry.get('description', ''))[:120]}\") that no grant of billing's explains",
                    account_id=accounts[user_id].pk, flash_transaction_id=str(entry.get("id", ""))[:255]))

    found.extend(_reversals_missing(sides, settled))
    found.extend(sides.unreadable)
    found.extend(_unreadable_flash(sides, accounts, since, until))
    return found


def _reversals_missing(sides: Sides, settled: datetime) -> Iterator[Finding]:
    """Stripe → ledger for money going back: refunds and disputes have held reversals."""
    refunded_at: dict[str, datetime] = {}
    for refund in sides.refunds:
        refunded_at[refund["charge"]["id"]] = max(_time(refund.get("created")),
                                                  refunded_at.get(refund["charge"]["id"], _time(0)))
    for charge_id, charge in sides.refunded_charges.items():
        original = webhooks.original_grant(object_id(charge.get("payment_intent")), object_id(charge.get("invoice")))
        if original is None or refunded_at[charge_id] > settled:
            continue  # nothing was granted for it (a paid-no-grant, if anything), or just refunded
        expected = webhooks.reversal_credits(original, charge.get("amount") or original.money_amount,
                                             charge.get("amount_refunded") or 0)
        held = -sum(r.amount for r in original.reversals.filter(source=GrantSource.STRIPE_REFUND))
        if held < expected:
            yield Finding(
                DifferenceKind.REVERSAL_MISSING, f"reversal_missing:{charge_id}", refunded_at[charge_id],
                f"charge refunded {charge.get('amount_refunded')} of {charge.get('amount')} {charge.get('currency')}: "
                f"{expected} credits should be reversed, the ledger holds reversals of {held}",
                account_id=original.account_id, grant_id=original.pk, stripe_object_id=charge_id)
    for dispute in sides.disputes:
        created = _time(dispute.get("created"))
        original = webhooks.original_grant(object_id(dispute.get("payment_intent")))
        if original is None or created > settled:
            continue
        reversal = CreditGrant.objects.filter(idempotency_key=f"stripe:dispute:{dispute['id']}").first()
        if dispute.get("status") in webhooks.DISPUTE_SETTLED:
            given_back = CreditGrant.objects.filter(idempotency_key=f"stripe:dispute:{dispute['id']}:won").exists()
            if reversal is None or reversal.state == GrantState.RELEASED or given_back:
                continue
            problem = f"dispute {dispute.get('status')}, but its reversal is {reversal.state}, not released"
        elif reversal is None:
            problem = (f"dispute {dispute.get('status')} of {dispute.get('amount')} {dispute.get('currency')}: "
                       "no held reversal")
        else:
            continue
        yield Finding(DifferenceKind.REVERSAL_MISSING, f"reversal_missing:{dispute['id']}", created, problem,
                      account_id=original.account_id, grant_id=original.pk, stripe_object_id=dispute["id"])


def per_day(sides: Sides, since: datetime, until: datetime) -> list[dict]:
    """Per-day (UTC) totals of the three sides, for the admin's table."""
    def blank() -> dict:
        return {"stripe": {"payments": 0, "credits": 0, "money": defaultdict(int), "refunded": defaultdict(int)},
                "ledger": {"grants": 0, "credits": 0, "applied": 0},
                "flash": {"transactions": 0, "credits": 0}}

    days: dict[str, dict] = defaultdict(blank)
    for paid in sides.paid:
        day = days[paid.paid_at.date().isoformat()]["stripe"]
        day["payments"] += 1
        day["credits"] += paid.credits
        day["money"][paid.currency] += paid.amount
    for refund in sides.refunds:
        days[_time(refund.get("created")).date().isoformat()]["stripe"]["refunded"][refund.get("currency", "")] += (
            refund.get("amount") or 0)
    for grant in sides.window_grants:
        if grant.amount > 0:
            day = days[grant.created_at.astimezone(UTC).date().isoformat()]["ledger"]
            day["grants"] += 1
            day["credits"] += grant.amount
            day["applied"] += grant.amount if grant.state == GrantState.APPLIED else 0
    for entries in sides.flash.values():
        for entry in entries:
            when = flash.transaction_time(entry)
            amount = entry.get("amount")
            if (when is not None and since <= when <= until and isinstance(amount, int) and amount > 0
                    and (_marker(entry) or entry.get("transaction_type") in ADMIN_GRANT_TYPES)):
                day = days[when.date().isoformat()]["flash"]
                day["transactions"] += 1
                day["credits"] += amount
    return [{"date": date, **totals} for date, totals in sorted(days.items(), reverse=True)]


# --- a run ---------------------------------------------------------------------------


def _repair(run: ReconciliationRun, finding: Finding) -> CreditGrant | None:
    """The grant the webhook would have recorded, from Stripe's own object (its line
    items are the truth), under the webhook's idempotency key."""
    paid = finding.paid
    reason = f"reconcile_ledger --repair (run {run.pk}): paid in Stripe, its webhook was never processed"
    try:
        if paid.kind == "session":
            grant, _created, _skipped = webhooks.grant_for_session(paid.obj, reason=reason)
        elif paid.kind == "payment_intent":
            grant, _created = webhooks.grant_for_reload(paid.obj, reason=reason)
        else:
            grant, _created, _plan, _skipped = webhooks.grant_for_invoice(paid.obj, reason=reason)
    except webhooks.Unprocessable as exc:
        finding.detail += f"; cannot repair: {exc}"
        return None
    log.warning("reconciliation run %s recorded the missing grant %s for %s", run.pk, grant.id, paid.obj["id"])
    return grant


def _record(run: ReconciliationRun, findings: list[Finding], repaired: dict[str, CreditGrant]) -> None:
    now = timezone.now()
    for finding in findings:
        values = {"kind": finding.kind, "occurred_at": finding.occurred_at, "detail": finding.detail,
                  "account_id": finding.account_id, "grant_id": finding.grant_id,
                  "stripe_object_id": finding.stripe_object_id, "flash_transaction_id": finding.flash_transaction_id,
                  "last_seen_at": now, "resolved_at": None}
        if finding.key in repaired:
            values.update(repaired_grant=repaired[finding.key], resolved_at=now)
        difference, _ = Difference.objects.update_or_create(key=finding.key, defaults=values)
        difference.runs.add(run)
    # What this window held before and no longer does has been put right.
    (Difference.objects.filter(resolved_at__isnull=True, occurred_at__gte=run.since, occurred_at__lte=run.until)
     .exclude(key__in=[f.key for f in findings]).update(resolved_at=now))


def reconcile(since: datetime, until: datetime, *, repair: bool = False, triggered_by: str = "") -> ReconciliationRun:
    """Run a reconciliation of the window and store it; a run that could not read a
    side is stored as failed with the reason (and so is one that broke, re-raised)."""
    run = ReconciliationRun.objects.create(since=since, until=until, repair=repair, triggered_by=triggered_by[:150])
    try:
        _reconcile(run)
    except ReconciliationFailed as exc:
        log.error("reconciliation run %s could not complete: %s", run.pk, exc)
        _stop(run, str(exc))
    except Exception as exc:
        _stop(run, f"unexpected {type(exc).__name__} (see the logs)")
        raise
    return run


def _stop(run: ReconciliationRun, error: str) -> None:
    run.outcome, run.error, run.finished_at = RunOutcome.FAILED, error, timezone.now()
    run.save(update_fields=["outcome", "error", "finished_at"])


def _reconcile(run: ReconciliationRun) -> None:
    since, until, sides = run.since, run.until, Sides()
    if not settings.STRIPE_SECRET_KEY:
        raise ReconciliationFailed("STRIPE_SECRET_KEY is not configured")
    try:
        read_stripe(sides, since, until)
    except stripe.StripeError as exc:
        raise ReconciliationFailed(f"Stripe could not be read: {type(exc).__name__} "
                                   f"{exc.http_status or ''} {exc.user_message or ''}".strip()) from None
    read_ledger(sides, since, until)
    accounts = accounts_in_window(sides, since)
    read_flash(sides, accounts, since)

    findings = classify(sides, accounts, since, until, timezone.now())
    repaired = {}
    if run.repair:
        for finding in findings:
            if finding.kind == DifferenceKind.PAID_NO_GRANT:
                grant = _repair(run, finding)
                if grant is not None:
                    repaired[finding.key] = grant
    _record(run, findings, repaired)

    explained = set(Difference.objects.filter(key__in=[f.key for f in findings], explained_at__isnull=False)
                    .values_list("key", flat=True))
    run.found = len(findings)
    run.repaired = len(repaired)
    run.unexplained = sum(1 for f in findings if f.key not in explained and f.key not in repaired)
    run.outcome = RunOutcome.DIFFERENCES if run.unexplained else RunOutcome.CLEAN
    run.counts = {"stripe_payments": len(sides.paid), "stripe_refunds": len(sides.refunds),
                  "stripe_disputes": len(sides.disputes), "grants": len(sides.window_grants),
                  "accounts": len(accounts), "flash_transactions": sum(len(e) for e in sides.flash.values())}
    run.daily = per_day(sides, since, until)
    run.finished_at = timezone.now()
    run.save()
    if run.unexplained:
        log.error("reconciliation run %s: %s unexplained difference(s) between Stripe, the ledger and Flash",
                  run.pk, run.unexplained)


def open_differences() -> Any:
    return Difference.objects.filter(resolved_at__isnull=True, explained_at__isnull=True)


def open_differences_count() -> int:
    """For the admin's "needs attention" box: differences nobody has explained yet."""
    return open_differences().count()


def explain(difference: Difference, user: Any, note: str) -> None:
    difference.explained_at, difference.explained_by, difference.explanation = timezone.now(), user, note
    difference.save(update_fields=["explained_at", "explained_by", "explanation"])


def format_money(totals: dict[str, int]) -> str:
    """`{"usd": 3999}` → "39.99 USD" (minor units of two-decimal currencies)."""
    return ", ".join(f"{amount / 100:,.2f} {currency.upper()}" for currency, amount in sorted(totals.items())) or "–"


def default_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    until = now or timezone.now()
    return until - timedelta(days=settings.PAYMENTS_RECONCILE_DAYS), until

