"""Injected trouble: what the live API and its load balancer do under pressure.

The draw is seeded and lock-protected so a run with the same seed and the same request order sees
the same faults.
"""
from __future__ import annotations

import random
import threading
from collections import deque

import orjson

LOADBALANCER_503 = (b"<html><head><title>503 Service Unavailable</title></head><body>"
                    b"<h1>Loadbalancer Error</h1><p>The server has too many requests to handle. "
                    b"Please try again later.</p></body></html>")
HTML_BODIES = {
    502: b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
    503: LOADBALANCER_503,
    504: b"<html><head><title>504 Gateway Time-out</title></head><body><h1>Loadbalancer Error</h1>"
         b"<p>The upstream server did not answer in time.</p></body></html>",
}
TOO_MANY = orjson.dumps({"error": {"message": "Too many requests"}})
SLOW_EXTRA_S = 1.5
AFTER_WRITE = ("drop", "truncate")  # on writes these strike after the data changed
# Faults a test can arm for the next log file downloads: "cut" (a Content-Length, then the connection closes
# halfway through the body), "corrupt" (the middle row broken, the rest intact), and the kinds of the draw.
ARMABLE = ("cut", "corrupt", "429", "503", "502", "504", "drop", "truncate", "slow")


class Faults:
    def __init__(self, seed: int, rate: float, kinds: tuple[str, ...]) -> None:
        self._rng = random.Random(seed * 7919 + 17)
        self._lock = threading.Lock()
        self.rate = rate
        self.kinds = tuple(kinds)
        self._armed: deque[str] = deque()

    def configure(self, rate: float, kinds: tuple[str, ...] | None = None) -> None:
        with self._lock:
            self.rate = rate
            if kinds is not None:
                self.kinds = tuple(kinds)

    def arm(self, kind: str, times: int = 1) -> None:
        """Queue `kind` for the next `times` log file downloads (after any armed before)."""
        if kind not in ARMABLE:
            raise ValueError(f"unknown download fault {kind!r}; valid: {', '.join(ARMABLE)}")
        with self._lock:
            self._armed.extend([kind] * times)

    def take_armed(self) -> str | None:
        """The fault armed for this download, if any (first armed, first served)."""
        with self._lock:
            return self._armed.popleft() if self._armed else None

    def armed(self) -> list[str]:
        with self._lock:
            return list(self._armed)

    def draw(self) -> str | None:
        with self._lock:
            if self.rate <= 0 or not self.kinds:
                return None
            if self._rng.random() >= self.rate:
                return None
            return self._rng.choice(self.kinds)


class Latency:
    def __init__(self, seed: int, ms: float, jitter_ms: float) -> None:
        self._rng = random.Random(seed * 31 + 5)
        self._lock = threading.Lock()
        self.ms = ms
        self.jitter_ms = jitter_ms

    def configure(self, ms: float, jitter_ms: float = 0.0) -> None:
        with self._lock:
            self.ms, self.jitter_ms = ms, jitter_ms

    def seconds(self) -> float:
        with self._lock:
            if self.ms <= 0 and self.jitter_ms <= 0:
                return 0.0
            return max(0.0, self.ms + self._rng.uniform(-self.jitter_ms, self.jitter_ms)) / 1000.0
