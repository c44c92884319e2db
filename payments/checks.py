"""Start-up checks of the payments configuration (`manage.py check`, run by migrate and
runserver too): what would otherwise surface only as a 503 on someone's purchase.
Warnings outside production, errors in production."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.checks import Warning as CheckWarning


def _problem(message: str, hint: str, number: int) -> CheckMessage:
    if settings.PRODUCTION:
        return Error(message, hint=hint, id=f"payments.E{number:03d}")
    return CheckWarning(message, hint=hint, id=f"payments.W{number:03d}")


def _readable_certificate(path: str) -> bool:
    try:
        data = Path(path).read_bytes()
        if b"-----BEGIN" in data:
            x509.load_pem_x509_certificate(data)
        else:
            x509.load_der_x509_certificate(data)
    except (OSError, ValueError):
        return False
    return True


@register()
def apple_storekit(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """StoreKit 2 purchases (`signed_transaction`) need Apple's root certificates."""
    roots = settings.APPLE_ROOT_CERTIFICATES
    if not roots:
        return [_problem(
            "APPLE_ROOT_CERTIFICATES is not set: StoreKit 2 purchases (signed_transaction) cannot be verified "
            "and answer 503.",
            "Set it to the path of Apple's root certificate (AppleRootCA-G3.cer from apple.com/certificateauthority).",
            1,
        )]
    problems = [
        _problem(f"APPLE_ROOT_CERTIFICATES: {path!r} is not a readable certificate (DER or PEM).",
                 "Point it at Apple's AppleRootCA-G3.cer.", 2)
        for path in roots if not _readable_certificate(path)
    ]
    if settings.APPLE_ENVIRONMENT not in ("Production", "Sandbox"):
        problems.append(_problem(f"APPLE_ENVIRONMENT is {settings.APPLE_ENVIRONMENT!r}: StoreKit 2 purchases are "
                                 "refused.", "Use Production or Sandbox.", 3))
    return problems


@register()
def operator_alerts(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """Stuck and failed grants email OPERATOR_EMAILS; without it the alerts are log lines only."""
    if settings.PRODUCTION and not settings.OPERATOR_EMAILS:
        return [CheckWarning("OPERATOR_EMAILS is not set: stuck or failed grants are reported in the log only.",
                        hint="Set it to the operators' addresses (comma-separated).", id="payments.W005")]
    return []
