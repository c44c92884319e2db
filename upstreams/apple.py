"""The one place that talks to Apple over HTTP: legacy receipts' verifyReceipt
(StoreKit 2 signed transactions are verified offline, in payments/apple.py)."""

from __future__ import annotations

import logging

import requests
from django.conf import settings

from core.errors import APIError

from .transport import pooled_session

log = logging.getLogger("upstreams.apple")
_session = pooled_session(pool_size=10)
# An answer of verifyReceipt may take this long (seconds); Apple is slower than our own services.
TIMEOUT = 10.0


def unavailable() -> APIError:
    return APIError(503, "upstream_unavailable", "Apple is unavailable; try again shortly.")


def verify_receipt(url: str, receipt: str) -> dict:
    """Apple's answer for a base64 receipt (a JSON object with an int `status`);
    503 when Apple cannot be reached or answers anything else."""
    body = {"receipt-data": receipt, "exclude-old-transactions": False}
    if settings.APPLE_SHARED_SECRET:
        body["password"] = settings.APPLE_SHARED_SECRET
    try:
        response = _session.post(url, json=body, allow_redirects=False,
                                 timeout=(settings.UPSTREAM_CONNECT_TIMEOUT, TIMEOUT))
    except requests.RequestException as exc:
        log.warning("verifyReceipt failed: %s", exc.__class__.__name__)
        raise unavailable() from None
    if response.status_code >= 500 or response.status_code == 429:
        raise unavailable()
    try:
        answer = response.json()
    except ValueError:
        raise unavailable() from None
    if not isinstance(answer, dict) or not isinstance(answer.get("status"), int):
        raise unavailable()
    return answer
