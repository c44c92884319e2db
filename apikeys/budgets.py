"""Monthly credit budgets of API keys (CONTRACT.md §9).

A budget counts per roll chain: a key rolled from another spends from the same monthly
counter (`APIKey.budget_chain`), so the month's spending carries over to the new key
and the old one's spending during its grace period counts too. The counter and the
reservations live in the shared cache beside the other limits (limits/lua/reserve.lua,
settle.lua): a generation reserves its expected cost before Flash is called, atomically,
and settles it afterwards to what was spent. A reservation whose request died expires
with the slot's lifetime. A month is a calendar month, UTC: its counter has the month
in its name, so a new month starts from nothing.

When the cache has no counter for the month (a new month, a cache that lost it), it is
rebuilt from the usage records: metering answers `core.signals.spending_asked`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from core import calendar
from core.cache import quietly
from core.errors import APIError
from core.signals import spending_asked
from limits import slots
from limits.counters import counters

from .models import APIKey, Environment

log = logging.getLogger("apikeys.budgets")

# A month's counter outlives its month by this much, then goes by itself.
COUNTER_SECONDS = 40 * 24 * 3600


def month_start(now: datetime | None = None) -> datetime:
    """The first instant (UTC) of the month holding `now` (default: this month)."""
    return calendar.month_start(now or timezone.now())


def budget_of(chain: uuid.UUID | str, now: datetime | None = None) -> str:
    """The name of a chain's counter this month."""
    return f"{chain}:{month_start(now):%Y%m}"


def chain_keys(chains: list[uuid.UUID]) -> QuerySet[APIKey]:
    """Every key of these roll chains: each chain's first key (whose id names the
    chain) and the keys rolled from it."""
    return APIKey.objects.filter(Q(pk__in=chains) | Q(chain_id__in=chains))


def _chain_members(chains: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    members: dict[uuid.UUID, list[uuid.UUID]] = {chain: [] for chain in chains}
    for key_id, chain_id in chain_keys(chains).values_list("id", "chain_id"):
        members[chain_id or key_id].append(key_id)
    return members


def rebuild(chains: list[uuid.UUID], since: datetime) -> dict[uuid.UUID, int]:
    """Each chain's spending since `since`, from whoever keeps the usage records."""
    if not chains:
        return {}
    members = _chain_members(chains)
    spent_by_key: dict = {}
    everyone = [key_id for ids in members.values() for key_id in ids]
    for _, answer in spending_asked.send(sender=APIKey, key_ids=everyone, since=since):
        for key_id, credits in (answer or {}).items():
            spent_by_key[key_id] = spent_by_key.get(key_id, 0) + credits
    return {chain: sum(spent_by_key.get(key_id, 0) for key_id in ids) for chain, ids in members.items()}


def seed(rebuilt: dict[uuid.UUID, int], now: datetime) -> None:
    """Chains' rebuilt spending this month written as their counters, for the
    reservations (a counter written meanwhile wins)."""
    for chain, spent in rebuilt.items():
        quietly(lambda c=chain, v=spent: counters().seed_spent(budget_of(c, now), v, COUNTER_SECONDS), None)


def left(limit: int, spent: int, held: int) -> int:
    """The budget left: what is neither spent nor held by a reservation."""
    return max(0, limit - spent - held)


def spent_this_month(keys: list[APIKey]) -> dict[uuid.UUID, int]:
    """Key id → credits its roll chain spent this month: the cache's counters (one
    round trip), the usage records for chains the cache has none of. A budgeted chain's
    rebuilt figure is cached for the reservations."""
    now = timezone.now()
    chains = list(dict.fromkeys(key.budget_chain for key in keys))
    names = [budget_of(chain, now) for chain in chains]
    cached = quietly(lambda: counters().read_spent(names), None) or [None] * len(names)
    spent = {chain: value for chain, value in zip(chains, cached, strict=True) if value is not None}
    missing = [chain for chain in chains if chain not in spent]
    rebuilt = rebuild(missing, month_start(now))
    spent.update(rebuilt)
    budgeted = {key.budget_chain for key in keys if key.monthly_credit_limit is not None}
    seed({chain: value for chain, value in rebuilt.items() if chain in budgeted}, now)
    return {key.pk: spent[key.budget_chain] for key in keys}


def forget_spending(key: APIKey) -> None:
    """Drop the chain's counter (its budget was set or removed: a counter not kept while
    the chain had no budget would be stale); the next read rebuilds it."""
    quietly(lambda: counters().drop_spent(budget_of(key.budget_chain)), None)


def has_budget(key: APIKey | None) -> bool:
    """Whether generations by this key reserve against a budget: test keys never do."""
    return key is not None and key.monthly_credit_limit is not None and key.environment != Environment.TEST


@dataclass
class Reservation:
    """A generation's expected cost held against its key's budget until `settle`."""

    budget: str
    member: str
    limit: int
    remaining: int  # the budget left with this reservation counted as spent
    settled: bool = False

    def settle(self, credits: int) -> int:
        """Turn the reservation into the credits really spent (0: nothing); returns
        the budget remaining. Idempotent; never raises (the reservation expires by
        itself if the cache is down now)."""
        if self.settled:
            return self.remaining
        self.settled = True
        answer = quietly(lambda: counters().settle(self.budget, self.member, credits), None)
        if answer is not None and answer[0] >= 0:
            spent, held = answer
            self.remaining = left(self.limit, spent, held)
        return self.remaining


class BudgetExceeded(APIError):
    """402 `budget_exceeded`; `remaining`: the budget left for X-Budget-Remaining."""

    def __init__(self, limit: int, spent: int, held: int, cost: int) -> None:
        self.remaining = left(limit, spent, held)
        super().__init__(402, "budget_exceeded",
                         f"This key's monthly budget is {limit} credits and {self.remaining} are left this month "
                         f"({spent} spent, {held} held by generations running now); this generation costs "
                         f"{cost}.")


def reserve(key: APIKey, cost: int) -> Reservation | None:
    """Hold `cost` credits of the key's monthly budget, or raise 402 `budget_exceeded`.
    None for a key without a budget, and when the cache cannot be reached (budgets,
    like every limit, fail open then: docs/resilience.md)."""
    if not has_budget(key):
        return None
    limit = key.monthly_credit_limit
    now = timezone.now()
    budget = budget_of(key.budget_chain, now)
    member = f"{uuid.uuid4().hex}:{cost}"
    lifetime = slots.lifetime_ms()
    answer = quietly(lambda: counters().reserve(budget, limit, cost, member, lifetime), None)
    if answer is not None and answer.verdict == "unknown":
        seed(rebuild([key.budget_chain], month_start(now)), now)
        answer = quietly(lambda: counters().reserve(budget, limit, cost, member, lifetime), None)
    if answer is None or answer.verdict == "unknown":
        log.warning("budget of key %s not enforced: the cache is unavailable", key.prefix)
        return None
    if answer.verdict == "exceeded":
        raise BudgetExceeded(limit, answer.spent, answer.held, cost)
    return Reservation(budget, member, limit, left(limit, answer.spent, answer.held))


def with_spending(keys: list[APIKey]) -> list[APIKey]:
    """The keys, each with `credits_spent_this_month` set for its key object."""
    spent = spent_this_month(keys) if keys else {}
    for key in keys:
        key.credits_spent_this_month = spent[key.pk]
    return keys


def remaining_now(key: APIKey | None) -> int | None:
    """The budget left to a key this month, for X-Budget-Remaining on a generation
    refused before it reserved anything (a bad preset, HD without the tier, a rate
    limit); None for a key without a budget. Generations running now are not counted:
    the figure is what is left once they have settled at no cost."""
    if not has_budget(key):
        return None
    try:
        spent = spent_this_month([key])[key.pk]
    except Exception:  # a header is not worth failing the answer it goes on
        log.exception("budget of key %s could not be read", key.prefix)
        return None
    return max(0, key.monthly_credit_limit - spent)
