"""Every route with a caller-chosen path segment, against every spelling of "leave
your prefix": refused with a 4xx envelope, and nothing reaches an upstream.

tests/relay/test_path_safety.py has the single cases; this is the sweep over all
{path} routes, so a route added later without path safety shows up here."""

from __future__ import annotations

import pytest

from apikeys.keys import create_key
from apikeys.models import APIKey

# Each escapes, or pretends to escape, the segment it is put in.
VARIANTS = [
    "..",
    "../admin",
    "a/../../admin",
    "%2e%2e",
    "%2E%2E/admin",
    ".%2e/admin",
    "%2e./admin",
    "%252e%252e/admin",
    "%25252e%25252e",
    "a%2f..%2fadmin",
    "a%252f..%252fadmin",
    "..%2f..%2fadmin",
    "a\\..\\admin",
    "a%5c..%5cadmin",
    "a%255cb",
    "a%00b",
    "a%2500b",
    "%c0%ae%c0%ae/admin",  # overlong UTF-8 dots
    "a//b",
    "./a",
]

# (method, template): `{}` is where the caller's segment goes.
ROUTES = [
    ("get", "/api/v1/moments/{}"),
    ("get", "/api/v1/browse/{}"),
    ("get", "/api/v1/graph/neighbors/{}"),
    ("get", "/api/v1/timepoints/{}"),
    ("patch", "/api/v1/timepoints/{}/visibility"),
    ("get", "/api/v1/keys/{}"),
    ("delete", "/api/v1/keys/{}"),
    ("get", "/api/v1/keys/{}/usage"),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {t}" for m, t in ROUTES])
def test_it_keeps_every_path_under_its_prefix(as_alice, alice, flash, clockchain, method, template, variant):
    key, _ = create_key(alice, "mine", "live")
    path = template.format(variant)
    response = as_alice.generic(method.upper(), path, b"{}", content_type="application/json")
    # Relay routes refuse the path (400); key routes find no such key (404) or refuse
    # a method (405). Never a 2xx, never a 500, always the envelope.
    assert response.status_code in (400, 404, 405), (path, response.status_code)
    assert response.json()["error"]["code"] in ("invalid_request", "not_found", "method_not_allowed")
    assert [r.path for r in flash.received() if "/users/resolve" not in r.path] == []
    assert clockchain.received() == []
    assert APIKey.objects.get(pk=key.pk).revoked_at is None
