"""X-Credits-Spent and X-Budget-Remaining on generations (CONTRACT.md §9)."""

import json

import pytest
from django.test import Client

from apikeys.keys import create_key
from tests.conftest import bearer

PATHS = ["/api/v1/generate", "/api/v1/generate/stream"]


def generate(client, path, body=None):
    response = client.post(path, data=json.dumps(body or {"query": "x"}), content_type="application/json")
    if response.streaming:
        b"".join(response.streaming_content)
        response.close()
    return response


@pytest.mark.parametrize("path", PATHS)
def test_a_generation_says_what_it_spent_and_the_budget_left(alice, flash, path):
    _, plaintext = create_key(alice, "k", "live", monthly_credit_limit=11)
    client = Client(headers=bearer(plaintext))
    first = generate(client, path)
    assert first.status_code == 200
    assert (first["X-Credits-Spent"], first["X-Budget-Remaining"]) == ("5", "6")
    second = generate(client, path, {"query": "x", "preset": "hyper"})
    assert (second["X-Credits-Spent"], second["X-Budget-Remaining"]) == ("2", "4")
    refused = generate(client, path)
    assert refused.status_code == 402
    assert (refused["X-Credits-Spent"], refused["X-Budget-Remaining"]) == ("0", "4")


@pytest.mark.parametrize("path", PATHS)
def test_without_a_budget_only_the_credits_spent_are_shown(as_alice, flash, path):
    response = generate(as_alice, path)
    assert response.status_code == 200
    assert response["X-Credits-Spent"] == "5"
    assert "X-Budget-Remaining" not in response


@pytest.mark.parametrize("path", PATHS)
def test_a_failed_generation_spent_nothing(alice, flash, path):
    _, plaintext = create_key(alice, "k", "live", monthly_credit_limit=12)
    flash.fail(500, path="/api/v1/timepoints/generate/")
    response = generate(Client(headers=bearer(plaintext)), path)
    assert response.status_code == 502
    assert (response["X-Credits-Spent"], response["X-Budget-Remaining"]) == ("0", "12")


def test_reads_carry_no_cost_headers(as_alice, flash):
    response = as_alice.get("/api/v1/credits/balance")
    assert "X-Credits-Spent" not in response and "X-Budget-Remaining" not in response


def test_the_cost_headers_are_exposed_to_browsers_and_in_the_schema(client, as_alice, flash, db):
    response = generate(Client(headers={**bearer(as_alice.defaults["HTTP_AUTHORIZATION"].split()[1]),
                                        "Origin": "https://app.timepointai.com"}), PATHS[0])
    exposed = {name.strip().lower() for name in response["Access-Control-Expose-Headers"].split(",")}
    assert {"x-credits-spent", "x-budget-remaining", "ratelimit", "ratelimit-policy"} <= exposed
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()
    for path in PATHS:
        headers = schema["paths"][path]["post"]["responses"]["200"]["headers"]
        assert {"X-Credits-Spent", "X-Budget-Remaining", "RateLimit", "RateLimit-Policy"} <= set(headers)
    assert "X-Credits-Spent" in schema["components"]["headers"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("body", "status"), [({"query": "x", "preset": "hd"}, 403),
                                              ({"query": "x", "preset": 5}, 400)])
def test_a_generation_refused_before_its_budget_is_consulted_still_says_both(alice, flash, path, body, status):
    # Refused before any reservation (a free tier asking for HD, a bad preset): the
    # contract's "every relayed generation response" of a budgeted key carries both.
    key, plaintext = create_key(alice, "k", "live", monthly_credit_limit=12)
    client = Client(headers=bearer(plaintext))
    assert generate(client, path)["X-Budget-Remaining"] == "7"
    refused = generate(client, path, body)
    assert refused.status_code == status
    assert (refused["X-Credits-Spent"], refused["X-Budget-Remaining"]) == ("0", "7")


@pytest.mark.parametrize("path", PATHS)
def test_a_rate_limited_generation_says_it_spent_nothing_and_the_budget_left(alice, flash, path):
    key, plaintext = create_key(alice, "k", "live", monthly_credit_limit=12)
    key.rate_limit_override = 1
    key.save(update_fields=["rate_limit_override"])
    client = Client(headers=bearer(plaintext))
    assert generate(client, path).status_code == 200
    limited = generate(client, path)
    assert limited.status_code == 429
    assert (limited["X-Credits-Spent"], limited["X-Budget-Remaining"]) == ("0", "7")
    assert len(flash.received("/api/v1/timepoints/generate/")) == 1


def test_a_rate_limited_generation_without_a_budget_says_it_spent_nothing(alice, flash):
    key, plaintext = create_key(alice, "k", "live")
    key.rate_limit_override = 1
    key.save(update_fields=["rate_limit_override"])
    client = Client(headers=bearer(plaintext))
    assert generate(client, PATHS[0]).status_code == 200
    limited = generate(client, PATHS[0])
    assert limited.status_code == 429
    assert limited["X-Credits-Spent"] == "0" and "X-Budget-Remaining" not in limited
