"""The one place that talks to Apple over HTTP: legacy receipts' verifyReceipt
(StoreKit 2 signed transactions are verified offline, in payments/apple.py)."""

from __future__ import annotations

import logging
from typing import Any

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
    if not well_formed(answer):
        log.warning("verifyReceipt answered an unexpected shape")
        raise unavailable()
    return answer


# The fields of a purchase in `in_app` and `latest_receipt_info` that billing reads, and
# the types Apple sends them as (ids and numbers as strings; an int is taken too).
PURCHASE_FIELDS: dict[str, tuple[type, ...]] = {
    "product_id": (str,), "transaction_id": (str, int), "quantity": (str, int),
    "purchase_date_ms": (str, int), "cancellation_date": (str,),
}


def well_formed(answer: Any) -> bool:
    """Whether verifyReceipt's answer has the shape Apple documents: an object with an
    int `status`, and (when present) a `receipt` object whose `in_app`, like the answer's
    `latest_receipt_info`, is a list of purchase objects with fields of their types. Any
    other answer is Apple misbehaving, not the receipt being bad: 503, safe to retry."""
    if not isinstance(answer, dict) or answer.get("status") is None or not _is(answer["status"], (int,)):
        return False
    receipt = {} if answer.get("receipt") is None else answer["receipt"]
    return (isinstance(receipt, dict) and _is(receipt.get("bundle_id"), (str,))
            and _purchases(receipt.get("in_app")) and _purchases(answer.get("latest_receipt_info")))


def _purchases(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, list) and all(
        isinstance(p, dict) and p.get("transaction_id") is not None
        and all(_is(p.get(name), types) for name, types in PURCHASE_FIELDS.items())
        and (not isinstance(p.get("purchase_date_ms"), str) or p["purchase_date_ms"].isdigit())
        for p in value)


def _is(value: Any, types: tuple[type, ...]) -> bool:
    """None (absent) or one of `types`; a bool is no int here."""
    return value is None or (isinstance(value, types) and not isinstance(value, bool))
