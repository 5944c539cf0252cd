"""Simulated time as integer seconds, and the "YYYY-MM-DD HH:MM:SS" text Copernica uses.

Copernica timestamps are naive local times. The simulator counts them as seconds on a naive axis
(datetime arithmetic as if UTC, no DST jumps), which keeps every "how many events before T" question
plain integer arithmetic.
"""
from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta

DAY = 86400
_EPOCH = datetime(1970, 1, 1)
_DATE_CACHE: dict[int, str] = {}
_TS_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2})(?::(\d{1,2})(?::(\d{1,2}))?)?)?\s*$")


def to_seconds(dt: datetime) -> int:
    """Seconds on the naive axis for a naive datetime."""
    return calendar.timegm(dt.timetuple())


def to_datetime(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


def fmt(seconds: int) -> str:
    """Render seconds as Copernica's timestamp text; cached per day because pages render thousands."""
    day, rest = divmod(seconds, DAY)
    d = _DATE_CACHE.get(day)
    if d is None:
        d = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
        _DATE_CACHE[day] = d
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{d} {h:02d}:{m:02d}:{s:02d}"


def fmt_date(seconds: int) -> str:
    return fmt(seconds)[:10]


def parse(text: str) -> int | None:
    """Parse a timestamp or date (quotes allowed); None when it is not one."""
    t = text.strip().strip("'\"")
    m = _TS_RE.match(t)
    if not m:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) if g else 0 for g in m.groups())
        return to_seconds(datetime(year, month, day, hour, minute, second))
    except ValueError:
        return None


class Clock:
    """The simulated 'now' and the fixed start of the history; rates are counted from `start`."""

    def __init__(self, now: datetime, history_days: float) -> None:
        self.now = to_seconds(now)
        self.history = max(1, round(history_days * DAY))
        self.start = self.now - self.history

    def advance(self, seconds: float) -> tuple[int, int]:
        """Move forward; returns (old, new) so callers can act on the interval."""
        old = self.now
        self.now = old + max(0, round(seconds))
        return old, self.now


def mix(*values: int) -> int:
    """A fast deterministic 64-bit hash of integers (splitmix64 steps); rows are derived from it."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (v & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
        h = h * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h
