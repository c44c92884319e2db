"""Upstream failures map onto the envelope: refused/DNS 503, timeout 504, 5xx 502."""

import json
import logging

from django.test import override_settings


def generate(client):
    return client.post("/api/v1/generate", data=json.dumps({"query": "x"}), content_type="application/json")


def test_a_refused_connection_is_503(client, clockchain):
    clockchain.down()
    response = client.get("/api/v1/today")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"


def test_an_unresolvable_host_is_503(client, clockchain):
    with override_settings(CLOCKCHAIN_URL="http://clockchain.invalid"):
        response = client.get("/api/v1/today")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"


def test_a_timeout_is_504(as_alice, flash):
    flash.slow(1.0, path="credits/balance")
    with override_settings(UPSTREAM_READ_TIMEOUT=0.2):
        response = as_alice.get("/api/v1/credits/balance")
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


def test_a_generation_uses_the_generation_timeout(as_alice, flash):
    flash.slow(0.5, path="generate/sync")
    with override_settings(UPSTREAM_READ_TIMEOUT=0.2, GENERATION_TIMEOUT=5):
        assert generate(as_alice).status_code == 200
    flash.slow(1.0, path="generate/sync")
    with override_settings(GENERATION_TIMEOUT=0.2):
        response = generate(as_alice)
    assert response.status_code == 504


def test_an_upstream_5xx_is_502_and_its_body_is_logged_not_shown(as_alice, flash, caplog):
    flash.fail(500, body={"detail": "Traceback: secret internals"}, path="generate/sync")
    with caplog.at_level(logging.ERROR, logger="upstreams.transport"):
        response = generate(as_alice)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert "secret internals" not in response.content.decode()
    assert "secret internals" in caplog.text


def test_clockchain_5xx_is_502(client, clockchain):
    clockchain.fail(503, body={"detail": "overloaded"})
    response = client.get("/api/v1/today")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"


def test_a_get_is_retried_once_on_a_connection_error(client, clockchain):
    clockchain.fail(None, drop=True)
    response = client.get("/api/v1/today")
    assert response.status_code == 200
    assert len(clockchain.received()) == 2


def test_a_get_is_retried_only_once(client, clockchain):
    clockchain.fail(None, drop=True, times=2)
    response = client.get("/api/v1/today")
    assert response.status_code == 503
    assert len(clockchain.received()) == 2


def test_a_post_is_never_retried(as_alice, flash):
    flash.fail(None, drop=True, path="generate/sync")
    response = generate(as_alice)
    assert response.status_code == 503
    assert len(flash.received("generate/sync")) == 1


def test_a_timed_out_get_is_not_retried(client, clockchain):
    clockchain.slow(1.0)
    with override_settings(UPSTREAM_READ_TIMEOUT=0.2):
        assert client.get("/api/v1/today").status_code == 504
    assert len(clockchain.received()) == 1


def test_a_relayed_body_never_carries_billings_keys(as_alice, flash, settings):
    # An upstream echoing the key billing sent it (a debugging message, say) must not hand
    # it to the client (CONTRACT.md §3: no response ever carries a service key).
    flash.fail(422, path="credits/balance", body={"detail": f"bad key {settings.FLASH_SERVICE_KEY} for user",
                                                  "admin": settings.FLASH_ADMIN_KEY})

    response = as_alice.get("/api/v1/credits/balance")

    assert response.status_code == 422
    body = response.content.decode()
    assert settings.FLASH_SERVICE_KEY not in body and settings.FLASH_ADMIN_KEY not in body
    assert response.json() == {"detail": "bad key [redacted] for user", "admin": "[redacted]"}


def test_an_upstreams_429_is_passed_on_with_a_retry_after(as_alice, flash, clockchain, client):
    # CONTRACT.md §3: a 429 comes with Retry-After; an upstream that rate-limits without
    # naming a wait leaves the client nothing to wait for, or a retry loop at full speed.
    flash.fail(429, path="credits/balance", body={"detail": "slow down"})
    flash.fail(429, path="generate/sync", body={"detail": "slow down"})
    clockchain.fail(429, path="today", body={"detail": "slow down"})

    for response in (as_alice.get("/api/v1/credits/balance"), generate(as_alice), client.get("/api/v1/today")):
        assert response.status_code == 429
        assert response.json() == {"detail": "slow down"}  # status and body as the upstream's
        assert int(response["Retry-After"]) >= 1

