"""A roll and a PATCH of the same key at once (CONTRACT.md §9): the PATCH sees the
roll, so a retired key's expiry is never put off behind its back."""

import json
import threading
import time

import psycopg
import pytest
from django.db import connection
from django.test import Client

from apikeys.keys import create_key
from apikeys.models import APIKey
from tests.conftest import bearer
from tests.relay.conftest import database_url

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="holding the key's row locked from another session needs PostgreSQL"),
]


def _waiting_on_keys(conn: psycopg.Connection) -> int:
    return conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
        "AND query LIKE '%%apikeys_apikey%%'").fetchone()[0]


def _until(condition, watcher: psycopg.Connection) -> None:
    deadline = time.monotonic() + 20
    while not condition(watcher) and time.monotonic() < deadline:
        time.sleep(0.01)  # polling for the requests to arrive, not timing a behaviour


def test_a_patch_racing_a_roll_never_revives_the_retired_key(alice, alice_token):
    old, old_plaintext = create_key(alice, "k", "live")
    answers: dict[str, Client] = {}

    def send(name: str, method: str, path: str, body: dict) -> None:
        try:
            client = Client(headers=bearer(alice_token))
            answers[name] = getattr(client, method)(path, data=json.dumps(body), content_type="application/json")
        finally:
            connection.close()

    roll = threading.Thread(target=send, args=("roll", "post", f"/api/v1/keys/{old.pk}/roll", {"grace_seconds": 0}))
    patch = threading.Thread(target=send, args=("patch", "patch", f"/api/v1/keys/{old.pk}", {"expires_at": None}))
    # The key's row held by another session: the roll waits for it, then the PATCH
    # arrives (having read the key as not rolled yet); both go on once it is let go.
    with psycopg.connect(database_url()) as holder, psycopg.connect(database_url(), autocommit=True) as watcher:
        holder.execute("SELECT id FROM apikeys_apikey WHERE id = %s FOR UPDATE", [old.pk])
        roll.start()
        _until(lambda w: _waiting_on_keys(w) >= 1, watcher)
        patch.start()
        _until(lambda w: _waiting_on_keys(w) >= 2, watcher)
        holder.rollback()
    roll.join(30)
    patch.join(30)

    assert answers["roll"].status_code == 201
    assert answers["patch"].status_code == 409, answers["patch"].content
    old.refresh_from_db()
    assert old.replaced_by_id is not None and old.expires_at is not None
    assert Client(headers=bearer(old_plaintext)).get("/api/v1/credits/balance").status_code == 401
    assert APIKey.objects.filter(account=alice).count() == 2
