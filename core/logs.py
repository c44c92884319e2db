"""Log plumbing: the request id on every line, JSON lines in production, and a last
line of defence that masks anything shaped like a credential."""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

from django.core.signals import setting_changed
from django.dispatch import receiver

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Shapes of secrets that must never reach a log: our own tokens, Stripe keys and
# webhook secrets, bearer values, JWTs.
_SECRET_PATTERNS = [
    re.compile(r"tp_(?:live|test|sess)_[A-Za-z0-9]+"),
    re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]+"),
    re.compile(r"\bwhsec_[A-Za-z0-9]+"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
]


# Configured secrets without a recognisable shape (service and admin keys, shared
# secrets) are masked by value.
_SECRET_SETTINGS = (
    "SECRET_KEY",
    "FLASH_SERVICE_KEY",
    "FLASH_ADMIN_KEY",
    "CLOCKCHAIN_SERVICE_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "APPLE_SHARED_SECRET",
    "AUTH0_CLIENT_SECRET",
)


# (text, bytes) of the configured secrets, longest first; worked out once, not for
# every log line and relayed body, and again when a test overrides one of them.
_secrets: tuple[tuple[str, ...], tuple[bytes, ...]] | None = None


def _configured_secrets() -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    global _secrets
    if _secrets is None:
        from django.conf import settings

        if not settings.configured:
            return (), ()
        values = (getattr(settings, name, "") for name in _SECRET_SETTINGS)
        # Short values would mask ordinary words; real keys are long.
        texts = tuple(sorted({v for v in values if isinstance(v, str) and len(v) >= 8}, key=len, reverse=True))
        _secrets = (texts, tuple(text.encode() for text in texts))
    return _secrets


@receiver(setting_changed)
def _forget_secrets(*, setting: str, **kwargs: object) -> None:
    global _secrets
    if setting in _SECRET_SETTINGS:
        _secrets = None


def mask_configured_secrets(body: bytes) -> bytes:
    """An upstream's body with any configured secret masked by value (the shapes above
    are left alone: a generated text may well say "bearer …"). Upstreams never should
    echo billing's keys, but a relayed body must not carry one if one did."""
    for raw in _configured_secrets()[1]:
        if raw in body:
            body = body.replace(raw, b"[redacted]")
    return body


def redact(text: str) -> str:
    for secret in _configured_secrets()[0]:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text


class RequestIDFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


def _install_record_factory() -> None:
    """Stamp the request id on each record when it is made, so that every handler
    (not only ours: test capture, error trackers) sees it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_stamps_request_id", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = request_id_var.get()
        return record

    factory._stamps_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_record_factory()


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info:
            # Render the traceback now so the redaction covers it too.
            formatted = logging.Formatter().formatException(record.exc_info)
            cleaned = f"{cleaned}\n{redact(formatted)}"
            record.exc_info = None
            record.exc_text = None
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", request_id_var.get()),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
