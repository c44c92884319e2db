"""Schema-driven fuzzing: schemathesis generates requests for every operation in
/api/v1/schema/ and checks that none answers 500 and every answer matches the schema.
Bounded in `make test` (--fuzz-examples, default 20 per operation); `make fuzz` runs
2000 per operation."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from core.catalog import Tier
from tests.conftest import bearer

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in requirements-dev.txt")
import hypothesis  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402


@pytest.fixture
def _keep_the_test_connection():
    """Serve in-process as Django's own test client does: a request's end must not
    close the connection holding this test's transaction."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def apple_configured(settings, tmp_path):
    """StoreKit 2 verification set up as in production (without roots it answers 503 by design)."""
    from standins.storekit import AppleChain

    (tmp_path / "root.cer").write_bytes(AppleChain().root_der())
    settings.APPLE_ROOT_CERTIFICATES = [str(tmp_path / "root.cer")]
    settings.APPLE_ENVIRONMENT = "Sandbox"
    settings.APPLE_BUNDLE_ID = "com.timepointai.app"


@pytest.fixture
def enterprise_alice(alice):
    # Enterprise limits, so that the fuzzer explores the API rather than 429s.
    alice.tier = Tier.ENTERPRISE
    alice.save(update_fields=["tier"])
    return alice


def _load_schema():
    from timepoint_billing.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/v1/schema/", application)


SCHEMA = _load_schema()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_it_answers_within_its_schema(operation, enterprise_alice, auth0, request, apple_configured,
                                      _keep_the_test_connection):
    headers = bearer(auth0.mint(enterprise_alice.external_id))

    @hypothesis.settings(max_examples=request.config.getoption("--fuzz-examples"), deadline=None, database=None,
                         derandomize=True, suppress_health_check=list(hypothesis.HealthCheck), phases=[
                             hypothesis.Phase.explicit, hypothesis.Phase.generate])
    @hypothesis.given(case=operation.as_strategy())
    def call(case) -> None:
        cache.clear()  # each example starts with fresh limits
        case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

    call()
