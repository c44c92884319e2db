"""An account's plan, and the tier and HD access that follow from it."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from core.catalog import PLANS, PlanTerms

log = logging.getLogger("payments.subscriptions")


def set_plan(account: Account, plan_id: str, as_of: datetime | None = None) -> bool:
    """Put the account on a plan; its tier follows (an operator's tier_override still
    wins, through Account.effective_tier). `as_of` is when the change happened (the
    Stripe event's time): a change older than the one already applied is ignored.
    Returns whether anything changed."""
    plan = PLANS[plan_id]
    as_of = as_of or timezone.now()
    # Compare with the row as it is now, locked until our transaction ends: a renewal
    # and a cancellation handled at once must not both pass the check against what each
    # read earlier, leaving whichever commits last (the older change) in place. (No key
    # update: the event's grant, inserted before, holds a key-share lock on this row.)
    with transaction.atomic():
        account.refresh_from_db(fields=["plan", "tier", "plan_changed_at"],
                                from_queryset=Account.objects.select_for_update(no_key=True))
        return _apply(account, plan, as_of)


def _apply(account: Account, plan: PlanTerms, as_of: datetime) -> bool:
    if account.plan_changed_at is not None and as_of < account.plan_changed_at:
        log.info("account %s: ignoring a plan change to %s from %s, older than the last one (%s)",
                 account.pk, plan.id, as_of.isoformat(), account.plan_changed_at.isoformat())
        return False
    account.plan_changed_at = as_of
    if account.plan == plan.id and account.tier == plan.tier:
        account.save(update_fields=["plan_changed_at"])
        return False
    account.plan, account.tier = plan.id, plan.tier
    account.save(update_fields=["plan", "tier", "plan_changed_at"])
    log.info("account %s is now on plan %s (tier %s)", account.pk, plan.id, plan.tier)
    return True
