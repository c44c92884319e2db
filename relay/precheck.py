"""A generation's balance pre-check (CONTRACT.md §4: billing may refuse 402 before Flash
is called when the balance cannot pay) without a Flash call for each generation of a
burst.

A generation on its own reads the caller's balance from Flash, as it always did. What
changes is a burst: while generations of a caller are between their pre-check and
Flash's answer, billing keeps a copy of the balance in the shared cache, and a
generation arriving meanwhile takes its expected cost from that copy (atomically, on
any worker: limits/lua/take_balance.lua) instead of asking Flash. A generation that took
from the copy gives back what it did not spend once Flash has answered it, and the last
one drops the copy: sequential generations always see Flash's balance. A copy lives at
most PRECHECK_BALANCE_SECONDS after the read it came from, so a continuous burst reads
Flash again at least that often. When there is no copy, or it cannot pay, Flash is asked
(one call for all of a worker's generations of that caller asking at the same moment),
so a refusal always rests on Flash's answer and a top-up is seen at once.

What the copy can get wrong, and why that is harmless: it does not see credits spent
past billing, or spent by generations still in flight when Flash was read, for up to
PRECHECK_BALANCE_SECONDS. A generation it lets through wrongly is refused by Flash
itself (its 402 passed on); Flash holds the ledger, and nothing is spent that Flash did
not accept."""

from __future__ import annotations

import uuid

from django.conf import settings

from core.cache import quietly
from core.coalesce import SharedCalls
from limits.counters import counters
from upstreams import flash

_reads: SharedCalls[tuple[int, str]] = SharedCalls()


def _read(flash_user_id: str) -> tuple[int, str]:
    """Flash's balance now, with an id for this read: the callers sharing it apply it to
    the copy once."""
    return _reads.call(flash_user_id, lambda: (flash.get_balance(flash_user_id), uuid.uuid4().hex))


def take(flash_user_id: str, cost: int) -> tuple[int, bool]:
    """(the balance the generation is checked against, whether it took `cost` from the
    copy: then `done` must follow once Flash has answered it)."""
    seconds = settings.PRECHECK_BALANCE_SECONDS
    if seconds > 0:
        taken, copy = quietly(lambda: counters().take_balance(flash_user_id, cost), (False, None))
        if taken:
            return copy, True
    balance, read_id = _read(flash_user_id)
    if seconds <= 0 or balance < cost:
        return balance, False
    taken = quietly(lambda: counters().refresh_balance(flash_user_id, balance, read_id, cost, seconds), False)
    return balance, taken


def done(flash_user_id: str, unspent: int) -> None:
    """A generation that took from the copy is done: `unspent` (of what it took) goes
    back, and the copy goes once no generation holds it."""
    quietly(lambda: counters().give_balance(flash_user_id, unspent), None)
