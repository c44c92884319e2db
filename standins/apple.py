"""Apple: verifyReceipt (production and sandbox paths) and StoreKit 2 signing.

Legacy receipts are registered by tests; an unknown receipt answers status 21003, a
sandbox receipt sent to production answers 21007, as Apple does. StoreKit 2
transactions are signed by the stand-in's own chain (standins/storekit.py), whose root
the gateway trusts through APPLE_ROOT_CERTIFICATES, so `make run` verifies them as
production verifies Apple's (`POST /__standin__/storekit/sign` makes one).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .base import Recorded, Reply, StandIn, route
from .storekit import AppleChain


class Apple(StandIn):
    name = "apple"

    def __init__(self, port: int = 0, shared_secret: str = "apple-shared-secret") -> None:
        self.shared_secret = shared_secret
        self.chain = AppleChain()
        # The root certificate as a file, as APPLE_ROOT_CERTIFICATES names Apple's: there
        # while the stand-in runs.
        handle, path = tempfile.mkstemp(prefix="standin-apple-root-", suffix=".der")
        with open(handle, "wb") as root:
            root.write(self.chain.root_der())
        self.root_certificate = Path(path)
        super().__init__(port)

    def start(self) -> Apple:
        self.root_certificate.write_bytes(self.chain.root_der())
        return super().start()

    def reset_state(self) -> None:
        self.receipts: dict[str, tuple[str, dict]] = {}  # receipt-data → (environment, receipt)

    def environment(self) -> dict[str, str]:
        return {"APPLE_VERIFY_URL": self.url + "/verifyReceipt",
                "APPLE_SANDBOX_VERIFY_URL": self.url + "/sandbox/verifyReceipt",
                "APPLE_SHARED_SECRET": self.shared_secret,
                "APPLE_ROOT_CERTIFICATES": str(self.root_certificate),
                "APPLE_ENVIRONMENT": "Sandbox"}

    def stop(self) -> None:
        super().stop()
        self.root_certificate.unlink(missing_ok=True)

    def add_receipt(self, receipt_data: str, in_app: list[dict], environment: str = "Production",
                    bundle_id: str = "com.timepointai.app") -> None:
        with self.lock:
            self.receipts[receipt_data] = (environment, {"bundle_id": bundle_id, "in_app": in_app})

    def _verify(self, req: Recorded, environment: str) -> tuple[int, dict]:
        body = req.json() or {}
        if body.get("password") != self.shared_secret:
            return 200, {"status": 21004}
        with self.lock:
            known = self.receipts.get(body.get("receipt-data", ""))
        if known is None:
            return 200, {"status": 21003}
        env, receipt = known
        if env != environment:
            return 200, {"status": 21007 if env == "Sandbox" else 21008}
        return 200, {"status": 0, "environment": env, "receipt": receipt}

    @route("POST", r"/verifyReceipt")
    def production(self, req: Recorded) -> tuple[int, dict]:
        return self._verify(req, "Production")

    @route("POST", r"/sandbox/verifyReceipt")
    def sandbox(self, req: Recorded) -> tuple[int, dict]:
        return self._verify(req, "Sandbox")

    def _control(self, req: Recorded) -> Reply:
        if req.path == "/__standin__/storekit/sign" and req.method == "POST":
            # A signed StoreKit 2 transaction to try POST /api/v1/billing/verify-receipt with.
            fields = req.json() or {}
            return Reply(200, {"signed_transaction": self.chain.sign(**fields)})
        return super()._control(req)
