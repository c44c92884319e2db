"""StoreKit 2 signing as the App Store does it, for the Apple stand-in and the tests: a
root CA of our own, an intermediate and a leaf carrying Apple's marker OIDs, and
signed transactions (JWS with the chain in `x5c`)."""

from __future__ import annotations

import base64
import datetime
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

INTERMEDIATE_OID = "1.2.840.113635.100.6.2.1"
LEAF_OID = "1.2.840.113635.100.6.11.1"


def _cert(subject: str, key, issuer_name, issuer_key, *, ca: bool, oid: str | None = None,
          issuer_cert: x509.Certificate | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if oid:
        builder = builder.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), b"\x05\x00"),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class AppleChain:
    def __init__(self, leaf_oid: str = LEAF_OID) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Stand-in Apple Root CA")])
        self.root = _cert("Stand-in Apple Root CA", self.root_key, root_name, self.root_key, ca=True)
        self.intermediate_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = _cert("Stand-in WWDR", self.intermediate_key, self.root.subject, self.root_key,
                                  ca=True, oid=INTERMEDIATE_OID)
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())
        self.leaf = _cert("Stand-in App Store signing", self.leaf_key, self.intermediate.subject,
                          self.intermediate_key, ca=False, oid=leaf_oid)

    def root_der(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.DER)

    def sign(self, *, transaction_id: str = "2000000001", product_id: str = "com.timepointai.credits.100",
             bundle_id: str = "com.timepointai.app", environment: str = "Sandbox", **extra) -> str:
        now_ms = int(time.time() * 1000)
        payload = {"transactionId": transaction_id, "originalTransactionId": transaction_id,
                   "productId": product_id, "bundleId": bundle_id, "environment": environment,
                   "type": "Consumable", "purchaseDate": now_ms, "signedDate": now_ms, "quantity": 1, **extra}
        x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
               for c in (self.leaf, self.intermediate, self.root)]
        return jwt.encode(payload, self.leaf_key, algorithm="ES256", headers={"x5c": x5c})
