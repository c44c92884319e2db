"""A generation's balance pre-check (CONTRACT.md §4: billing may refuse 402 before Flash
is called when the balance cannot pay) without a Flash call per generation.

Billing keeps a copy of each caller's balance in the shared cache for
PRECHECK_BALANCE_SECONDS after reading it from Flash. A generation takes its expected
cost from the copy in one atomic step (every worker and instance sees it); when the copy
covers it the pre-check passes without asking Flash, and whatever the generation does
not spend is given back. When the copy is missing or cannot pay, Flash is asked (one
call for all of a worker's generations asking at the same moment: upstreams.flash
.current_balance), so a refusal always rests on Flash's answer and a top-up a moment old
is seen.

What the copy can get wrong, and why that is harmless: a copy refreshed while another
generation's spend was in flight can be too high by that spend for up to
PRECHECK_BALANCE_SECONDS, and so can one that missed credits spent past billing. A
generation it lets through wrongly is refused by Flash itself (402, passed on), which
holds the ledger; nothing is ever spent that Flash did not accept."""

from __future__ import annotations

from django.conf import settings

from core.cache import quietly
from limits.counters import counters
from upstreams import flash


def take(flash_user_id: str, cost: int) -> tuple[int, bool]:
    """(the balance the generation is checked against, whether `cost` was taken from
    billing's copy: give back what the generation does not spend)."""
    seconds = settings.PRECHECK_BALANCE_SECONDS
    if seconds > 0:
        taken, copy = quietly(lambda: counters().take_balance(flash_user_id, cost), (False, None))
        if taken:
            return copy, True
    balance = flash.current_balance(flash_user_id)
    if seconds <= 0:
        return balance, False
    taken = balance >= cost
    kept = quietly(lambda: counters().keep_balance(flash_user_id, balance - cost if taken else balance, seconds)
                   or True, False)
    return balance, taken and kept


def give_back(flash_user_id: str, credits: int) -> None:
    """What a generation took from the copy and did not spend (an expired copy is left
    expired: the next pre-check reads Flash)."""
    if credits > 0:
        quietly(lambda: counters().give_balance(flash_user_id, credits), None)
