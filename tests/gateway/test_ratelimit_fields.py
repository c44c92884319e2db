"""The IETF draft's RateLimit-Policy and RateLimit fields beside X-RateLimit-* (CONTRACT.md §9)."""

import re
import time

from django.test import Client

from apikeys.keys import create_key
from tests.conftest import bearer

POLICY = re.compile(r'^"minute";q=(\d+);w=60$')
FIELD = re.compile(r'^"minute";r=(\d+);t=(\d+)$')


def fields(response):
    (limit,) = POLICY.match(response["RateLimit-Policy"]).groups()
    remaining, reset = FIELD.match(response["RateLimit"]).groups()
    return int(limit), int(remaining), int(reset)


def test_they_match_the_x_ratelimit_headers_on_every_counted_answer(alice, flash):
    _, plaintext = create_key(alice, "k", "live")
    client = Client(headers=bearer(plaintext))
    answers = [client.get("/api/v1/credits/balance") for _ in range(11)]
    assert [a.status_code for a in answers] == [200] * 10 + [429]
    for answer in answers:
        limit, remaining, reset = fields(answer)
        assert limit == int(answer["X-RateLimit-Limit"]) == 10
        assert remaining == int(answer["X-RateLimit-Remaining"])
        # t is seconds until the minute ends; X-RateLimit-Reset is when it ends.
        assert abs((int(answer["X-RateLimit-Reset"]) - int(time.time())) - reset) <= 1
        assert 1 <= reset <= 60
    assert [fields(a)[1] for a in answers] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0]


def test_they_are_on_generations_and_anonymous_reads_too(as_alice, client, flash, clockchain):
    generated = as_alice.post("/api/v1/generate", {"query": "x"}, content_type="application/json")
    assert fields(generated)[0] == int(generated["X-RateLimit-Limit"])
    anonymous = client.get("/api/v1/today")
    assert fields(anonymous)[:2] == (int(anonymous["X-RateLimit-Limit"]), int(anonymous["X-RateLimit-Remaining"]))


def test_an_answer_without_x_ratelimit_has_no_ratelimit_fields(client, db):
    response = client.get("/health")
    assert "X-RateLimit-Limit" not in response and "RateLimit" not in response
