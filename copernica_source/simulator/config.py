"""Simulator settings and the records it keeps of what clients did.

One frozen dataclass so a test can describe a whole simulated account in one call, and two small
record types so tests can assert on the traffic a client produced (requests) and on its side effects
(writes) without parsing server logs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .quirks import Quirks, parse_quirks

ALL_FAULT_KINDS: tuple[str, ...] = ("429", "503", "502", "504", "drop", "truncate", "slow")


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes the simulated account; same config + same seed = same data."""

    seed: int = 1
    events: int = 10_000
    emailings: int = 40
    destinations_per_emailing: int = 200
    databases: int = 2
    profiles: int = 2_000
    history_days: float = 180
    now: datetime = datetime(2026, 1, 1, 0, 0, 0)
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = ALL_FAULT_KINDS
    access_token: str = "sim-access-token"
    jwt_lifetime_s: float = 86400
    prefixes: str = "both"
    datarequest_delay_s: float = 2.0
    datarequest_expiry_s: float = 3600.0
    host: str = "127.0.0.1"
    port: int = 0
    quirks: str = "literal"  # see quirks.py: a profile (literal|lenient|strict) and/or name=value overrides
    timezone: str = "Europe/Amsterdam"  # the account's zone: its days and the logfile_time_zone=utc conversion
    logfile_part_rows: int = 50_000  # rows per log file part under the logfile_split=parts quirk

    def __post_init__(self) -> None:
        if isinstance(self.quirks, Quirks):  # a Quirks object is accepted and kept as its spec
            object.__setattr__(self, "quirks", self.quirks.spec())
        parse_quirks(self.quirks)  # ValueError on an unknown profile, switch or value
        if self.prefixes not in ("current", "legacy", "both"):
            raise ValueError(f"prefixes must be 'current', 'legacy' or 'both', not {self.prefixes!r}")
        kinds = tuple(self.fault_kinds)
        unknown = [k for k in kinds if k not in ALL_FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {ALL_FAULT_KINDS}")
        object.__setattr__(self, "fault_kinds", kinds)
        if self.emailings < 1:
            raise ValueError("emailings must be at least 1 (events point at emailings)")
        if self.destinations_per_emailing < 1 or self.profiles < 1:
            raise ValueError("destinations_per_emailing and profiles must be at least 1")
        if not 1 <= self.databases <= 2:
            raise ValueError("databases must be 1 or 2")
        if self.history_days <= 0:
            raise ValueError("history_days must be positive")
        if self.events < 0:
            raise ValueError("events must be >= 0")
        if self.logfile_part_rows < 1:
            raise ValueError("logfile_part_rows must be at least 1")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r} (an IANA name, e.g. Europe/Amsterdam)") from None


@dataclass
class RequestRecord:
    """One request as it arrived; status 0 means the connection was dropped without an answer."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int = 0
    fault: str | None = None


@dataclass
class WriteRecord:
    """One POST/PUT/DELETE that reached the data (recorded even when a fault hid the answer)."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    created_id: str | None = None
