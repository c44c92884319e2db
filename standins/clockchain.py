"""Clockchain's browse/search graph (CONTRACT.md §4): answers each route with what
it was asked, so tests can see exactly which path and query arrived."""

from __future__ import annotations

from .base import Recorded, Reply, StandIn, route


class Clockchain(StandIn):
    name = "clockchain"

    def __init__(self, port: int = 0, service_key: str = "clockchain-service-key") -> None:
        self.service_key = service_key
        super().__init__(port)

    def reset_state(self) -> None:
        self.reply_headers: dict[str, str] = {}  # extra headers on every answer

    def _check(self, req: Recorded) -> Reply | None:
        if req.headers.get("x-service-key") != self.service_key:
            return Reply(401, {"detail": "Invalid or missing service key"})
        return None

    def _answer(self, req: Recorded, kind: str, **fields: str) -> Reply:
        refusal = self._check(req)
        if refusal:
            return refusal
        if any(str(v).startswith("missing") for v in fields.values()):
            return Reply(404, {"detail": f"No {kind} here"})
        return Reply(200, {"kind": kind, "path": req.path, "query": req.raw_query, **fields,
                           "items": [{"id": "m1", "title": "The fall of Constantinople", "year": 1453}]},
                     headers=dict(self.reply_headers))

    @route("GET", r"/api/v1/moments/(?P<path>.+)")
    def moments(self, req: Recorded, path: str) -> Reply:
        return self._answer(req, "moment", moment_path=path)

    @route("GET", r"/api/v1/browse/(?P<path>.+)")
    def browse(self, req: Recorded, path: str) -> Reply:
        return self._answer(req, "browse", browse_path=path)

    @route("GET", r"/api/v1/browse")
    def browse_root(self, req: Recorded) -> Reply:
        return self._answer(req, "browse")

    @route("GET", r"/api/v1/today")
    def today(self, req: Recorded) -> Reply:
        return self._answer(req, "today")

    @route("GET", r"/api/v1/search")
    def search(self, req: Recorded) -> Reply:
        return self._answer(req, "search", q=req.query.get("q", [""])[0])

    @route("GET", r"/api/v1/graph/neighbors/(?P<node>.+)")
    def neighbors(self, req: Recorded, node: str) -> Reply:
        return self._answer(req, "neighbors", node=node)
