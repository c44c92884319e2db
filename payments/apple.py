"""Apple in-app purchases: StoreKit 2 signed transactions (verified with Apple's
app-store-server-library) and legacy receipts (verifyReceipt, sandbox retry on 21007).
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jwt
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.signed_data_verifier import (
    SignedDataVerifier,
    VerificationException,
    VerificationStatus,
)
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings
from django.db import transaction

from accounts.models import Account
from core.catalog import APPLE_PRODUCTS
from core.errors import APIError
from core.request_json import is_storable
from upstreams import apple as apple_api

from . import grants
from .models import GrantSource, TransactionType

log = logging.getLogger("payments.apple")

SANDBOX_RECEIPT = 21007
# verifyReceipt statuses that mean "Apple could not answer now", not "bad receipt".
APPLE_TEMPORARY = {21002, 21005, 21009} | set(range(21100, 21200))


@dataclass(frozen=True)
class Purchase:
    transaction_id: str
    product_id: str
    quantity: int
    credits: int  # the product's credits × quantity
    environment: str


def invalid(message: str) -> APIError:
    return APIError(400, "invalid_request", message)


# The longest Apple transaction id a grant is kept under (`apple:<id>`, 255 characters).
# Apple's are digits, a few dozen at most.
MAX_TRANSACTION_ID = 200


def _purchase(transaction_id: str, product_id: str, quantity: object, environment: str) -> Purchase:
    if len(transaction_id) > MAX_TRANSACTION_ID or not is_storable(transaction_id):
        raise invalid("The purchase's transaction id is not one Apple gives.")
    credits = APPLE_PRODUCTS.get(product_id)
    if credits is None:
        raise invalid(f"Unknown product {product_id!r}.")
    count = _quantity(quantity)
    return Purchase(transaction_id, product_id, count, credits * count, environment)


def _quantity(value: object) -> int:
    """How many of the product were bought at once: an int in StoreKit 2, a digit string
    in legacy receipts; absent means one."""
    if value is None or value == "":
        return 1
    if isinstance(value, bool) or not str(value).isdigit() or int(value) < 1:
        raise invalid("The purchase's quantity is not a positive whole number.")
    return int(value)


# --- StoreKit 2 ----------------------------------------------------------------------


def _der(path: str) -> bytes:
    data = Path(path).read_bytes()
    if b"-----BEGIN" in data:
        data = x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    return data


@lru_cache(maxsize=4)
def _verifier(roots: tuple[str, ...], environment: str, bundle_id: str, app_apple_id: int | None) -> SignedDataVerifier:
    # Xcode/LocalTesting make the library skip signature checks: never accepted here.
    env = Environment(environment)
    if env not in (Environment.PRODUCTION, Environment.SANDBOX):
        raise ValueError("APPLE_ENVIRONMENT must be Production or Sandbox")
    # Online (OCSP) checks are off: they would make every purchase depend on Apple's
    # OCSP responder; the chain, OIDs and signature are still verified offline.
    # The library wants an App Store id in Production, yet compares it only on what
    # carries one (notifications, app transactions), never on a signed transaction
    # (bundle id and environment): without APPLE_APP_APPLE_ID (none by default,
    # CONTRACT.md §1) a 0 stands in, which no App Store id matches should it ever be
    # compared.
    return SignedDataVerifier([_der(p) for p in roots], False, env, bundle_id,
                              app_apple_id if app_apple_id is not None else 0)


def _check_form(jws: str) -> None:
    """A StoreKit 2 signed transaction is a compact JWS: an ES256 header carrying the
    certificate chain (x5c) and a JSON object payload. Anything else is the client's
    mistake (400), whatever the verifier's state: retrying cannot make it valid."""
    try:
        header = jwt.get_unverified_header(jws)
        jwt.decode(jws, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise invalid("signed_transaction is not a StoreKit 2 signed transaction (a JWS).") from None
    chain = header.get("x5c")
    if header.get("alg") != "ES256" or not isinstance(chain, list) or not chain:
        raise invalid("signed_transaction is not signed by the App Store (ES256 with a certificate chain).")


def verify_signed_transaction(jws: str) -> Purchase:
    _check_form(jws)
    if not settings.APPLE_ROOT_CERTIFICATES:
        # Also reported at start-up (system check payments.W001/E001). The purchase is
        # real: 503 tells the app to keep the transaction and submit it again later.
        log.error("APPLE_ROOT_CERTIFICATES is not configured: StoreKit 2 purchases cannot be verified")
        raise APIError(503, "upstream_unavailable", "Apple purchases cannot be verified right now.")
    try:
        verifier = _verifier(tuple(settings.APPLE_ROOT_CERTIFICATES), settings.APPLE_ENVIRONMENT,
                             settings.APPLE_BUNDLE_ID, settings.APPLE_APP_APPLE_ID)
    except (OSError, ValueError) as exc:
        log.error("Apple verifier misconfigured: %s", exc)
        raise APIError(503, "upstream_unavailable", "Apple purchases cannot be verified right now.") from None
    try:
        transaction = verifier.verify_and_decode_signed_transaction(jws)
    except VerificationException as exc:
        if exc.status == VerificationStatus.RETRYABLE_VERIFICATION_FAILURE:  # only with online checks
            raise APIError(503, "upstream_unavailable", "Apple purchases cannot be verified right now.") from None
        log.info("StoreKit transaction rejected: %s", exc.status)
        raise invalid("The signed transaction is not valid.") from None
    except Exception:  # the library raises plain errors on malformed input
        raise invalid("The signed transaction is not valid.") from None
    if transaction.revocationDate:
        raise invalid("This transaction was refunded or revoked.")
    if not transaction.transactionId or not transaction.productId:
        raise invalid("The signed transaction has no transaction or product id.")
    return _purchase(str(transaction.transactionId), transaction.productId, transaction.quantity,
                     str(getattr(transaction.environment, "value", transaction.environment)))


# --- legacy receipts -------------------------------------------------------------------


def verify_receipt(receipt: str) -> list[Purchase]:
    """Every credit purchase a legacy receipt holds, newest first. All of them are
    granted (each once): a purchase whose own submission failed must not be lost
    because a later one's receipt was the next to arrive."""
    try:
        base64.b64decode(receipt, validate=True)
    except ValueError:
        raise invalid("receipt_data must be base64.") from None
    environment = "Production"
    answer = apple_api.verify_receipt(settings.APPLE_VERIFY_URL, receipt)
    if answer["status"] == SANDBOX_RECEIPT:
        environment = "Sandbox"
        answer = apple_api.verify_receipt(settings.APPLE_SANDBOX_VERIFY_URL, receipt)
    status = answer["status"]
    if status in APPLE_TEMPORARY or answer.get("is-retryable"):
        raise apple_api.unavailable()
    if status != 0:
        raise invalid(f"Apple rejected the receipt (status {status}).")
    receipt_body = answer.get("receipt") or {}
    bundle = receipt_body.get("bundle_id")
    if bundle and settings.APPLE_BUNDLE_ID and bundle != settings.APPLE_BUNDLE_ID:
        raise invalid("The receipt belongs to another app.")
    purchases = [
        p for p in (receipt_body.get("in_app") or []) + (answer.get("latest_receipt_info") or [])
        if isinstance(p, dict) and p.get("product_id") in APPLE_PRODUCTS and not p.get("cancellation_date")
    ]
    if not purchases:
        raise invalid("The receipt holds no credit purchase.")
    by_id: dict[str, dict] = {}
    for purchase in purchases:  # in_app and latest_receipt_info overlap
        by_id.setdefault(str(purchase["transaction_id"]), purchase)
    newest_first = sorted(by_id.items(), key=lambda item: int(item[1].get("purchase_date_ms") or 0), reverse=True)
    return [_purchase(tid, p["product_id"], p.get("quantity"), environment) for tid, p in newest_first]


def grant(account: Account, purchases: list[Purchase]) -> int:
    """Record each purchase's grant once per Apple transaction (delivered to Flash
    after the commit); returns the credits granted now, 0 for purchases granted before."""
    newly_granted = 0
    with transaction.atomic():
        for purchase in purchases:
            recorded, created = grants.record(
                f"apple:{purchase.transaction_id}",
                source=GrantSource.APPLE,
                account=account,
                amount=purchase.credits,
                transaction_type=TransactionType.APPLE_IAP,
                description=f"Apple purchase: {purchase.credits} credits"
                            + (f" ({purchase.quantity} × {purchase.product_id})" if purchase.quantity > 1 else ""),
                product=purchase.product_id,
                apple_transaction_id=purchase.transaction_id,
            )
            if created:
                newly_granted += purchase.credits
            elif recorded.account_id != account.pk:
                log.warning("Apple transaction %s resubmitted by another account", purchase.transaction_id)
    return newly_granted
