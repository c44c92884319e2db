"""GET /api/v1/credits/{balance,history,costs} → the same Flash paths, and the
Flash client's own credit calls."""

import pytest
from django.core import mail

from tests.conftest import flush_usage
from upstreams import flash as flash_client
from upstreams.transport import UpstreamError


def test_it_relays_the_balance(as_alice, alice, flash):
    response = as_alice.get("/api/v1/credits/balance")
    assert response.status_code == 200
    assert response.json()["balance"] == 100
    (sent,) = flash.received("/api/v1/credits/balance")
    assert sent.headers["x-user-id"] == alice.flash_user_id
    assert sent.headers["x-service-key"] == flash.service_key


def test_a_low_balance_it_relays_reaches_the_low_credit_alert(as_alice, alice, flash):
    flash.balances[alice.flash_user_id] = 7
    assert as_alice.get("/api/v1/credits/balance").json()["balance"] == 7
    flush_usage()
    (alert,) = mail.outbox
    assert alert.to == ["alice@example.com"] and "Your balance is 7 credits" in alert.body


def test_it_relays_history_with_its_query_string(as_alice, alice, flash):
    flash._record(alice.flash_user_id, 5, "admin_grant", "a")
    flash._record(alice.flash_user_id, 6, "admin_grant", "b")
    response = as_alice.get("/api/v1/credits/history?limit=1&offset=0")
    assert response.status_code == 200
    assert response.json()["total"] == 2
    assert len(response.json()["transactions"]) == 1
    (sent,) = flash.received("/api/v1/credits/history")
    assert sent.raw_query == "limit=1&offset=0"


def test_it_relays_history_with_a_format_parameter(as_alice, flash):
    response = as_alice.get("/api/v1/credits/history?format=csv&limit=1")
    assert response.status_code == 200, response.content
    (sent,) = flash.received("/api/v1/credits/history")
    assert sent.raw_query == "format=csv&limit=1"


def test_it_relays_the_cost_table(as_alice, flash):
    response = as_alice.get("/api/v1/credits/costs")
    assert response.status_code == 200
    assert response.json()["costs"]["generate_hd"] == flash.costs["generate_hd"]


def test_the_client_reads_balance_history_and_costs(alice, flash):
    flash.costs["future_op"] = 3
    assert flash_client.get_balance(alice.flash_user_id) == 100
    assert flash_client.history(alice.flash_user_id, limit=5)["total"] == 0
    costs = flash_client.get_costs()
    assert costs["future_op"] == 3
    assert flash_client.cost_of("hd", costs) == flash.costs["generate_hd"]
    assert flash_client.cost_of(None, costs) == flash.costs["generate_balanced"]  # the default preset
    assert flash_client.cost_of("unknown", {"unknown": 4, "generate": 1}) == 4
    assert flash_client.cost_of("unknown", {"generate": 1}) == 1
    assert flash_client.cost_of("unknown", {}) is None


def test_the_client_grants_with_the_admin_key(alice, flash):
    answer = flash_client.grant(alice.flash_user_id, 100, "stripe_purchase", "100 credits")
    assert answer["balance"] == 200
    (sent,) = flash.received("/api/v1/credits/admin/grant")
    assert sent.headers["x-admin-key"] == flash.admin_key
    assert sent.json() == {"user_id": alice.flash_user_id, "amount": 100, "transaction_type": "stripe_purchase",
                           "description": "100 credits"}


def test_a_refused_grant_raises(alice, flash):
    with pytest.raises(flash_client.GrantRefused) as refused:
        flash_client.grant("no-such-user", 100, "stripe_purchase", "x")
    assert refused.value.status == 404
    flash.down()
    with pytest.raises(UpstreamError) as raised:
        flash_client.grant(alice.flash_user_id, 100, "stripe_purchase", "x")
    assert raised.value.status_code == 503
