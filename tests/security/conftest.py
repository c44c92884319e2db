"""The security sweep: fixtures shared by its files, and the fuzz run's size."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    # `make test` runs a bounded fuzz; `make fuzz` passes a larger number.
    parser.addoption("--fuzz-examples", type=int, default=20,
                     help="schemathesis examples per API operation (tests/security/test_fuzz.py)")


@pytest.fixture
def caller(alice):
    """alice as the body-route sweeps need her: enough requests a minute for a dozen
    calls (pro), and a Stripe customer for the billing portal."""
    alice.tier, alice.stripe_customer_id = "pro", "cus_alice"
    alice.save()
    return alice


# Every relayed route, as (method, path, upstream stand-in name, upstream path regex).
RELAY_ROUTES = [
    ("post", "/api/v1/generate", "flash", r"/generate/sync$"),
    ("post", "/api/v1/generate/stream", "flash", r"/generate/stream$"),
    ("get", "/api/v1/timepoints/tp-1", "flash", r"/timepoints/tp-1$"),
    ("patch", "/api/v1/timepoints/tp-1/visibility", "flash", r"/timepoints/tp-1/visibility$"),
    ("get", "/api/v1/credits/balance", "flash", r"/credits/balance$"),
    ("get", "/api/v1/credits/history", "flash", r"/credits/history$"),
    ("get", "/api/v1/credits/costs", "flash", r"/credits/costs$"),
    ("get", "/api/v1/moments/1453", "clockchain", r"/moments/1453$"),
    ("get", "/api/v1/browse", "clockchain", r"/browse$"),
    ("get", "/api/v1/browse/europe", "clockchain", r"/browse/europe$"),
    ("get", "/api/v1/today", "clockchain", r"/today$"),
    ("get", "/api/v1/search?q=rome", "clockchain", r"/search$"),
    ("get", "/api/v1/graph/neighbors/m-1", "clockchain", r"/graph/neighbors/m-1$"),
]
