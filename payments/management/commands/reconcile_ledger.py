"""Reconcile Stripe, the grant ledger and Flash for a window (docs/payments.md,
"Reconciliation"). Exits 1 when a difference is unexplained, 2 when a side could not be
read: a cron that alerts on a non-zero exit alerts on both."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser

from payments.models import Difference, RunOutcome
from payments.reconciliation import default_window, format_money, reconcile


def _moment(value: str, *, end: bool = False) -> datetime:
    """An ISO date (a whole UTC day: its start, or with `end` its end) or date-time."""
    try:
        if len(value) == 10:
            day = datetime.combine(datetime.fromisoformat(value).date(), time.min, tzinfo=UTC)
            return day + timedelta(days=1) - timedelta(microseconds=1) if end else day
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD) or ISO date-time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Compare Stripe's payments, the grant ledger and Flash's history; list and store the differences."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="start of the window: YYYY-MM-DD (UTC) or ISO date-time; "
                                            "default: PAYMENTS_RECONCILE_DAYS (3) days ago")
        parser.add_argument("--until", help="end of the window (a date counts whole); default: now")
        parser.add_argument("--repair", action="store_true",
                            help="record the grants of paid sessions/invoices whose webhook never made one "
                                 "(the webhook's idempotency keys: a late webhook adds nothing); nothing else")

    def handle(self, *args, since: str | None = None, until: str | None = None, repair: bool = False,
               **options) -> None:
        start, end = default_window()
        start = _moment(since) if since else start
        end = _moment(until, end=True) if until else end
        if start >= end:
            raise CommandError("--since must be before --until")
        command = "reconcile_ledger" + (f" --since {since}" if since else "") + (
            f" --until {until}" if until else "") + (" --repair" if repair else "")
        run = reconcile(start, end, repair=repair, triggered_by=command)

        out = self.stdout
        out.write(f"Reconciliation run {run.pk}: {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC"
                  + (" (with --repair)" if repair else ""))
        if run.outcome == RunOutcome.FAILED:
            raise CommandError(f"could not complete: {run.error}", returncode=2)
        money = {}
        for day in run.daily:
            for currency, amount in day["stripe"]["money"].items():
                money[currency] = money.get(currency, 0) + amount
        counts = run.counts
        out.write(f"  Stripe: {counts['stripe_payments']} payment(s), {format_money(money)}; "
                  f"{counts['stripe_refunds']} refund(s), {counts['stripe_disputes']} dispute(s)")
        out.write(f"  Ledger: {counts['grants']} grant(s) in the window, "
                  f"{sum(d['ledger']['credits'] for d in run.daily):,} credits granted")
        out.write(f"  Flash:  {counts['accounts']} account(s) read, "
                  f"{sum(d['flash']['credits'] for d in run.daily):,} credits of admin grants")
        out.write(f"  Differences: {run.found} ({run.unexplained} unexplained, {run.repaired} repaired)")
        for difference in Difference.objects.filter(runs=run).select_related("account").order_by("kind", "occurred_at"):
            state = ("repaired: grant " + str(difference.repaired_grant_id) if difference.repaired_grant_id
                     else "explained: " + difference.explanation if difference.explained_at else "UNEXPLAINED")
            subject = " · ".join(f"{name} {value}" for name, value in (
                ("stripe", difference.stripe_object_id), ("grant", difference.grant_id),
                ("flash", difference.flash_transaction_id), ("account", difference.account)) if value)
            out.write(f"  - [{difference.kind}] {subject} · "
                      f"{difference.occurred_at:%Y-%m-%d %H:%M}: {difference.detail} ({state})")
        if run.unexplained:
            raise CommandError(f"{run.unexplained} unexplained difference(s): see the admin's Reconciliation page",
                               returncode=1)
