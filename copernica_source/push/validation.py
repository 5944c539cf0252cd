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
from copernica_source.push.columns import ROW_COLUMN, FieldDef, RowPlan
from copernica_source.push.loaded_table import GUARD_COLUMNS, gone_reason, interest_column, interest_flag
from copernica_source.timefmt import COPERNICA_TIME

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_TEXT_BYTES = 65_535  # MySQL TEXT
MAX_PHONE = 64
_PHONE = re.compile(r"^\+?[0-9 ()./-]+$")
_INT_TEXT = re.compile(r"^[+-]?\d+$")
_CANONICAL_INT = re.compile(r"^-?(0|[1-9]\d*)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(:\d{2})?)(\.\d+)?$")
_ZONED = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)$")  # CSV exports
_OPERATOR_CHARS = "=<>!~"


@dataclass(frozen=True)
class Limit:
    """What one field type can hold. `kind` says how a value is read; the rest bound it."""

    kind: str  # integer | float | date | datetime | text
    max_bytes: int = 0  # UTF-8 bytes, 0 = no byte bound
    max_chars: int = 0  # characters, 0 = no character bound
    declared_length: bool = False  # the field's own `length` (characters) applies when it declares one
    line_breaks: bool = False  # tab, CR and LF may appear inside the value
    options: bool = False  # one of a select field's options
    email: bool = False  # the e-mail rule (copernica_source/email_address.py)
    phone: bool = False  # digits, spaces and + ( ) . / -


# Every field type's limit, in one place. A value outside it is refused on its row with the column named and
# never sent: Copernica would store it clipped, as 0, or fail the whole request.
FIELD_LIMITS: Mapping[str, Limit] = {
    "integer": Limit("integer"),  # signed 64-bit (A40)
    "foreign_key": Limit("integer"),  # signed 64-bit (A40)
    "float": Limit("float"),  # finite
    "date": Limit("date"),  # YYYY-MM-DD, a real calendar date
    "empty_date": Limit("date"),
    "datetime": Limit("datetime"),  # YYYY-MM-DD HH:MM:SS
    "empty_datetime": Limit("datetime"),
    "text": Limit("text", max_bytes=MAX_TEXT_BYTES, declared_length=True, line_breaks=True),  # `length`: A42
    "big": Limit("text", max_bytes=MAX_TEXT_BYTES, line_breaks=True),  # "large text field": MySQL TEXT (A41)
    "email": Limit("text", declared_length=True, email=True),  # the e-mail rule (at most 254) and `length` (A42)
    "phone": Limit("text", max_chars=MAX_PHONE, phone=True),
    "phone_fax": Limit("text", max_chars=MAX_PHONE, phone=True),
    "phone_gsm": Limit("text", max_chars=MAX_PHONE, phone=True),
    "select": Limit("text", max_bytes=MAX_TEXT_BYTES, options=True),
}
OTHER_TYPE_LIMIT = Limit("text", max_bytes=MAX_TEXT_BYTES, declared_length=True)  # a type this table lacks


def limit_of(fdef: FieldDef) -> Limit:
    return FIELD_LIMITS.get(fdef.type, OTHER_TYPE_LIMIT)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc
_CONTROL_NOT_BREAK = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # Cc but tab, LF, CR
_SURROGATE = re.compile("[\ud800-\udfff]")


def control_problem(text: str, line_breaks: bool = False) -> str | None:
    """Why `text` cannot be sent as it is (a control character, or not encodable as UTF-8), or None."""
    m = (_CONTROL_NOT_BREAK if line_breaks else _CONTROL).search(text)
    if m:
        name = "a NUL byte" if m.group() == "\0" else f"a control character ({m.group()!r})"
        return f"holds {name} at character {m.start() + 1}; remove it"
    m = _SURROGATE.search(text)
    if m:
        return f"holds a lone surrogate ({m.group()!r}) at character {m.start() + 1}, not text: fix the encoding"
    return None


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
    key_text = _key_text(values, plan, out, problems)
    gone = [gone_reason(c, values.get(c)) for c in plan.system_columns if c.lower() in GUARD_COLUMNS]
    interests = None
    if plan.interests_column:
        try:
            interests = parse_interests(values.get(plan.interests_column))
            unknown = undeclared_interests(interests or [], plan.declared_interests)
            if unknown:
                raise ValueError(unknown)
        except ValueError as exc:
            problems.append(f"{plan.interests_column}: {exc}")
    elif plan.interest_columns:
        interests = _flagged_interests(values, plan, problems)
    if key_text is None and values.get(plan.key_column) is not None:
        key_text = str(values[plan.key_column])  # shown in the results even when it is not valid
    reasons = [r for r in gone if r] + problems
    return CheckedRow(row_no, key_text, out, interests, "; ".join(reasons) or None)


def _key_text(values: Mapping[str, Any], plan: RowPlan, out: Mapping[str, Any], problems: list[str]) -> str | None:
    """The row's key as the selector (or the profile-ID path) will use it; a problem with it goes first."""
    if plan.by_profile_id:
        key: Any = None
        if values.get(plan.key_column) is not None and str(values[plan.key_column]).strip():
            try:
                key = _to_int(values[plan.key_column])
                if key < 1:
                    raise ValueError(f"{key} is not a profile ID (a whole number from 1)")
            except ValueError as exc:
                problems.insert(0, f"{plan.key_column}: {exc}")
                return None
    else:
        key = out.get(plan.key_field.name)
    key_text = None if key is None else str(key)
    if key_text is None or key_text == "":
        if not any(p.startswith(f"{plan.key_column}:") for p in problems):
            problems.insert(0, f"{plan.key_column}: the key is missing")
    elif not plan.by_profile_id:
        unsafe = unsafe_key_reason(key_text, plan.key_field)
        if unsafe:
            problems.insert(0, f"{plan.key_column}: {unsafe}")
    return key_text


def _flagged_interests(values: Mapping[str, Any], plan: RowPlan, problems: list[str]) -> list[str] | None:
    """Interests from `interests__<name>` booleans: the names that are true (the writer sends every declared
    interest, true as 1 and false as 0: A8), or None (all empty: interests left as they are). A row that says
    some interests and not others is rejected: whether a partial set clears the rest is not documented."""
    said: dict[str, bool] = {}
    unreadable = False
    for col, name in plan.interest_columns.items():
        try:
            flag = interest_flag(values.get(col))
        except ValueError as exc:
            problems.append(f"{col}: {exc}")
            unreadable = True
            continue
        if flag is not None:
            said[name.lower()] = flag
    if unreadable or not said:
        return None
    unsaid = [interest_column(n) for n in plan.declared_interests if n.lower() not in said]
    if unsaid:
        problems.append(f"{', '.join(unsaid)}: empty or missing while other interests are set; a row sets every "
                        "interest of the database or none")
        return None
    return [n for n in plan.declared_interests if said[n.lower()]]


class _Skip:
    pass


_SKIP = _Skip()


def convert_value(value: Any, fdef: FieldDef, tz: ZoneInfo) -> Any:
    """The value as Copernica stores it for this field type, within the type's limit (FIELD_LIMITS); ValueError
    names what is wrong and what to do."""
    limit = limit_of(fdef)
    if isinstance(value, str):
        problem = control_problem(value, limit.line_breaks and limit.kind == "text")
        if problem:
            raise ValueError(problem)
        if limit.kind != "text" and value.strip() == "":
            return _SKIP  # an empty cell in a typed column: nothing to store, leave the field alone
    if limit.kind == "integer":
        return _to_int(value)
    if limit.kind == "float":
        return _to_float(value)
    if limit.kind == "date":
        return _to_date(value)
    if limit.kind == "datetime":
        return _to_datetime(value, tz)
    text = _to_text(value)
    if not text:
        return text
    problem = control_problem(text, limit.line_breaks)
    if problem:
        raise ValueError(problem)
    if limit.email:
        problem = email_problem(text)
        if problem:
            raise ValueError(f"{_show(text)} is not an e-mail address: it {problem}")
    if limit.phone and (not _PHONE.match(text) or sum(c.isdigit() for c in text) < 3):
        raise ValueError(f"{_show(text)} is not a phone number")
    if limit.options and fdef.options and text not in fdef.options:
        raise ValueError(f"{_show(text)} is not one of the options ({', '.join(fdef.options)})")
    if limit.max_chars and len(text) > limit.max_chars:
        raise ValueError(f"{_show(text)} is {len(text)} characters long; a {fdef.type} field holds at most "
                         f"{limit.max_chars}: shorten it")
    if limit.declared_length and fdef.length and len(text) > fdef.length:
        raise ValueError(f"text of {len(text):,} characters is longer than the field's {fdef.length:,}: shorten it")
    if limit.max_bytes:
        size = len(text.encode("utf-8"))
        if size > limit.max_bytes:
            raise ValueError(f"text of {size:,} UTF-8 bytes is longer than the {limit.max_bytes:,} a {fdef.type} "
                             "field holds: shorten it")
    return text


def _show(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an integer")
    if isinstance(value, int):
        return _in_range(value, value)
    if isinstance(value, (float, Decimal)):
        if math.isfinite(value) and value == int(value):
            return _in_range(int(value), value)
        raise ValueError(f"{value!r} is not an integer")
    text = str(value).strip()
    if not _INT_TEXT.match(text):
        raise ValueError(f"{_show(text)} is not an integer")
    if len(text.lstrip("+-").lstrip("0")) > 19:  # before int(): Python refuses very long digit strings itself
        raise _out_of_range(text)
    return _in_range(int(text), text)


def _in_range(number: int, shown: Any) -> int:
    if INT64_MIN <= number <= INT64_MAX:
        return number
    raise _out_of_range(shown)


def _out_of_range(shown: Any) -> ValueError:
    return ValueError(f"{_show(str(shown))} is outside the signed 64-bit range Copernica's integer fields hold "
                      f"({INT64_MIN} to {INT64_MAX}): fix the value")


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
        return moment.strftime(COPERNICA_TIME)
    if isinstance(value, date):
        return f"{value.isoformat()} 00:00:00"
    text = str(value).strip()
    if _DATE.match(text):
        text += " 00:00:00"
    m = _DATETIME.match(text)
    try:
        if m:
            return datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}").strftime(COPERNICA_TIME)
        if _ZONED.match(text):  # an explicit offset (a CSV export of a timestamp column): into Copernica's zone
            return datetime.fromisoformat(text).astimezone(tz).strftime(COPERNICA_TIME)
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
    if limit_of(fdef).kind in ("integer", "float"):
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


def undeclared_interests(names: Sequence[str], declared: Sequence[str]) -> str | None:
    """Why a row's interests cannot be set: names the database does not declare (A36), or None. The pages do
    not say whether Copernica ignores such a name or creates the interest, so the row is not sent."""
    known = {d.lower() for d in declared}
    unknown = [n for n in names if n.lower() not in known]
    if not unknown:
        return None
    shown = ", ".join(repr(n if len(n) <= 40 else n[:37] + "...") for n in unknown[:10])
    have = f"it declares {', '.join(declared)}" if declared else "it declares none"
    return (f"{shown} {'is not an interest' if len(unknown) == 1 else 'are not interests'} of the database "
            f"({have}): fix the names, or add the interests in Copernica first")


def key_group(key: str) -> str:
    """Keys Copernica would match as one (case-insensitive text): rows of one group are written in order."""
    return key.lower()
