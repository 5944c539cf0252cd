"""The `fields[]=<name><op><value>` selectors and the comparisons behind them.

Copernica ignores a selector it cannot parse (for example one with spaces around the operator), so
parsing returns None for those and callers drop them silently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar
from urllib.parse import parse_qsl

OPERATORS = ("==", "!=", "<>", "<=", ">=", "=~", "!~", "<", ">")
_OP_START = re.compile(r"[=!<>]")
_FIELDS_KEY = re.compile(r"^fields(\[\d*\])?$")


@dataclass(frozen=True)
class Condition:
    field: str  # lower-cased
    op: str  # one of OPERATORS, "<>" normalised to "!="
    value: str


def parse_condition(text: str) -> Condition | None:
    """Spaces around the whole selector are stripped; a space before the operator makes the name
    unknown (ignored); a space after it stays part of the value (and then matches no text)."""
    text = text.strip()
    m = _OP_START.search(text)
    if not m or m.start() == 0:
        return None
    name, rest = text[: m.start()], text[m.start():]
    op = next((o for o in OPERATORS if rest.startswith(o)), None)
    if op is None:
        return None
    value = rest[len(op):]
    if name != name.strip() or not name:
        return None
    return Condition(name.lower(), "!=" if op == "<>" else op, value)


def query_conditions(query: list[tuple[str, str]]) -> list[Condition]:
    """All parseable fields[] selectors of a query, in order (fields[], fields[0], fields)."""
    out = []
    for key, value in query:
        if _FIELDS_KEY.match(key):
            cond = parse_condition(value)
            if cond is not None:
                out.append(cond)
    return out


def parse_query(raw: str) -> list[tuple[str, str]]:
    return parse_qsl(raw, keep_blank_values=True)


@lru_cache(maxsize=256)
def _like_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for ch in pattern:
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("^" + "".join(parts) + "$", re.IGNORECASE | re.DOTALL)


def like(pattern: str, value: str) -> bool:
    """SQL LIKE with % and _, case-insensitive as MySQL's default collation is."""
    return _like_regex(pattern).match(value) is not None


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def matches(cond: Condition, value: object) -> bool:
    """Compare one stored value with a selector: numerically when both sides are numbers,
    otherwise as case-insensitive text (how MySQL compares a string column)."""
    op, want = cond.op, cond.value
    text = "" if value is None else str(value)
    if op in ("=~", "!~"):
        hit = like(want, text)
        return hit if op == "=~" else not hit
    a, b = _as_number(text), _as_number(want)
    if a is not None and b is not None:
        return _compare(op, a, b)
    return _compare(op, text.lower(), want.lower())


_Comparable = TypeVar("_Comparable", float, str)


def _compare(op: str, left: _Comparable, right: _Comparable) -> bool:
    """Two numbers or two texts; never one of each."""
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op == "<":
        return left < right
    if op == ">":
        return left > right
    if op == "<=":
        return left <= right
    return left >= right
