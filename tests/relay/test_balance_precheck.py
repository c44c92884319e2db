"""A generation's balance pre-check (CONTRACT.md §4: refused 402 before Flash is called
when the balance cannot pay) without a Flash call per generation (relay/precheck.py):
each generation takes its cost from billing's copy (in the shared cache) of a balance
read a moment ago, on any worker, and whatever it doesn't spend is given back; Flash is
asked whenever the copy can't pay; generations asking at the same moment in a worker
share one read (core.coalesce)."""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django_redis import get_redis_connection

from limits.counters import LocalCounters, counters, slots_key
from tests.conftest import bearer

pytestmark = pytest.mark.gunicorn

STREAMS = 10
BALANCE = "/api/v1/credits/balance"
BODY = json.dumps({"query": "The fall of the Berlin Wall", "preset": "balanced"})


def wait_for(condition, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def generate(url: str, token: str) -> requests.Response:
    return requests.post(f"{url}/api/v1/generate/stream", data=BODY, timeout=60,
                         headers={**bearer(token), "Content-Type": "application/json"})


def post(client, preset: str = "balanced"):
    return client.post("/api/v1/generate", data=json.dumps({"query": "x", "preset": preset}),
                       content_type="application/json")


def test_a_generation_right_after_another_passes_on_the_balance_already_read(as_alice, alice, flash):
    assert post(as_alice).status_code == 200
    assert post(as_alice).status_code == 200
    assert len(flash.received(BALANCE)) == 1
    assert flash.balance_of(alice.flash_user_id) == 100 - 2 * flash.costs["generate_balanced"]


def test_it_reads_the_balance_again_when_the_copy_cannot_pay(as_alice, alice, flash):
    flash.balances[alice.flash_user_id] = 12  # two balanced generations (5 each), not three
    assert post(as_alice).status_code == 200  # read: 12
    assert post(as_alice).status_code == 200  # the copy, less the first's 5: 7
    refused = post(as_alice)  # the copy says 2: Flash is asked, and says 2 too
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "insufficient_credits"
    assert "the balance is 2" in refused.json()["error"]["message"]
    assert len(flash.received(BALANCE)) == 2
    assert not flash.received("/api/v1/timepoints/generate/sync")[2:]


def test_a_top_up_is_seen_by_the_next_generation(as_alice, alice, flash):
    flash.balances[alice.flash_user_id] = 7
    assert post(as_alice).status_code == 200  # the copy: 2
    flash.balances[alice.flash_user_id] += 100  # a purchase granted meanwhile
    assert post(as_alice).status_code == 200
    assert flash.balance_of(alice.flash_user_id) == 102 - flash.costs["generate_balanced"]


def test_a_generation_flash_refuses_gives_its_cost_back(as_alice, alice, flash):
    flash.balances[alice.flash_user_id] = 10
    assert post(as_alice).status_code == 200  # read 10, the copy 5
    flash.fail(500, path="generate/sync")
    assert post(as_alice).status_code == 502  # took 5 from the copy, gave it back
    assert post(as_alice).status_code == 200  # the copy's 5 covers it: no read
    assert len(flash.received(BALANCE)) == 1
    assert flash.balance_of(alice.flash_user_id) == 0


def test_the_copy_counts_what_each_preset_spent(as_alice, alice, flash):
    flash.balances[alice.flash_user_id] = 12
    assert post(as_alice, "hd").status_code == 403  # alice is free: no HD, nothing read
    assert post(as_alice, "hyper").status_code == 200  # read 12, copy 10
    assert post(as_alice, "balanced").status_code == 200  # copy 5
    assert post(as_alice, "balanced").status_code == 200  # copy 5 covers 5: 0
    assert len(flash.received(BALANCE)) == 1
    assert post(as_alice, "hyper").status_code == 402  # copy 0: read, 0
    assert len(flash.received(BALANCE)) == 2


def test_without_a_copy_every_generation_asks_flash(as_alice, flash, settings):
    settings.PRECHECK_BALANCE_SECONDS = 0
    assert post(as_alice).status_code == 200
    assert post(as_alice).status_code == 200
    assert len(flash.received(BALANCE)) == 2


def test_an_accounts_burst_of_generations_shares_one_balance_read(gunicorn_server, alice, alice_token, flash):
    """Without a copy (none yet, or PRECHECK_BALANCE_SECONDS 0 as here), generations
    pre-checked at the same moment in a worker wait for one read at Flash."""
    alice.tier_override = "enterprise"  # 20 at once
    alice.save()
    flash.balances[alice.flash_user_id] = 1_000
    url = gunicorn_server(workers=1, production=True, env={"PRECHECK_BALANCE_SECONDS": "0"})
    assert generate(url, alice_token).status_code == 200  # the worker's cost table is read now
    reads_before = len(flash.received(BALANCE))
    held = cache.make_key(slots_key(f"account:{alice.pk}"))
    redis = get_redis_connection("default")

    flash.balance_gate = threading.Event()
    try:
        with ThreadPoolExecutor(STREAMS) as pool:
            answers = [pool.submit(generate, url, alice_token) for _ in range(STREAMS)]
            # Every generation admitted (its slot taken) and one balance read at Flash,
            # held there; the others are waiting for its answer, not asking themselves.
            wait_for(lambda: redis.zcard(held) == STREAMS, "every generation to hold its slot")
            wait_for(lambda: len(flash.received(BALANCE)) > reads_before, "the balance read")
            flash.balance_gate.set()
            responses = [answer.result(timeout=60) for answer in answers]
    finally:
        flash.balance_gate.set()

    assert [r.status_code for r in responses] == [200] * STREAMS
    assert all(r.text.rstrip().endswith("}") and "done" in r.text for r in responses)
    # One read, or two if the worker was descheduled between a generation's admission
    # and its pre-check long enough for the first read to be answered meanwhile;
    # STREAMS without sharing.
    assert len(flash.received(BALANCE)) - reads_before <= 2
    assert flash.balance_of(alice.flash_user_id) == 1_000 - (STREAMS + 1) * flash.costs["generate_balanced"]


def test_spending_on_any_worker_lowers_the_copy_every_worker_checks(gunicorn_server, alice, alice_token, flash):
    """Ten generations of 5 spend a balance of 50, whichever worker each reaches (a new
    connection each); the eleventh is refused by billing before Flash is called."""
    alice.tier_override = "enterprise"
    alice.save()
    flash.balances[alice.flash_user_id] = 50
    url = gunicorn_server(workers=2, production=True)
    statuses = [generate(url, alice_token).status_code for _ in range(10)]
    assert statuses == [200] * 10
    refused = generate(url, alice_token)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "insufficient_credits"  # billing's refusal, not Flash's
    assert len(flash.received("/api/v1/timepoints/generate/stream")) == 10
    assert flash.balance_of(alice.flash_user_id) == 0
    served_by = re.findall(r"^<(\d+)> POST /api/v1/generate/stream ", gunicorn_server.logs[url].read_text(), re.M)
    assert len(set(served_by)) == 2, "both workers must have pre-checked generations for this to show anything"


@pytest.mark.parametrize("make", [lambda: counters(), lambda: LocalCounters(LocMemCache("precheck", {}))],
                         ids=["configured", "local"])
def test_the_copy_is_taken_from_only_while_it_covers_the_cost(db, make):
    limits = make()
    assert limits.take_balance("u1", 5) == (False, None)  # no copy
    limits.give_balance("u1", 5)  # nothing to give back to: stays without a copy
    assert limits.take_balance("u1", 5) == (False, None)
    limits.keep_balance("u1", 12, 60)
    assert limits.take_balance("u1", 5) == (True, 12)
    assert limits.take_balance("u1", 5) == (True, 7)
    assert limits.take_balance("u1", 5) == (False, 2)  # left as it is
    limits.give_balance("u1", 5)
    assert limits.take_balance("u1", 5) == (True, 7)
    assert limits.take_balance("u2", 1) == (False, None)  # per user


@pytest.mark.parametrize("make", [lambda: counters(), lambda: LocalCounters(LocMemCache("precheck-life", {}))],
                         ids=["configured", "local"])
def test_a_copy_lives_as_long_as_it_was_kept_for(db, make):
    limits = make()
    limits.keep_balance("u1", 12, 0.001)
    wait_for(lambda: limits.take_balance("u1", 1) == (False, None), "the copy to expire", seconds=5)
