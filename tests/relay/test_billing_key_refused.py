"""Flash or Clockchain refusing billing's own service key (CONTRACT.md §3): billing has
already authenticated the caller, so the refusal is a misconfiguration between the
services, answered 502 `upstream_error` and logged at ERROR, never passed through as
if the caller's credential were bad. A 403 about the object itself still passes."""

import json
import logging

import pytest
from django.test import Client

from tests.conftest import bearer

WRONG_KEY = "wrong-service-key-0123456789"


def generate(client, path="/api/v1/generate"):
    return client.post(path, data=json.dumps({"query": "Rome burns", "preset": "hyper"}),
                       content_type="application/json")


FLASH_ROUTES = {
    "generate": lambda c, tp: generate(c),
    "generate/stream": lambda c, tp: generate(c, "/api/v1/generate/stream"),
    "timepoint": lambda c, tp: c.get(f"/api/v1/timepoints/{tp}"),
    "visibility": lambda c, tp: c.patch(f"/api/v1/timepoints/{tp}/visibility",
                                        data=json.dumps({"visibility": "public"}), content_type="application/json"),
    "balance": lambda c, tp: c.get("/api/v1/credits/balance"),
    "history": lambda c, tp: c.get("/api/v1/credits/history?limit=5"),
    "costs": lambda c, tp: c.get("/api/v1/credits/costs"),
}

CLOCKCHAIN_ROUTES = ["/api/v1/moments/1453/constantinople", "/api/v1/browse", "/api/v1/browse/europe/1453",
                     "/api/v1/today", "/api/v1/search?q=rome", "/api/v1/graph/neighbors/m1"]


def assert_misconfiguration(response, caplog, key: str) -> None:
    assert response.status_code == 502, response.content
    assert response.json()["error"]["code"] == "upstream_error"
    assert "service key" not in response.content.decode()  # the upstream's words stay in the log
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("refused billing's own key" in message for message in errors), errors
    assert key not in caplog.text and key not in response.content.decode()


@pytest.mark.parametrize("route", sorted(FLASH_ROUTES))
def test_it_answers_502_when_flash_refuses_billings_service_key(as_alice, alice, flash, settings, caplog, route):
    timepoint = flash._timepoint(alice.flash_user_id, {"query": "Rome burns"})
    settings.FLASH_SERVICE_KEY = WRONG_KEY  # Flash answers 401 "Invalid or missing service key"
    with caplog.at_level(logging.ERROR):
        response = FLASH_ROUTES[route](as_alice, timepoint["id"])
    assert_misconfiguration(response, caplog, WRONG_KEY)


@pytest.mark.parametrize("path", CLOCKCHAIN_ROUTES)
def test_it_answers_502_when_clockchain_refuses_billings_service_key(client, clockchain, settings, caplog, path):
    settings.CLOCKCHAIN_SERVICE_KEY = WRONG_KEY
    with caplog.at_level(logging.ERROR):
        response = client.get(path)
    assert_misconfiguration(response, caplog, WRONG_KEY)


def test_it_answers_502_to_a_403_about_billings_key(as_alice, flash, caplog):
    flash.fail(403, body={"detail": "Invalid or missing service key"}, path="credits/balance")
    with caplog.at_level(logging.ERROR):
        response = as_alice.get("/api/v1/credits/balance")
    assert_misconfiguration(response, caplog, "flash-service-key")


def test_it_answers_502_to_any_upstream_401(client, clockchain, caplog):
    clockchain.fail(401, body={"detail": "Not authenticated"})
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/v1/today")
    assert_misconfiguration(response, caplog, "clockchain-service-key")


def test_it_passes_a_403_about_the_object_through(as_alice, alice, flash):
    timepoint = flash._timepoint(alice.flash_user_id, {"query": "Rome burns"})
    flash.fail(403, body={"detail": "Only the owner may change the visibility"}, path="/visibility$")
    response = as_alice.patch(f"/api/v1/timepoints/{timepoint['id']}/visibility",
                              data=json.dumps({"visibility": "public"}), content_type="application/json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only the owner may change the visibility"}


def test_it_answers_502_when_flash_refuses_the_key_at_first_sight(db, auth0, flash, settings, caplog):
    # users/resolve, which billing calls itself on a new identity's first request.
    settings.FLASH_SERVICE_KEY = WRONG_KEY
    with caplog.at_level(logging.ERROR):
        response = Client().get("/api/v1/auth/me", headers=bearer(auth0.mint("auth0|first-sight")))
    assert_misconfiguration(response, caplog, WRONG_KEY)
    assert len(flash.received("users/resolve")) == 1
