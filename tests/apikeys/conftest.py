from __future__ import annotations

import pytest
from django.test import Client

from apikeys.keys import create_key
from tests.conftest import bearer


@pytest.fixture
def alice_key(alice) -> str:
    """The plaintext of a live key of alice's (free tier)."""
    return create_key(alice, "alice's script", "live")[1]


@pytest.fixture
def as_alice_key(alice_key: str) -> Client:
    return Client(headers=bearer(alice_key))
