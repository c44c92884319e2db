"""Admin pages that show one app's figures beside another's, composed here in the
project, where every app may be imported (metering and payments never import each
other)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.contrib import admin

from core import charts
from metering.admin import UsageDashboardAdmin
from metering.models import UsageDashboard
from payments import sales


class UsageDashboardWithSales(UsageDashboardAdmin):
    """The usage dashboard with the money of the same days: the sales page's net sales
    (payments.sales: net of refunds and disputes, per currency)."""

    dashboard_template = "admin/usage_dashboard_with_sales.html"

    def more_context(self, date_from: dt.date, date_to: dt.date) -> dict:
        sold = sales.by_period(date_from, date_to + dt.timedelta(days=1))
        net: Counter = Counter()
        for _, figures in sold:
            net.update(figures.net)
        return {
            "net_sales": sales.money_text(net),
            "net_sales_charts": [
                (currency.upper(), charts.svg_bar_chart(
                    [(day.isoformat(), float(sales.major(f.net.get(currency, 0), currency))) for day, f in sold],
                    f"Net sales ({currency.upper()})", fmt=lambda v: f"{v:,.2f}", colour="#5b8c3a"))
                for currency in sorted({c for _, f in sold for c in f.currencies})
            ],
        }


def compose(site: admin.AdminSite) -> None:
    """Register the composed pages in place of the apps' own."""
    site.unregister(UsageDashboard)
    site.register(UsageDashboard, UsageDashboardWithSales)
