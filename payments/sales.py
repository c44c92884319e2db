"""Sales figures for operators, read from the grant ledger: money received per
currency, purchases by what was bought and where, money given back (refunds,
disputes), net, and credits granted against credits Flash confirmed.

How each figure is computed is written down in docs/payments.md ("Sales"); the
admin's sales page and its CSV export show exactly these.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Case, CharField, Count, DateField, F, Q, Sum, Value, When
from django.db.models.functions import TruncDate, TruncMonth

from core.calendar import month_start, next_month_start
from core.catalog import APPLE_PRODUCTS, PACKAGES, PLANS

from .models import CreditGrant, GrantSource, GrantState

# Grants a buyer paid for: their money amount is money received.
PAID_SOURCES = (GrantSource.STRIPE, GrantSource.STRIPE_SUBSCRIPTION, GrantSource.APPLE)
DAY, MONTH = "day", "month"
# Where a paid grant was sold: its source, except that an auto-reload's grant (a Stripe
# purchase too, keyed by its payment intent: webhooks.grant_for_reload) is told apart
# from a Checkout purchase of the same package.
AUTO_RELOAD = "auto_reload"
AUTO_RELOADED = Q(source=GrantSource.STRIPE, idempotency_key__startswith="stripe:payment_intent:")

# Stripe's zero-decimal currencies: their minor unit is the unit.
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf",
                "xof", "xpf"}


def major(minor: int, currency: str) -> Decimal:
    """An amount in the currency's minor unit (as Stripe sends it) in its major unit."""
    if currency.lower() in ZERO_DECIMAL:
        return Decimal(minor)
    return (Decimal(minor) / 100).quantize(Decimal("0.01"))


def money_text(amounts: dict[str, int]) -> str:
    """"9.99 USD · 5.00 EUR"; "—" when there is none."""
    parts = [f"{major(value, currency):,} {currency.upper() or '?'}"
             for currency, value in sorted(amounts.items()) if value]
    return " · ".join(parts) or "—"


def source_label(source: str) -> str:
    if source == AUTO_RELOAD:
        return "Stripe auto-reload"
    return dict(GrantSource.choices).get(source, source.replace("_", " ").capitalize())


def product_label(product: str) -> str:
    """What a grant's `product` was, in words: a package, a plan, an Apple product."""
    names = []
    for part in filter(None, product.split(",")):
        if part in PACKAGES:
            names.append(f"{PACKAGES[part].credits:,} credits package")
        elif part in PLANS:
            names.append(f"{PLANS[part].name} plan")
        elif part in APPLE_PRODUCTS:
            names.append(f"{APPLE_PRODUCTS[part]:,} credits ({part})")
        else:
            names.append(part)
    return ", ".join(names) or "—"


@dataclass
class Figures:
    """One period's sales. Money is per currency in minor units; `given_back` is per
    kind of reversal (its source: Stripe refund, dispute…), as positive amounts."""

    purchases: int = 0
    unpriced_purchases: int = 0  # paid, but the grant carries no money amount
    received: Counter = field(default_factory=Counter)
    received_not_in_flash: Counter = field(default_factory=Counter)  # paid for credits Flash has not confirmed
    given_back: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    reversals: int = 0
    credits_granted: int = 0
    credits_applied: int = 0
    credits_reversed: int = 0

    @property
    def given_back_total(self) -> Counter:
        total: Counter = Counter()
        for amounts in self.given_back.values():
            total.update(amounts)
        return total

    @property
    def net(self) -> dict[str, int]:
        given_back = self.given_back_total
        return {c: self.received.get(c, 0) - given_back.get(c, 0) for c in self.currencies}

    @property
    def currencies(self) -> list[str]:
        return sorted(set(self.received) | set(self.given_back_total))

    @property
    def credits_not_applied(self) -> int:
        return self.credits_granted - self.credits_applied

    @property
    def is_empty(self) -> bool:
        return not (self.credits_granted or self.reversals)

    def add(self, row: dict) -> None:
        """Fold in one row of `ledger_rows`."""
        currency, money = row["currency"], row["money"] or 0
        if row["credits"] > 0:
            self.credits_granted += row["credits"]
            self.credits_applied += row["applied_credits"] or 0
            if row["source"] == GrantSource.STRIPE_DISPUTE and money:
                # A dispute won after its reversal was sent: that money came back.
                self.given_back[row["source"]][currency] -= money
            if row["source"] in PAID_SOURCES:
                self.purchases += row["n"]
                self.unpriced_purchases += row["n"] - row["priced"]
                if money:
                    self.received[currency] += money
                if money - (row["applied_money"] or 0):
                    self.received_not_in_flash[currency] += money - (row["applied_money"] or 0)
        else:
            self.reversals += row["n"]
            self.credits_reversed -= row["credits"]
            if money:
                self.given_back[row["source"]][currency] -= money


def _bounds(start: dt.date, end: dt.date) -> dict:
    return {"created_at__gte": dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC),
            "created_at__lt": dt.datetime.combine(end, dt.time.min, tzinfo=dt.UTC)}


def ledger_rows(start: dt.date, end: dt.date, by: str = DAY) -> list[dict]:
    """The grants recorded between two UTC days (`end` excluded), grouped by period
    (day or month), source and channel, product, currency and direction (grants and
    reversals apart, so that each group's sums have one sign). A dispute reversal its
    win released took nothing back, money or credits: it is left out."""
    period = (TruncDate("created_at", tzinfo=dt.UTC) if by == DAY
              else TruncMonth("created_at", tzinfo=dt.UTC, output_field=DateField()))
    applied = Q(state=GrantState.APPLIED)
    channel = Case(When(AUTO_RELOADED, then=Value(AUTO_RELOAD)), default=F("source"), output_field=CharField())
    rows: list[dict] = []
    for direction in (Q(amount__gt=0), Q(amount__lt=0)):
        rows += (
            CreditGrant.objects.filter(direction, **_bounds(start, end)).exclude(state=GrantState.RELEASED)
            .annotate(period=period, channel=channel)
            .values("period", "source", "channel", "product", "currency")
            .annotate(
                n=Count("id"),
                priced=Count("money_amount"),
                credits=Sum("amount"),
                money=Sum("money_amount"),
                applied_credits=Sum("amount", filter=applied),
                applied_money=Sum("money_amount", filter=applied),
            )
            .order_by()
        )
    return rows


@dataclass
class Line:
    """Grants of one source and product (or reversals of one source) in a period."""

    source: str
    product: str
    count: int = 0
    credits: int = 0
    credits_applied: int = 0
    unpriced: int = 0
    money: Counter = field(default_factory=Counter)

    @property
    def source_label(self) -> str:
        return source_label(self.source)

    @property
    def product_label(self) -> str:
        return product_label(self.product)

    @property
    def money_text(self) -> str:
        return money_text({c: abs(v) for c, v in self.money.items()})

    @property
    def credits_taken_back(self) -> int:
        return -self.credits

    @property
    def credits_not_applied(self) -> int:
        """Credits not yet in Flash: to add for a grant, to take back for a reversal."""
        return abs(self.credits - self.credits_applied)


@dataclass
class MonthReport:
    month: dt.date  # its first day
    total: Figures
    days: list[tuple[dt.date, Figures]]  # every day of the month, up to today
    purchases: list[Line]  # paid grants by source and product
    other_grants: list[Line]  # credits nobody paid for (operators, signup) by source
    given_back: list[Line]  # refunds, disputes… by source
    year: list[tuple[dt.date, Figures]]  # every month of the month's year

    @property
    def previous(self) -> dt.date:
        return month_start(self.month - dt.timedelta(days=1))

    @property
    def next(self) -> dt.date:
        return next_month_start(self.month)

    @property
    def currencies(self) -> list[str]:
        return self.total.currencies


def _lines(rows: list[dict], keep) -> list[Line]:
    lines: dict[tuple[str, str], Line] = {}
    for row in rows:
        if not keep(row):
            continue
        product = row["product"] if row["credits"] > 0 else ""
        line = lines.setdefault((row["channel"], product), Line(row["channel"], product))
        line.count += row["n"]
        line.credits += row["credits"]
        line.credits_applied += row["applied_credits"] or 0
        line.unpriced += row["n"] - row["priced"]
        if row["money"]:
            line.money[row["currency"]] += row["money"]
    return sorted(lines.values(), key=lambda line: (line.source_label, -abs(line.credits)))


def _periods(start: dt.date, end: dt.date, by: str) -> list[dt.date]:
    periods, period = [], start if by == DAY else month_start(start)
    while period < end:
        periods.append(period)
        period = period + dt.timedelta(days=1) if by == DAY else next_month_start(period)
    return periods


def by_period(start: dt.date, end: dt.date, by: str = DAY) -> list[tuple[dt.date, Figures]]:
    """Every day (or month) between two UTC days, `end` excluded, with its figures."""
    figures = {period: Figures() for period in _periods(start, end, by)}
    for row in ledger_rows(start, end, by):
        figures.setdefault(row["period"], Figures()).add(row)
    return sorted(figures.items())


def month_report(month: dt.date, today: dt.date) -> MonthReport:
    """The calendar month (UTC) that holds `month`: its total, each day of it up to
    `today`, the split by source and product, and each month of its year."""
    first = month_start(month)
    end = max(first, min(next_month_start(first), today + dt.timedelta(days=1)))
    rows = ledger_rows(first, end, DAY)
    days = {day: Figures() for day in _periods(first, end, DAY)}
    total = Figures()
    for row in rows:
        days.setdefault(row["period"], Figures()).add(row)
        total.add(row)
    year_start = first.replace(month=1)
    year_end = max(year_start, min(year_start.replace(year=year_start.year + 1), next_month_start(today)))
    return MonthReport(
        month=first,
        total=total,
        days=sorted(days.items()),
        purchases=_lines(rows, lambda r: r["credits"] > 0 and r["source"] in PAID_SOURCES),
        other_grants=_lines(rows, lambda r: r["credits"] > 0 and r["source"] not in PAID_SOURCES),
        given_back=_lines(rows, lambda r: r["credits"] < 0),
        year=by_period(year_start, year_end, MONTH),
    )


def csv_table(periods: list[tuple[dt.date, Figures]], currencies: list[str]) -> list[list[str]]:
    """A header and one row per period: counts, money per currency in major units
    (gross, given back, net, received for credits not yet in Flash), credits."""
    header = ["period", "purchases", "purchases_without_price", "refunds_and_disputes"]
    for currency in currencies:
        header += [f"received_{currency}", f"given_back_{currency}", f"net_{currency}",
                   f"received_not_in_flash_{currency}"]
    header += ["credits_granted", "credits_applied", "credits_not_applied", "credits_reversed"]
    table = [header]
    for period, figures in periods:
        row = [period.isoformat(), figures.purchases, figures.unpriced_purchases, figures.reversals]
        given_back, net = figures.given_back_total, figures.net
        for currency in currencies:
            row += [major(figures.received.get(currency, 0), currency), major(given_back.get(currency, 0), currency),
                    major(net.get(currency, 0), currency),
                    major(figures.received_not_in_flash.get(currency, 0), currency)]
        row += [figures.credits_granted, figures.credits_applied, figures.credits_not_applied,
                figures.credits_reversed]
        table.append([str(value) for value in row])
    return table
