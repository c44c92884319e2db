"""Flash as the memos (seeds/000, 001) and CONTRACT.md §4 describe it: users resolved
by external id, a credit ledger with admin grants, a cost table, generation (sync
and SSE) that spends credits, timepoints with visibility.

`Flash(sandbox=True)` is the sandbox behind FLASH_TEST_URL: it knows every user id
billing sends (each starts with `sandbox_credits`), so test keys generate without
anyone being made in it first."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from .base import Recorded, Reply, StandIn, route

DEFAULT_COSTS = {"generate_balanced": 5, "generate_hd": 10, "generate_hyper": 2, "generate_gemini3": 5}


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Flash(StandIn):
    name = "flash"

    def __init__(self, port: int = 0, service_key: str = "flash-service-key", admin_key: str = "flash-admin-key",
                 signup_credits: int = 50, sandbox: bool = False, sandbox_credits: int = 1000) -> None:
        self.service_key = service_key
        self.admin_key = admin_key
        self.signup_credits = signup_credits
        self.sandbox = sandbox
        self.sandbox_credits = sandbox_credits
        super().__init__(port)

    def reset_state(self) -> None:
        self.users: dict[str, str] = {}  # external_id → user_id
        self.balances: dict[str, int] = {}
        self.transactions: dict[str, list[dict]] = {}
        self.timepoints: dict[str, dict] = {}
        self.costs = dict(DEFAULT_COSTS)
        self.stream_events = 3  # progress events before "done"
        self.stream_interval = 0.0  # seconds between events
        self.stream_break_after: int | None = None  # drop the connection after N events
        self.stream_gate: threading.Event | None = None  # hold the stream after the first event
        self.balance_gate: threading.Event | None = None  # hold balance answers until it opens
        self.generate_gate: threading.Event | None = None  # hold sync generations until it opens
        self.streams_started = 0
        self.streams_finished = 0
        self.streams_abandoned = 0  # the client went away before the end
        # Grants beyond the first `grants_answered` are applied, then their answer is
        # held until the gate opens (a caller that dies meanwhile never hears of them).
        self.grant_gate: threading.Event | None = None
        self.grants_answered = 0
        # The next N admin grants are answered 200 but never recorded: a Flash that
        # loses a write it acknowledged (what reconciliation must notice).
        self.unrecorded_grants = 0

    def state(self) -> dict:
        return {"users": self.users, "balances": self.balances, "transactions": self.transactions,
                "timepoints": self.timepoints}

    def load_state(self, data: dict) -> None:
        self.users = dict(data.get("users", {}))
        self.balances = {user_id: int(balance) for user_id, balance in data.get("balances", {}).items()}
        self.transactions = {user_id: list(entries) for user_id, entries in data.get("transactions", {}).items()}
        self.timepoints = dict(data.get("timepoints", {}))

    # --- helpers for tests --------------------------------------------------------

    def add_user(self, external_id: str, balance: int = 0) -> str:
        with self.lock:
            user_id = self.users.get(external_id) or str(uuid.uuid4())
            self.users[external_id] = user_id
            self.balances[user_id] = balance
            self.transactions.setdefault(user_id, [])
            return user_id

    def balance_of(self, user_id: str) -> int:
        with self.lock:
            return self.balances.get(user_id, 0)

    def grants(self, user_id: str | None = None) -> list[dict]:
        with self.lock:
            return [
                t for uid, ts in self.transactions.items() if user_id in (None, uid)
                for t in ts if t["amount"] > 0 and t["transaction_type"] != "signup_bonus"
            ]

    # --- auth ------------------------------------------------------------------

    def _service_ok(self, req: Recorded) -> bool:
        return req.headers.get("x-service-key") == self.service_key

    def _user(self, req: Recorded) -> str | None:
        given = req.headers.get("x-user-id", "")
        with self.lock:
            if given in self.balances:
                return given
            if self.sandbox and given and given not in self.users:
                self.balances[given] = self.sandbox_credits
                self.transactions[given] = []
                return given
            return self.users.get(given)

    def _caller(self, req: Recorded) -> tuple[str | None, Reply | None]:
        if not self._service_ok(req):
            return None, Reply(401, {"detail": "Invalid or missing service key"})
        user_id = self._user(req)
        if user_id is None:
            return None, Reply(401, {"detail": "Unknown user"})
        return user_id, None

    def _record(self, user_id: str, amount: int, transaction_type: str, description: str) -> dict:
        self.balances[user_id] = self.balances.get(user_id, 0) + amount
        entry = {
            "id": str(uuid.uuid4()),
            "amount": amount,
            "transaction_type": transaction_type,
            "description": description,
            "balance_after": self.balances[user_id],
            "created_at": _now(),
        }
        self.transactions.setdefault(user_id, []).append(entry)
        return entry

    # --- routes ------------------------------------------------------------------

    @route("POST", r"/api/v1/users/resolve")
    def resolve(self, req: Recorded) -> tuple[int, dict]:
        if not self._service_ok(req):
            return 401, {"detail": "Invalid or missing service key"}
        body = req.json() or {}
        external_id = body.get("external_id")
        if not external_id:
            return 422, {"detail": "external_id is required"}
        with self.lock:
            created = external_id not in self.users
            if created:
                user_id = self.add_user(external_id, 0)
                self._record(user_id, self.signup_credits, "signup_bonus", "Signup credits")
            return 200, {"user_id": self.users[external_id], "created": created}

    @route("GET", r"/api/v1/credits/balance")
    def balance(self, req: Recorded) -> Reply | tuple[int, dict]:
        user_id, refusal = self._caller(req)
        if refusal:
            return refusal
        if self.balance_gate is not None:
            self.balance_gate.wait(timeout=60)
        return 200, {"balance": self.balance_of(user_id), "user_id": user_id}

    @route("GET", r"/api/v1/credits/history")
    def history(self, req: Recorded) -> Reply | tuple[int, dict]:
        user_id, refusal = self._caller(req)
        if refusal:
            return refusal
        limit = int(req.query.get("limit", ["20"])[0])
        offset = int(req.query.get("offset", ["0"])[0])
        with self.lock:
            entries = list(reversed(self.transactions.get(user_id, [])))
        return 200, {"transactions": entries[offset:offset + limit], "total": len(entries)}

    @route("GET", r"/api/v1/credits/costs")
    def cost_table(self, req: Recorded) -> Reply | tuple[int, dict]:
        if not self._service_ok(req):
            return Reply(401, {"detail": "Invalid or missing service key"})
        return 200, {"costs": dict(self.costs)}

    @route("POST", r"/api/v1/credits/admin/grant")
    def admin_grant(self, req: Recorded) -> tuple[int, dict]:
        if req.headers.get("x-admin-key") != self.admin_key:
            return 403, {"detail": "Invalid admin key"}
        body = req.json() or {}
        user_id = body.get("user_id")
        amount = body.get("amount")
        with self.lock:
            if user_id not in self.balances:
                return 404, {"detail": "User not found"}
            if not isinstance(amount, int) or amount == 0:
                return 422, {"detail": "amount must be a non-zero integer"}
            if self.unrecorded_grants > 0:
                self.unrecorded_grants -= 1
                return 200, {"transaction_id": str(uuid.uuid4()), "balance": self.balances[user_id]}
            entry = self._record(user_id, amount, body.get("transaction_type", "admin_grant"),
                                 body.get("description", ""))
            answer = {"transaction_id": entry["id"], "balance": self.balances[user_id]}
            gate = self.grant_gate if len(self.grants()) > self.grants_answered else None
        if gate is not None:
            gate.wait(30)
        return 200, answer

    def _spend(self, user_id: str, preset: str) -> tuple[int, Reply | None]:
        cost = self.costs.get(f"generate_{preset}", self.costs.get("generate_balanced", 5))
        with self.lock:
            if self.balances.get(user_id, 0) < cost:
                return cost, Reply(402, {"detail": "Insufficient credits", "required": cost,
                                         "balance": self.balances.get(user_id, 0)})
            self._record(user_id, -cost, "generation", f"Generation ({preset})")
        return cost, None

    def _timepoint(self, user_id: str, body: dict) -> dict:
        timepoint = {
            "id": str(uuid.uuid4()),
            "query": body.get("query", ""),
            "preset": body.get("preset", "balanced"),
            "visibility": "private",
            "owner": user_id,
            "slug": "-".join(str(body.get("query", "scene")).lower().split())[:60] or "scene",
            "created_at": _now(),
        }
        if "request_context" in body:
            timepoint["request_context"] = body["request_context"]
        with self.lock:
            self.timepoints[timepoint["id"]] = timepoint
        return timepoint

    def _generation(self, req: Recorded) -> tuple[str | None, dict, Reply | tuple[int, dict] | None]:
        """The caller, body and, when Flash would refuse, the refusal: both generation
        endpoints check and spend alike."""
        user_id, refusal = self._caller(req)
        if refusal:
            return None, {}, refusal
        body = req.json() or {}
        if not isinstance(body, dict) or not body.get("query"):
            return None, {}, (422, {"detail": "query is required"})
        _cost, refusal = self._spend(user_id, body.get("preset", "balanced"))
        return user_id, body, refusal

    @route("POST", r"/api/v1/timepoints/generate/sync")
    def generate_sync(self, req: Recorded) -> Reply | tuple[int, dict]:
        if self.generate_gate is not None:
            self.generate_gate.wait(timeout=60)
        user_id, body, refusal = self._generation(req)
        return refusal or (200, self._timepoint(user_id, body))

    @route("POST", r"/api/v1/timepoints/generate/stream")
    def generate_stream(self, req: Recorded) -> Reply | tuple[int, dict]:
        user_id, body, refusal = self._generation(req)
        return refusal or Reply(200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
                                stream=self._events(user_id, body))

    def _events(self, user_id: str, body: dict) -> Iterator[bytes]:
        with self.lock:
            self.streams_started += 1
        finished = False
        try:
            yield _sse("start", {"status": "started", "sent_at": time.time()})
            if self.stream_gate is not None:
                self.stream_gate.wait(10)
            for step in range(self.stream_events):
                if self.stream_break_after is not None and step >= self.stream_break_after:
                    return
                if self.stream_interval:
                    time.sleep(self.stream_interval)
                yield _sse("progress", {"step": step + 1, "of": self.stream_events, "sent_at": time.time()})
            yield _sse("done", self._timepoint(user_id, body))
            finished = True
        finally:
            with self.lock:
                if finished:
                    self.streams_finished += 1
                else:
                    self.streams_abandoned += 1

    @route("GET", r"/api/v1/timepoints/(?P<timepoint_id>[^/]+)")
    def get_timepoint(self, req: Recorded, timepoint_id: str) -> Reply | tuple[int, dict]:
        user_id, refusal = self._caller(req)
        if refusal:
            return refusal
        with self.lock:
            timepoint = self.timepoints.get(timepoint_id)
        if timepoint is None or (timepoint["visibility"] != "public" and timepoint["owner"] != user_id):
            return 404, {"detail": "Timepoint not found"}
        return 200, timepoint

    @route("PATCH", r"/api/v1/timepoints/(?P<timepoint_id>[^/]+)/visibility")
    def set_visibility(self, req: Recorded, timepoint_id: str) -> Reply | tuple[int, dict]:
        user_id, refusal = self._caller(req)
        if refusal:
            return refusal
        body = req.json() or {}
        if body.get("visibility") not in ("public", "private"):
            return 422, {"detail": "visibility must be public or private"}
        with self.lock:
            timepoint = self.timepoints.get(timepoint_id)
            if timepoint is None or timepoint["owner"] != user_id:
                return 404, {"detail": "Timepoint not found"}
            timepoint["visibility"] = body["visibility"]
            return 200, timepoint


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
