"""What writes accept: field maps from JSON or form bodies, typed values, interests.

Copernica stores every value as text but refuses what does not fit the field type; numbers are
truncated into integer fields and empty values become the type's empty value.
"""
from __future__ import annotations

import re
from typing import Any

from . import clock as clk
from .router import INVALID_DATA, ApiError
from .structure import FieldDef

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def coerce(f: FieldDef, value: Any) -> str:
    """The stored text for a value written to a field; ApiError when it does not fit the type."""
    if value is None:
        value = ""
    if isinstance(value, bool):
        value = "1" if value else "0"
    if isinstance(value, (dict, list)):
        raise ApiError(INVALID_DATA)
    text = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    t = f.type
    if t in ("integer", "foreign_key"):
        if text.strip() == "":
            return "0"
        try:
            return str(int(float(text)))
        except ValueError:
            raise ApiError(INVALID_DATA) from None
    if t == "float":
        if text.strip() == "":
            return "0"
        try:
            number = float(text)
        except ValueError:
            raise ApiError(INVALID_DATA) from None
        return str(int(number)) if number.is_integer() else repr(number)
    if t == "email":
        if text and not EMAIL_RE.match(text.strip()):
            raise ApiError(INVALID_DATA)
        return text.strip()
    if t in ("date", "empty_date", "datetime", "empty_datetime"):
        if text.strip() == "":
            return ""
        seconds = clk.parse(text)
        if seconds is None:
            raise ApiError(INVALID_DATA)
        return clk.fmt_date(seconds) if t.replace("empty_", "") == "date" else clk.fmt(seconds)
    return text


def field_values(defs: dict[str, FieldDef], data: Any, strict: bool = True) -> dict[str, str]:
    """A {name: value} map -> {defined name: stored text}; unknown names are ignored and names match
    case-insensitively (the last of differently cased duplicates wins). A non-map is invalid data
    when `strict`, ignored otherwise."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        if strict:
            raise ApiError(INVALID_DATA)
        return {}
    out: dict[str, str] = {}
    for key, value in data.items():
        f = defs.get(str(key).lower())
        if f is not None:
            out[f.name] = coerce(f, value)
    return out


def interest_names(known: list[str], data: Any) -> tuple[list[str], list[str]]:
    """(names to set, names to unset) from {"name": 1|0} or ["name", ...]; unknown names ignored."""
    lookup = {n.lower(): n for n in known}
    add: list[str] = []
    drop: list[str] = []
    if isinstance(data, dict):
        for key, flag in data.items():
            name = lookup.get(str(key).lower())
            if name is None:
                continue
            on = str(flag).strip().lower() not in ("0", "false", "", "no")
            (add if on else drop).append(name)
    elif isinstance(data, list):
        add = [lookup[str(k).lower()] for k in data if str(k).lower() in lookup]
    return add, drop
