from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from django.test import Client

from tests.conftest import bearer


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made_token(header: dict, payload: dict, secret: bytes | None = None) -> str:
    """A JWT built by hand, for shapes PyJWT refuses to make (HS256 keyed with an RSA
    public key, `alg: none`)."""
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    signature = b"" if secret is None else hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


@pytest.fixture
def call_me():
    """GET /api/v1/auth/me with the given bearer credential."""

    def call(token: str):
        return Client().get("/api/v1/auth/me", headers=bearer(token))

    return call
