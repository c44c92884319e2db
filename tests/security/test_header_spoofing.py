"""Internal headers a client sends are never believed: on every relay route, with
every kind of caller, the upstream sees billing's own service key, the caller's own
Flash user, no admin key and no client-chosen forwarding address.

tests/relay/test_headers.py shows the rule on one route per upstream; this sweeps all."""

from __future__ import annotations

import pytest
from django.test import Client

from apikeys.keys import create_key
from tests.conftest import bearer
from tests.security.conftest import RELAY_ROUTES

SPOOFED = {
    "X-Service-Key": "spoofed-service-key",
    "X-Admin-Key": "spoofed-admin-key",
    "X-User-ID": "PLACEHOLDER",  # bob's Flash user id, filled in per test
    "X-Forwarded-For": "203.0.113.9",
    "X-Real-IP": "203.0.113.9",
    "X-Forwarded-Host": "evil.example",
}


def credential_of(kind: str, alice, auth0) -> dict:
    if kind == "auth0 token":
        return bearer(auth0.mint(alice.external_id))
    if kind == "api key":
        return bearer(create_key(alice, "k", "live")[1])
    return {}


@pytest.mark.parametrize("kind", ["auth0 token", "api key", "anonymous"])
@pytest.mark.parametrize(("method", "path", "upstream", "upstream_path"), RELAY_ROUTES,
                         ids=[f"{m} {p}" for m, p, *_ in RELAY_ROUTES])
def test_it_never_forwards_spoofed_internal_headers(standins, alice, bob, auth0, kind, method, path, upstream,
                                                    upstream_path):
    headers = {**SPOOFED, "X-User-ID": bob.flash_user_id, **credential_of(kind, alice, auth0)}
    body = b'{"query": "rome", "preset": "standard", "visibility": "public"}'
    response = Client().generic(method.upper(), path, body, content_type="application/json", headers=headers)
    assert response.status_code != 500
    text = b"".join(response.streaming_content if response.streaming else [response.content]).decode()
    sent = standins[upstream].received(upstream_path)
    if kind == "anonymous" and upstream == "flash":
        assert response.status_code == 401
        assert sent == []
        return
    (request,) = sent
    assert request.headers["x-service-key"] == standins[upstream].service_key
    assert "x-admin-key" not in request.headers
    for name in ("x-forwarded-for", "x-real-ip", "x-forwarded-host"):
        assert name not in request.headers, name
    if upstream == "flash":
        assert request.headers["x-user-id"] == alice.flash_user_id
    else:
        assert "x-user-id" not in request.headers
    for value in SPOOFED.values():
        assert value not in text
