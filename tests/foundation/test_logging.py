"""Logs: one JSON object a line in production, readable text in development, the
request id on each line, and secrets masked before anything is written."""

import json
import logging
import sys

from core.logs import JSONFormatter, RedactSecretsFilter, request_id_var
from tests.foundation.test_settings import PRODUCTION, run

SECRETS = [
    "tp_live_" + "a1" * 16,
    "tp_test_" + "b2" * 16,
    "tp_sess_" + "c3" * 20,
    "sk_live_" + "d4" * 14,
    "whsec_" + "e5" * 12,
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhdXRoMHx4In0.c2lnbmF0dXJlLXBhcnQ",
]

EMIT = (
    "import django, logging; django.setup(); from core.logs import request_id_var; "
    "request_id_var.set('rid-7'); log = logging.getLogger('billing.test'); "
    "log.warning('calling with %s', 'Bearer tp_live_" + "x" * 32 + "'); log.info('second line')"
)


def _record(msg: str, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("billing.test", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_it_masks_secrets_in_messages_and_arguments():
    for secret in SECRETS:
        record = _record("key %s used", secret)
        RedactSecretsFilter().filter(record)
        assert secret not in record.getMessage()
        assert "[redacted]" in record.getMessage()


def test_it_masks_bearer_values_and_tracebacks():
    try:
        raise ValueError(f"rejected {SECRETS[0]}")
    except ValueError:
        record = _record("Authorization: Bearer opaque-token-value", exc_info=sys.exc_info())
    RedactSecretsFilter().filter(record)
    text = JSONFormatter().format(record)
    assert "opaque-token-value" not in text and SECRETS[0] not in text
    assert "ValueError" in json.loads(text)["message"]


def test_it_masks_configured_secrets_that_have_no_shape(settings):
    settings.FLASH_ADMIN_KEY = "plain-admin-key-value"
    settings.CLOCKCHAIN_SERVICE_KEY = "another plain value"
    record = _record("headers %s", {"X-Admin-Key": "plain-admin-key-value", "X-Service-Key": "another plain value"})
    RedactSecretsFilter().filter(record)
    assert "plain-admin-key-value" not in record.getMessage()
    assert "another plain value" not in record.getMessage()
    assert record.getMessage().count("[redacted]") == 2


def test_it_leaves_ordinary_messages_alone():
    record = _record("granted %d credits to %s", 100, "user-1")
    RedactSecretsFilter().filter(record)
    assert record.getMessage() == "granted 100 credits to user-1"


def test_it_formats_one_json_object_with_the_request_id():
    token = request_id_var.set("rid-json")
    try:
        record = logging.getLogger("billing.test").makeRecord("billing.test", logging.INFO, __file__, 1,
                                                               "hello %s", ("world",), None)
    finally:
        request_id_var.reset(token)
    entry = json.loads(JSONFormatter().format(record))
    assert entry["message"] == "hello world"
    assert entry["request_id"] == "rid-json"
    assert entry["level"] == "INFO" and entry["logger"] == "billing.test" and entry["time"]


def test_it_writes_json_lines_in_production():
    result = run(["-c", EMIT], **PRODUCTION)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.strip().splitlines()]
    assert [entry["message"] for entry in lines][-2:] == ["calling with Bearer [redacted]", "second line"]
    assert {entry["request_id"] for entry in lines[-2:]} == {"rid-7"}
    assert "tp_live_" not in result.stderr


def test_it_writes_readable_text_in_development():
    result = run(["-c", EMIT])
    assert result.returncode == 0, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "INFO billing.test [rid-7] second line" in last
    assert not last.startswith("{")


def test_it_keeps_stripes_own_lines_per_call_out_of_the_log(standins, caplog):
    # stripe-python logs every request and response at INFO, URLs and all; a call that
    # answered needs no line, and billing logs what it does with the answer itself.
    import stripe as stripe_sdk

    from upstreams import stripe

    with caplog.at_level(logging.INFO):
        customer = stripe.call(stripe_sdk.Customer.create, email="alice@example.com")

    assert customer["id"]
    assert [record.getMessage() for record in caplog.records if record.name.startswith("stripe")] == []
