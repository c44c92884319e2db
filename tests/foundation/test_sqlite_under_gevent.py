"""The embedded SQLite default under gevent (`make run` serves the production worker
class on it): a writer that waits for another writer of its worker waits as a greenlet,
so the one holding SQLite's write lock across an upstream call gets to commit.

Run in a subprocess (gevent patches the whole process) on a SQLite file of its own,
whatever database the suite runs on. Before core/sqlite/base.py the second writer spun
in SQLite's busy handler, a sleep in C that stopped every greenlet, the holder too, and
failed with "database is locked" when the busy timeout ran out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
from gevent import monkey
monkey.patch_all()

import json
import django
django.setup()

import gevent
from gevent.event import Event
from django.db import connection, transaction

with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE written (who TEXT)")
connection.close()
holding = Event()
outcomes = {}

def write(who, in_transaction):
    try:
        if in_transaction:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("INSERT INTO written VALUES (%s)", [who])
        else:
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO written VALUES (%s)", [who])
        outcomes[who] = "ok"
    except Exception as exc:
        outcomes[who] = repr(exc)
    finally:
        connection.close()

def holder():
    # A first sight of an account: its transaction waits on Flash while it holds the lock.
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO written VALUES ('holder')")
            holding.set()
            gevent.sleep(0)  # the upstream call: other greenlets run meanwhile
        outcomes["holder"] = "ok"
    finally:
        connection.close()

def after_holder(who, in_transaction):
    holding.wait()
    write(who, in_transaction)

gevent.joinall([gevent.spawn(holder), gevent.spawn(after_holder, "autocommit", False),
                gevent.spawn(after_holder, "transaction", True)])
with connection.cursor() as cursor:
    cursor.execute("SELECT who FROM written ORDER BY rowid")
    rows = [row[0] for row in cursor.fetchall()]
print(json.dumps({"outcomes": outcomes, "rows": rows}))
"""


def test_it_lets_a_writer_holding_the_lock_across_a_wait_commit_while_others_wait(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL",)}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'embedded.sqlite3'}", ENVIRONMENT="development",
               DJANGO_SETTINGS_MODULE="timepoint_billing.settings")

    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,  # noqa: S603
                            timeout=120)

    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["outcomes"] == {"holder": "ok", "autocommit": "ok", "transaction": "ok"}
    assert found["rows"][0] == "holder"  # committed first: the others waited for it
    assert sorted(found["rows"]) == ["autocommit", "holder", "transaction"]
