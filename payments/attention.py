"""What an operator must look at: the admin index's "needs attention" box.

Each entry of CHECKS is one line of the box: a question asked of one model with a
filter that the model's admin list understands from its URL, so the box links to
exactly the rows it counts. Add a check with one more line.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.apps import apps
from django.contrib.admin.utils import prepare_lookup_value
from django.db.models import Q
from django.urls import reverse


@dataclass(frozen=True)
class Check:
    label: str  # what the rows are, e.g. "grants stuck or failed in Flash"
    model: str  # "app_label.Model", whose admin list the link opens
    query: dict[str, str]  # admin list URL parameters, also the queryset filter
    help: str = ""  # what to do about it

    def filter(self) -> Q:
        """The rows the admin list shows for `query` (read as the admin reads it)."""
        return Q(*(Q((lookup, prepare_lookup_value(lookup, value))) for lookup, value in self.query.items()))


@dataclass(frozen=True)
class Item:
    label: str
    count: int
    url: str
    help: str


# String states rather than enum members, so a check stays valid whichever states
# the ledger knows ("stuck": undelivered for an hour and still retried).
CHECKS = [
    Check("grants stuck or failed in Flash", "payments.CreditGrant", {"state__in": "stuck,failed"},
          "Paid credits that have not reached Flash: read the last error, then retry or reconcile."),
    Check("Stripe events that failed", "payments.StripeEvent", {"state__exact": "failed"},
          "Verified events billing could not act on: fix the cause, then process them again."),
    Check("refunds and disputes held for review", "payments.CreditGrant", {"state__exact": "held"},
          "Money given back whose credits are not yet taken from Flash: send them, or leave a note."),
    # reconciliation.open_differences(), as the differences list reads it from its URL.
    Check("reconciliation differences nobody has explained", "payments.Difference",
          {"resolved_at__isnull": "True", "explained_at__isnull": "True"},
          "Stripe, the grant ledger and Flash disagree: act on each from Payments › Reconciliation, then explain it."),
    # What autoreload.fail() leaves: off, with the reason. Turning it on again or saving a
    # new card clears the reason, so the account leaves the box once its holder has acted;
    # a holder may also leave it off for good, so an operator's "Mark as seen" takes it out
    # too (the customer keeps the reason) until a charge fails again.
    # The admin has no "not empty" lookup of its own: greater than "" is any text at all.
    Check("auto-reloads a failed charge turned off", "payments.AutoReload",
          {"enabled__exact": "0", "last_error__gt": "", "error_seen_at__isnull": "True"},
          "A declined card (or Stripe unreachable for 23 hours) turned them off and the account holder was emailed: "
          "read the last error; ask the holder to update their card, or look into Stripe if it could not be reached; "
          "then select them and \"Mark as seen\"."),
]


def needs_attention(user, checks: list[Check] | None = None) -> list[Item]:
    """Each check the user may see (view permission on its model) with its count and
    the link to the filtered list, in order; zero counts are listed too."""
    items = []
    for check in CHECKS if checks is None else checks:
        model = apps.get_model(check.model)
        opts = model._meta
        if not user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
            continue
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist") + "?" + urlencode(check.query)
        items.append(Item(check.label, model._default_manager.filter(check.filter()).count(), url, check.help))
    return items
