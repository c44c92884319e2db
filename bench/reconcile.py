"""Reconciliation at volume: `reconcile_ledger`'s work for 10,000 paid Checkout sessions
of 1,000 accounts (each with its applied grant and its transaction in Flash), against the
Stripe and Flash stand-ins over HTTP on 127.0.0.1 and the bench database. Target: under
a minute. Prints the whole run and each side's share.

The bench's objects lie in a day of their own a month back (so the bench database's
other data stays out of the window); every other account of that database is a Flash
user with an empty history (it is read, and agrees).

    python -m bench.reconcile [--grants 10000] [--accounts 1000]
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta

from . import harness

BENCH_PREFIX = "bench|recon-"


def _seed(stripe, flash, grants: int, accounts: int, since: datetime) -> None:
    """The three sides, all agreeing: sessions paid in Stripe, grants applied in the
    ledger, transactions with their markers in Flash."""
    from accounts.models import Account
    from payments.models import CreditGrant, GrantSource, GrantState, TransactionType
    from standins.stripe import PRICES

    CreditGrant.objects.filter(account__external_id__startswith=BENCH_PREFIX).delete()
    Account.objects.filter(external_id__startswith=BENCH_PREFIX).delete()
    for other in Account.objects.values_list("flash_user_id", flat=True):
        flash.balances[other], flash.transactions[other] = 0, []
    made = Account.objects.bulk_create(
        Account(external_id=f"{BENCH_PREFIX}{n}", email=f"recon{n}@bench.invalid", flash_user_id=str(uuid.uuid4()),
                stripe_customer_id=f"cus_bench{n}") for n in range(accounts))
    Account.objects.filter(external_id__startswith=BENCH_PREFIX).update(created_at=since, last_seen_at=since)
    rows = []
    for n in range(grants):
        account = made[n % accounts]
        at = since + timedelta(seconds=n * 86000 // grants)
        session = stripe.create_session({
            "mode": "payment", "line_items": [{"price": PRICES["STRIPE_PRICE_100_CREDITS"], "quantity": "1"}],
            "customer": account.stripe_customer_id, "client_reference_id": str(account.pk),
            "metadata": {"account_id": str(account.pk), "package": "100_credits", "credits": "100"}})
        stripe.pay(session["id"], deliver=False)
        session["created"] = stripe.objects["payment_intent"][session["payment_intent"]]["created"] = int(
            at.timestamp())
        grant = CreditGrant(
            id=uuid.uuid4(), idempotency_key=f"stripe:checkout:{session['id']}", source=GrantSource.STRIPE,
            account=account, flash_user_id=account.flash_user_id, amount=100,
            transaction_type=TransactionType.STRIPE_PURCHASE, description="Stripe purchase: 100 credits",
            product="100_credits", currency="usd", money_amount=999, stripe_object_id=session["id"],
            stripe_payment_intent_id=session["payment_intent"], state=GrantState.APPLIED, applied_at=at)
        rows.append(grant)
        flash.transactions.setdefault(account.flash_user_id, []).append({
            "id": str(uuid.uuid4()), "amount": 100, "transaction_type": "stripe_purchase",
            "description": f"{grant.description} {grant.marker}", "created_at": at.isoformat()})
    CreditGrant.objects.bulk_create(rows, batch_size=1000)
    CreditGrant.objects.filter(account__external_id__startswith=BENCH_PREFIX).update(created_at=since)
    for account in made:
        flash.balances[account.flash_user_id] = 100 * len(flash.transactions[account.flash_user_id])


def run(grants: int, accounts: int) -> dict[str, float]:
    harness.setup_django()
    from django.conf import settings

    from payments import reconciliation
    from standins import Flash
    from standins.stripe import Stripe

    stripe, flash = Stripe().start(), Flash().start()
    try:
        for name, value in {**stripe.environment(), "FLASH_URL": flash.url, "FLASH_SERVICE_KEY": flash.service_key,
                            "FLASH_ADMIN_KEY": flash.admin_key}.items():
            setattr(settings, name, value)
        since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)
        until = since + timedelta(days=1)
        seeding = time.perf_counter()
        _seed(stripe, flash, grants, accounts, since)
        figures = {"seed": time.perf_counter() - seeding}

        started = time.perf_counter()
        result = reconciliation.reconcile(since, until, triggered_by="bench")
        figures["run"] = time.perf_counter() - started
        if result.error:
            raise SystemExit(f"reconciliation failed: {result.error}")
        figures.update(found=result.found, grants=result.counts["grants"], accounts=result.counts["accounts"],
                       payments=result.counts["stripe_payments"])

        # Each side's share, read again on its own.
        sides = reconciliation.Sides()
        for name, step in (("stripe", lambda: reconciliation.read_stripe(sides, since, until)),
                           ("ledger", lambda: reconciliation.read_ledger(sides, since, until)),
                           ("flash", lambda: reconciliation.read_flash(
                               sides, reconciliation.accounts_in_window(sides, since), since))):
            started = time.perf_counter()
            step()
            figures[name] = time.perf_counter() - started
        return figures
    finally:
        stripe.stop()
        flash.stop()


def report(figures: dict[str, float]) -> None:
    print(f"\nReconciliation: {figures['grants']:,} grants, {figures['payments']:,} Stripe payments, "
          f"{figures['accounts']:,} accounts read in Flash")
    print(f"  whole run (reconcile_ledger's work)  {figures['run']:6.1f} s   (target: under 60 s); "
          f"differences found: {figures['found']}")
    print(f"  Stripe: sessions, invoices, refunds, disputes listed  {figures['stripe']:6.1f} s")
    print(f"  ledger: grants by key and in the window              {figures['ledger']:6.1f} s")
    print(f"  Flash: every account's history since the window       {figures['flash']:6.1f} s")
    print(f"  (seeding the three sides, not timed above: {figures['seed']:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grants", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    args = parser.parse_args()
    report(run(args.grants, args.accounts))


if __name__ == "__main__":
    main()
