"""Typed checks of profile rows against a Copernica database's field definitions, before anything is written.

Copernica silently ignores unknown fields and stores whatever text it gets, so a typo in a column name or a
word in an integer field would vanish or corrupt data without an error. Checking here turns each of those into
a clear reason on the row (or one error for the whole input), and builds the exact body that will be sent.
A key value that Copernica's `fields[]=key==value` selector could match wrongly is rejected, never guessed at.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from copernica_source.email_address import email_problem
from copernica_source.errors import ConfigurationError

ROW_COLUMN = "_row"  # input row number, added by push-profiles; never a field
INTEGER_TYPES = frozenset({"integer", "foreign_key"})
TEXT_TYPES = frozenset({"text", "email", "phone_fax", "phone_gsm", "select", "big"})
_PHONE = re.compile(r"^\+?[0-9 ()./-]+$")
_INT_TEXT = re.compile(r"^[+-]?\d+$")
_CANONICAL_INT = re.compile(r"^-?(0|[1-9]\d*)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(:\d{2})?)(\.\d+)?$")
_OPERATOR_CHARS = "=<>!~"


class ProfileValidationError(ConfigurationError):
    """The input as a whole cannot be pushed (unknown columns, missing key column): nothing was written."""


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    length: int = 0
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Database:
    id: int
    name: str
    fields: Mapping[str, FieldDef]  # by lower-cased name: Copernica matches field names case-insensitively
    interests: tuple[str, ...] = ()  # every interest the database declares






def field_def(f: Mapping[str, Any]) -> FieldDef:
    ftype = str(f.get("type") or "text").lower()
    try:
        length = int(f.get("length") or 0)
    except (TypeError, ValueError):
        length = 0
    options: tuple[str, ...] = ()
    if ftype == "select":  # a select field's `value` holds its options, one per line
        options = tuple(o.strip() for o in str(f.get("value") or "").splitlines() if o.strip())
    return FieldDef(str(f["name"]), ftype, length, options)


@dataclass(frozen=True)
class RowPlan:
    """Which input columns go where: field columns (input name -> Copernica field), the key, interests."""

    fields: Mapping[str, FieldDef]
    key_column: str
    key_field: FieldDef
    interests_column: str | None
    ignored: tuple[str, ...]


def plan_columns(
    columns: Sequence[str],
    db: Database,
    key: str,
    interests_column: str | None = None,
    ignore_unknown_columns: bool = False,
) -> RowPlan:
    """Check the input's columns against the database before any write; unknown ones are an error that lists them."""
    by_lower = {c.lower(): c for c in columns}
    key_column = by_lower.get(key.lower())
    if key_column is None:
        raise ProfileValidationError(f"key column {key!r} is not in the input (columns: {', '.join(columns)})")
    key_field = db.fields.get(key.lower())
    if key_field is None:
        raise ProfileValidationError(
            f"key {key!r} is not a field of database {db.name!r} ({db.id}); a selector on an unknown field "
            f"would match every profile. Fields: {', '.join(sorted(f.name for f in db.fields.values()))}"
        )
    if interests_column and interests_column not in columns:
        raise ProfileValidationError(f"interests column {interests_column!r} is not in the input")
    fields: dict[str, FieldDef] = {}
    unknown: list[str] = []
    for col in columns:
        if col in (ROW_COLUMN, interests_column):
            continue
        fdef = db.fields.get(col.lower())
        if fdef is None:
            unknown.append(col)
        else:
            fields[col] = fdef
    if unknown and not ignore_unknown_columns:
        raise ProfileValidationError(
            f"{len(unknown)} column(s) are not fields of database {db.name!r} ({db.id}): {', '.join(unknown)}. "
            "Rename them (--map src=dst), drop them, or pass --ignore-unknown-columns"
        )
    return RowPlan(fields, key_column, key_field, interests_column, tuple(unknown))


@dataclass
class CheckedRow:
    """A row ready to send (`reason` None), or rejected with its reason (never sent)."""

    row: int | None
    key: str | None
    fields: dict[str, Any]
    interests: list[str] | None
    reason: str | None = None


def check_row(values: Mapping[str, Any], plan: RowPlan, timezone: str = "Europe/Amsterdam") -> CheckedRow:
    """Convert and check one row; every problem of the row is named in `reason`."""
    row = values.get(ROW_COLUMN)
    row_no = int(row) if row is not None else None
    problems: list[str] = []
    out: dict[str, Any] = {}
    tz = ZoneInfo(timezone)
    for col, fdef in plan.fields.items():
        value = values.get(col)
        if value is None:
            continue  # null = leave the field as it is in Copernica
        try:
            converted = convert_value(value, fdef, tz)
        except ValueError as exc:
            problems.append(f"{col}: {exc}")
            continue
        if converted is not _SKIP:
            out[fdef.name] = converted
    key = out.get(plan.key_field.name)
    key_text = None if key is None else str(key)
    if key_text is None or key_text == "":
        if not any(p.startswith(f"{plan.key_column}:") for p in problems):
            problems.insert(0, f"{plan.key_column}: the key is missing")
    else:
        unsafe = unsafe_key_reason(key_text, plan.key_field)
        if unsafe:
            problems.insert(0, f"{plan.key_column}: {unsafe}")
    interests = None
    if plan.interests_column:
        try:
            interests = parse_interests(values.get(plan.interests_column))
        except ValueError as exc:
            problems.append(f"{plan.interests_column}: {exc}")
    if key_text is None and values.get(plan.key_column) is not None:
        key_text = str(values[plan.key_column])  # shown in the results even when it is not valid
    return CheckedRow(row_no, key_text, out, interests, "; ".join(problems) or None)


class _Skip:
    pass


_SKIP = _Skip()


def convert_value(value: Any, fdef: FieldDef, tz: ZoneInfo) -> Any:
    """The value as Copernica stores it for this field type; ValueError names what is wrong."""
    ftype = fdef.type
    if isinstance(value, str) and ftype not in TEXT_TYPES and value.strip() == "":
        return _SKIP  # an empty cell in a typed column: nothing to store, leave the field alone
    if ftype in INTEGER_TYPES:
        return _to_int(value)
    if ftype == "float":
        return _to_float(value)
    if ftype in ("date", "empty_date"):
        return _to_date(value)
    if ftype in ("datetime", "empty_datetime"):
        return _to_datetime(value, tz)
    text = _to_text(value)
    problem = email_problem(text) if ftype == "email" and text else None
    if problem:
        raise ValueError(f"{_show(text)} is not an e-mail address: it {problem}")
    if ftype in ("phone_fax", "phone_gsm") and text and (not _PHONE.match(text) or sum(c.isdigit() for c in text) < 3):
        raise ValueError(f"{_show(text)} is not a phone number")
    if ftype == "select" and text and fdef.options and text not in fdef.options:
        raise ValueError(f"{_show(text)} is not one of the options ({', '.join(fdef.options)})")
    if ftype == "text" and fdef.length and len(text) > fdef.length:
        raise ValueError(f"text of {len(text)} characters is longer than the field's {fdef.length}")
    return text


def _show(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, (float, Decimal)):
        if math.isfinite(value) and value == int(value):
            return int(value)
        raise ValueError(f"{value!r} is not an integer")
    text = str(value).strip()
    if _INT_TEXT.match(text):
        return int(text)
    raise ValueError(f"{_show(text)} is not an integer")


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"{_show(str(value))} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _to_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if _DATE.match(text):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise ValueError(f"{_show(text)} is not a date (YYYY-MM-DD)")


def _to_datetime(value: Any, tz: ZoneInfo) -> str:
    if isinstance(value, datetime):
        moment = value.astimezone(tz).replace(tzinfo=None) if value.tzinfo else value
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return f"{value.isoformat()} 00:00:00"
    text = str(value).strip()
    if _DATE.match(text):
        text += " 00:00:00"
    m = _DATETIME.match(text)
    if m:
        try:
            moment = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}")
            return moment.strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            pass
    raise ValueError(f"{_show(str(value))} is not a date-time (YYYY-MM-DD HH:MM:SS)")


def _to_text(value: Any) -> str:
    if isinstance(value, float) and value == int(value) and math.isfinite(value):
        return str(int(value))
    if isinstance(value, (list, dict, bytes)):
        raise ValueError(f"a {type(value).__name__} is not text")
    return str(value).strip()


def unsafe_key_reason(key: str, fdef: FieldDef) -> str | None:
    """Why `fields[]=<key>==<value>` could select the wrong profiles for this value, or None when it is safe.

    Copernica (and the simulator) compare numerically when both sides look like numbers ("007" == "7",
    "1e3" == "1000"), ignore a selector whose value starts with a space, and parse operators greedily, so a
    value starting with an operator character is ambiguous. Such keys are rejected instead of risking an
    update of somebody else's profile."""
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        return "the key contains control characters (line breaks, tabs) and cannot be matched safely"
    if key != key.strip():
        return "the key starts or ends with spaces, which breaks Copernica's selector"
    if key[0] in _OPERATOR_CHARS:
        return f"the key starts with {key[0]!r}, which Copernica's selector would read as part of the operator"
    if fdef.type in INTEGER_TYPES or fdef.type == "float":
        return None  # already converted to a canonical number
    if not _CANONICAL_INT.match(key) and _looks_numeric(key):
        return (f"the key {key!r} looks like a number but is not written canonically; Copernica compares numbers "
                "by value, so it could match another profile (e.g. '007' matches '7')")
    return None


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_interests(value: Any) -> list[str] | None:
    """Interests from a list column or a comma-separated text column; None leaves them as they are."""
    if value is None:
        return None
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise ValueError(f"interests must be a list or comma-separated text, not {type(value).__name__}")
    return [str(i).strip() for i in items if i is not None and str(i).strip()]


def key_group(key: str) -> str:
    """Keys Copernica would match as one (case-insensitive text): rows of one group are written in order."""
    return key.lower()
