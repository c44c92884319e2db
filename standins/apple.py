"""Apple's verifyReceipt (production and sandbox paths): receipts are registered by
tests; an unknown receipt answers status 21003, a sandbox receipt sent to
production answers 21007, as Apple does."""

from __future__ import annotations

from .base import Recorded, StandIn, route


class Apple(StandIn):
    name = "apple"

    def __init__(self, port: int = 0, shared_secret: str = "apple-shared-secret") -> None:
        self.shared_secret = shared_secret
        super().__init__(port)

    def reset_state(self) -> None:
        self.receipts: dict[str, tuple[str, dict]] = {}  # receipt-data → (environment, receipt)

    def environment(self) -> dict[str, str]:
        return {"APPLE_VERIFY_URL": self.url + "/verifyReceipt",
                "APPLE_SANDBOX_VERIFY_URL": self.url + "/sandbox/verifyReceipt",
                "APPLE_SHARED_SECRET": self.shared_secret}

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
