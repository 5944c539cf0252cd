"""GDPR data requests: created at once, 'pending' for a while (wall clock), then 'available',
and 'not available' again once expired, as the data request pages describe."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .clock import mix

PENDING_TEXT = "Data not available (yet)"


@dataclass
class DataRequest:
    id: str
    type: str  # profile | subprofile | email
    target: str
    report: str | None
    created: float
    data: bytes = b""


class DataRequests:
    def __init__(self, seed: int, delay_s: float, expiry_s: float,
                 build: Callable[[str, str], list[list[Any]]]) -> None:
        self.seed = seed
        self.delay_s = delay_s
        self.expiry_s = expiry_s
        self.build = build  # (type, target) -> rows of the data file
        self.requests: dict[str, DataRequest] = {}

    def create(self, kind: str, target: str, report: str | None) -> DataRequest:
        n = len(self.requests) + 1
        rid = f"{mix(self.seed, n, 42):016x}{n:08x}"
        req = DataRequest(rid, kind, target, report, time.time())
        self.requests[rid] = req
        return req

    def state(self, rid: str) -> str:
        req = self.requests.get(rid)
        if req is None:
            return "not available"
        age = time.time() - req.created
        if age >= self.expiry_s:
            return "not available"
        return "available" if age >= self.delay_s else "pending"

    def content(self, rid: str) -> bytes:
        """The data file (built once, when first asked for after it became available)."""
        req = self.requests[rid]
        if not req.data:
            info: dict[str, Any] = {"type": req.type, "id": req.target}
            req.data = orjson.dumps({"info": info, "data": self.build(req.type, req.target)})
        return req.data

    def status(self, rid: str) -> dict[str, Any]:
        state = self.state(rid)
        available = len(self.content(rid)) if state == "available" else 0
        return {"status": state, "available": available, "content-type": "application/json"}
