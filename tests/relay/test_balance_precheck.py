"""A generation's balance pre-check (CONTRACT.md §4: refused 402 before Flash is called
when the balance cannot pay; relay/precheck.py): a generation on its own reads Flash's
balance; generations arriving while others of the caller are in flight take their cost
from billing's copy (the shared cache) instead, on any worker; generations asking at the
same moment in a worker share one read (core.coalesce)."""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django_redis import get_redis_connection

from limits.counters import LocalCounters, counters, slots_key
from tests.conftest import bearer
from tests.relay.test_many_streams import wait_for

pytestmark = pytest.mark.gunicorn

STREAMS = 10
BALANCE = "/api/v1/credits/balance"
BODY = json.dumps({"query": "The fall of the Berlin Wall", "preset": "balanced"})


def generate_sync(url: str, token: str) -> requests.Response:
    return requests.post(f"{url}/api/v1/generate", data=BODY, timeout=60,
                         headers={**bearer(token), "Content-Type": "application/json"})


def generate(url: str, token: str) -> requests.Response:
    return requests.post(f"{url}/api/v1/generate/stream", data=BODY, timeout=60,
                         headers={**bearer(token), "Content-Type": "application/json"})


def post(client, preset: str = "balanced"):
    return client.post("/api/v1/generate", data=json.dumps({"query": "x", "preset": preset}),
                       content_type="application/json")


def test_a_generation_on_its_own_reads_the_balance_from_flash_each_time(as_alice, alice, flash):
    assert post(as_alice).status_code == 200
    assert post(as_alice).status_code == 200
    assert len(flash.received(BALANCE)) == 2
    assert counters().take_balance(alice.flash_user_id, 1) == (False, None)  # no copy left behind


def test_it_refuses_on_flashs_balance(as_alice, alice, flash):
    flash.balances[alice.flash_user_id] = 7  # one balanced generation (5), not two
    assert post(as_alice).status_code == 200
    refused = post(as_alice)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "insufficient_credits"
    assert "the balance is 2" in refused.json()["error"]["message"]
    assert len(flash.received("/api/v1/timepoints/generate/sync")) == 1


def test_a_top_up_is_seen_by_the_next_generation(as_alice, alice, flash):
    flash.balances[alice.flash_user_id] = 7
    assert post(as_alice).status_code == 200
    flash.balances[alice.flash_user_id] += 100  # a purchase granted meanwhile
    assert post(as_alice).status_code == 200
    assert flash.balance_of(alice.flash_user_id) == 102 - flash.costs["generate_balanced"]


def two_generations_at_once(url: str, token: str, flash) -> list[requests.Response]:
    """Two sync generations, the second sent once the first is at Flash (held there
    until both are)."""
    flash.generate_gate = threading.Event()
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(generate_sync, url, token)
            wait_for(lambda: flash.received("/api/v1/timepoints/generate/sync"), "the first generation at Flash")
            second = pool.submit(generate_sync, url, token)
            wait_for(lambda: len(flash.received("/api/v1/timepoints/generate/sync")) == 2, "the second at Flash")
            flash.generate_gate.set()
            return [first.result(timeout=60), second.result(timeout=60)]
    finally:
        flash.generate_gate.set()


def test_a_generation_arriving_while_another_is_in_flight_takes_from_the_copy(gunicorn_server, alice, alice_token,
                                                                               flash):
    """The first generation reads Flash and holds the copy until Flash answers it; the
    second, on a new connection (either worker), takes its cost from the copy. Once both
    are answered the copy is gone."""
    alice.tier_override = "pro"  # five at once
    alice.save()
    flash.balances[alice.flash_user_id] = 100
    url = gunicorn_server(workers=2, production=True)
    assert [r.status_code for r in two_generations_at_once(url, alice_token, flash)] == [200, 200]
    assert len(flash.received(BALANCE)) == 1
    assert flash.balance_of(alice.flash_user_id) == 100 - 2 * flash.costs["generate_balanced"]
    assert counters().take_balance(alice.flash_user_id, 1) == (False, None)


def test_a_generation_the_copy_cannot_pay_asks_flash(gunicorn_server, alice, alice_token, flash):
    """Balance 7: the first generation (5) holds the copy, which has 2 left; the second
    asks Flash, whose answer (7: nothing spent yet) lets it through to Flash."""
    alice.tier_override = "pro"
    alice.save()
    flash.balances[alice.flash_user_id] = 7
    url = gunicorn_server(workers=1, production=True)
    statuses = sorted(r.status_code for r in two_generations_at_once(url, alice_token, flash))
    assert len(flash.received(BALANCE)) == 2
    assert statuses == [200, 402]  # Flash itself refused the one it could not pay
    assert flash.balance_of(alice.flash_user_id) == 2


def test_an_accounts_burst_of_generations_shares_one_balance_read(gunicorn_server, alice, alice_token, flash):
    """Generations pre-checked at the same moment in a worker, with no copy yet, wait for
    one read at Flash; every one holds the copy until Flash accepts it, the last drops it."""
    alice.tier_override = "enterprise"  # 20 at once
    alice.save()
    flash.balances[alice.flash_user_id] = 1_000
    url = gunicorn_server(workers=1, production=True)
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
    assert counters().take_balance(alice.flash_user_id, 1) == (False, None)


def test_one_after_another_on_either_worker_the_last_is_refused_by_billing(gunicorn_server, alice, alice_token,
                                                                            flash):
    """Forty generations of 5, one after another, spend a balance of 200, whichever
    worker each reaches (a new connection each); the next is refused by billing before
    Flash is called. Forty, not ten: which worker accepts a new connection is the
    kernel's choice, and ten once all went to one."""
    alice.tier_override = "enterprise"
    alice.save()
    flash.balances[alice.flash_user_id] = 40 * flash.costs["generate_balanced"]
    url = gunicorn_server(workers=2, production=True)
    statuses = [generate(url, alice_token).status_code for _ in range(40)]
    assert statuses == [200] * 40
    refused = generate(url, alice_token)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "insufficient_credits"  # billing's refusal, not Flash's
    assert len(flash.received("/api/v1/timepoints/generate/stream")) == 40
    assert flash.balance_of(alice.flash_user_id) == 0
    served_by = re.findall(r"^<(\d+)> POST /api/v1/generate/stream ", gunicorn_server.logs[url].read_text(), re.M)
    assert len(set(served_by)) == 2, "both workers must have pre-checked generations for this to show anything"


MAKERS = [lambda name: counters(), lambda name: LocalCounters(LocMemCache(name, {}))]


@pytest.mark.parametrize("make", MAKERS, ids=["configured", "local"])
def test_the_copy_is_taken_from_while_it_covers_the_cost_and_dropped_by_its_last_holder(db, make):
    limits = make("precheck")
    assert limits.take_balance("u1", 5) == (False, None)  # no copy
    assert limits.refresh_balance("u1", 12, "read-1", 5, 60) is True  # read 12, took 5: one holder
    assert limits.take_balance("u1", 5) == (True, 7)  # two holders
    assert limits.take_balance("u1", 5) == (False, 2)  # left as it is
    assert limits.refresh_balance("u1", 12, "read-1", 5, 60) is False  # one read applies once
    limits.give_balance("u1", 5)  # a holder that spent nothing: 7, one holder
    assert limits.take_balance("u2", 1) == (False, None)  # per user
    limits.give_balance("u1", 0)  # the last holder
    assert limits.take_balance("u1", 1) == (False, None)


@pytest.mark.parametrize("make", MAKERS, ids=["configured", "local"])
def test_a_new_read_replaces_the_balance_and_keeps_the_holders(db, make):
    limits = make("precheck-new-read")
    assert limits.refresh_balance("u1", 12, "read-1", 5, 60) is True  # 7, one holder
    assert limits.refresh_balance("u1", 20, "read-2", 5, 60) is True  # 15, two holders
    limits.give_balance("u1", 0)
    assert limits.take_balance("u1", 1) == (True, 15)  # still held: two holders again
    limits.give_balance("u1", 0)
    limits.give_balance("u1", 0)
    assert limits.take_balance("u1", 1) == (False, None)


@pytest.mark.parametrize("make", MAKERS, ids=["configured", "local"])
def test_a_copy_nobody_holds_is_not_kept(db, make):
    limits = make("precheck-unheld")
    assert limits.refresh_balance("u1", 3, "read-1", 5, 60) is False
    assert limits.take_balance("u1", 1) == (False, None)
    limits.give_balance("u1", 5)  # a holder of a copy gone meanwhile: nothing to give back to
    assert limits.take_balance("u1", 1) == (False, None)


@pytest.mark.parametrize("make", MAKERS, ids=["configured", "local"])
def test_a_copy_lives_no_longer_than_it_was_read_for(db, make):
    limits = make("precheck-life")
    assert limits.refresh_balance("u1", 12, "read-1", 5, 0.001) is True
    wait_for(lambda: limits.take_balance("u1", 1) == (False, None), "the copy to expire", seconds=5)
