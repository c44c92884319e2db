"""An account's plan, and the tier and HD access that follow from it."""

from __future__ import annotations

import logging

from accounts.models import Account

from .plans import PLANS

log = logging.getLogger("payments.subscriptions")


def set_plan(account: Account, plan_id: str) -> bool:
    """Put the account on a plan; its tier follows (an operator's tier_override still
    wins, through Account.effective_tier). Returns whether anything changed."""
    plan = PLANS[plan_id]
    if account.plan == plan.id and account.tier == plan.tier:
        return False
    account.plan, account.tier = plan.id, plan.tier
    account.save(update_fields=["plan", "tier"])
    log.info("account %s is now on plan %s (tier %s)", account.pk, plan.id, plan.tier)
    return True
