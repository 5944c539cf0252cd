"""Turns a page of Copernica JSON rows into a typed Arrow table for one declared table.

Copernica sends IDs and counters as strings, timestamps as naive local-time strings, nested objects and the
odd int; every declared column gets one Arrow type here, so every batch of a table has the same schema and
dlt can skip its per-row normalizer. Keys are matched by their dlt (snake_case) name, so `ID`/`id` and
`smtp-response`/`smtp_response` are the same column. Keys the declaration does not know are kept, as text.
Empty strings, Copernica's "no value", become nulls. A value that cannot be read as its column's type is loaded
as null with one warning per page and column, naming them as `table.column` (the caller passes the table).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.data_types.typing import TDataType
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.common.schema.typing import TColumnSchema

from copernica_source.errors import UnexpectedAnswerError
from copernica_source.timefmt import COPERNICA_TIME

log = logging.getLogger("copernica_source")

TIMESTAMP = pa.timestamp("us", tz="UTC")
ColumnKind = Literal["int", "float", "str", "bool", "json", "ts", "date"]
COLUMN_KINDS: tuple[ColumnKind, ...] = get_args(ColumnKind)
ARROW_TYPES: dict[ColumnKind, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "json": pa.string(),
    "ts": TIMESTAMP,
    "date": pa.date32(),
}
_NAMING = NamingConvention()


@lru_cache(maxsize=4096)
def column_name(key: str) -> str:
    """The destination column name for an API key, as dlt's default snake_case naming makes it (a key it makes
    no name of, such as "", is refused)."""
    try:
        return _NAMING.normalize_identifier(key)
    except ValueError:
        raise UnexpectedAnswerError(f"key {key!r} gives no column name under dlt's naming; nothing was loaded and "
                                    "no cursor moved") from None


@dataclass(frozen=True)
class Column:
    """One declared column: its dlt name, its kind, and a path when it is flattened out of a nested object; `note`
    says what it holds where its name does not, `refers_to` names the `table.column` its value is the key of
    (tables.py turns both into the dlt schema's descriptions and references)."""

    name: str
    kind: ColumnKind = "str"
    path: tuple[str, ...] = ()
    note: str = ""
    refers_to: str = ""

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.kind]


@dataclass(frozen=True)
class Schema:
    """The columns of one table, in order."""

    columns: tuple[Column, ...]
    names: frozenset[str] = field(init=False)
    nested_parents: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset(c.name for c in self.columns))
        object.__setattr__(self, "nested_parents", frozenset(column_name(c.path[0]) for c in self.columns if c.path))

    def arrow(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])

    def dlt_columns(self) -> dict[str, TColumnSchema]:
        """Column hints for dlt, so the table exists with its types even before a row arrives."""
        dlt_types: dict[ColumnKind, TDataType] = {"int": "bigint", "float": "double", "str": "text", "bool": "bool",
                                                  "json": "text", "ts": "timestamp", "date": "date"}
        return {c.name: {"name": c.name, "data_type": dlt_types[c.kind], "nullable": True} for c in self.columns}


def cols(spec: str, notes: Mapping[str, str] | None = None) -> tuple[Column, ...]:
    """Compact declarations: "id:int timestamp:ts from_address.email:str emailing:int>emailings.id" -> Columns
    (dots flatten nested keys; `>table.column` names what the value is the key of). `notes` says what columns hold,
    by their column name; a note for a column not declared is a typo, refused at import."""
    out = []
    for item in spec.split():
        declared, _, refers_to = item.partition(">")
        key, _, kind = declared.partition(":")
        path = tuple(key.split(".")) if "." in key else ()
        name = "__".join(column_name(p) for p in path) if path else column_name(key)
        if refers_to and refers_to.count(".") != 1:
            raise ValueError(f"{item!r}: a reference is written >table.column")
        out.append(Column(name, column_kind(kind or "str"), path, (notes or {}).get(name, ""), refers_to))
    unknown = set(notes or {}) - {c.name for c in out}
    if unknown:
        raise ValueError(f"notes for columns not declared: {sorted(unknown)}")
    return tuple(out)


def column_kind(kind: str) -> ColumnKind:
    """A declared kind, checked: a typo in a declaration fails at import, not as text columns at load time."""
    for known in COLUMN_KINDS:
        if kind == known:
            return known
    raise ValueError(f"unknown column kind {kind!r}: one of {', '.join(COLUMN_KINDS)}")


def rows_to_arrow(
    rows: Sequence[dict[str, Any]],
    schema: Schema,
    timezone: str,
    extra: dict[str, Iterable[Any]] | None = None,
    *,
    table: str = "",
) -> pa.Table:
    """Type one page of parsed rows. `extra` adds constant or computed columns (e.g. the emailing a statistics
    row belongs to); `table`, the destination table, names the column a warning is about (`table.column`).

    Fast path: when every row has the same keys (the usual page), pyarrow converts the rows to columns in C++
    and the typing is pyarrow compute; anything irregular falls back to plain Python, column by column."""
    first = rows[0].keys() if rows else {}.keys()
    raw: pa.Table | None = None
    if all(row.keys() == first for row in rows):
        try:
            raw = pa.Table.from_pylist(list(rows))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raw = None
        present = {key: column_name(key) for key in first}
    else:
        present = {}
        for row in rows:
            for key in row:
                if key not in present:
                    present[key] = column_name(key)
    return _type_columns(present, len(rows), raw, rows, schema, timezone, extra, table)


def struct_to_arrow(data: pa.StructArray, schema: Schema, timezone: str, *, table: str = "") -> pa.Table | None:
    """Type a page that pyarrow's JSON reader parsed (no Python objects at all: the GIL stays free).

    Returns None when the page holds something only the Python path types faithfully: declared JSON columns
    (Arrow unifies their objects, adding keys a row did not have) or undeclared nested values."""
    raw = pa.Table.from_struct_array(data)
    present = {key: column_name(key) for key in raw.column_names}
    kinds = {c.name: c.kind for c in schema.columns}
    for arrow_field in raw.schema:
        nested = pa.types.is_struct(arrow_field.type) or pa.types.is_list(arrow_field.type)
        name = present[arrow_field.name]
        if nested and name not in schema.nested_parents:
            return None
        if pa.types.is_timestamp(arrow_field.type) and kinds.get(name) not in ("ts", "date"):
            return None  # text that merely looks like a time: Arrow would re-format it ("T" -> " ")
    if any(c.kind == "json" for c in schema.columns):
        return None
    return _type_columns(present, raw.num_rows, raw, None, schema, timezone, None, table)


def text_to_arrow(raw: pa.Table, schema: Schema, timezone: str, *, table: str = "") -> pa.Table:
    """Type a table of text columns (a parsed CSV file): declared columns typed, undeclared ones kept as text."""
    present = {key: column_name(key) for key in raw.column_names}
    return _type_columns(present, raw.num_rows, raw, None, schema, timezone, None, table)


def _type_columns(
    present: dict[str, str],
    n: int,
    raw: pa.Table | None,
    rows: Sequence[dict[str, Any]] | None,
    schema: Schema,
    timezone: str,
    extra: dict[str, Iterable[Any]] | None,
    table: str,
) -> pa.Table:
    """The declared columns in order, then every undeclared key as text; from Arrow columns where the page
    converted cleanly, else from the Python rows."""
    check_keys(present, schema)
    by_name = {name: key for key, name in present.items()}
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    for col in schema.columns:
        values: Any
        key = by_name.get(col.name)
        if extra and col.name in extra:
            values = list(extra[col.name])
        elif col.path:
            values = _nested(raw if col.kind != "json" else None, rows, col.path)
        elif key is None:
            values = pa.nulls(n, col.arrow_type)
        elif raw is not None and (col.kind != "json" or rows is None):
            values = raw.column(key).combine_chunks()  # JSON kinds keep the original values (rows) when there are
        else:
            values = [row.get(key) for row in rows or ()]
        arrays.append(_typed(values, col, timezone, _where(table, col.name)))
        fields.append(pa.field(col.name, col.arrow_type))
    for key, name in present.items():  # never drop what Copernica sent and we did not declare
        if name in schema.names or name in schema.nested_parents:
            continue
        values = raw.column(key).combine_chunks() if rows is None and raw is not None else [
            row.get(key) for row in rows or ()]
        # objects become JSON text, text stays as is
        arrays.append(_typed(values, Column(name, "str"), timezone, _where(table, name)))
        fields.append(pa.field(name, pa.string()))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _where(table: str, column: str) -> str:
    """How a warning names the values it is about: `table.column` (the column alone without a table)."""
    return f"{table}.{column}" if table else column


def check_keys(present: dict[str, str], schema: Schema) -> None:
    """Keys that become one column name under dlt's naming (`ID`/`id`/`Id`, `smtp-response`/`smtp_response`, a
    key shaped like a flattened column) would have one silently win, and a key named like dlt's own columns
    (`_dlt_id`, `_dlt_load_id`) would overwrite them: both are refused (Copernica's keys never start with an
    underscore; renaming would invent a column nobody can find in Copernica's pages)."""
    if len(set(present.values())) == len(present) and not any(n.startswith("_dlt") for n in present.values()):
        flattened = {c.name for c in schema.columns if c.path}
        if not flattened.intersection(present.values()):
            return
    by_name: dict[str, list[str]] = {}
    for key, name in present.items():
        by_name.setdefault(name, []).append(key)
    for name, keys in by_name.items():
        if name.startswith("_dlt"):
            raise UnexpectedAnswerError(
                f"key {keys[0]!r} is named like dlt's own column {name!r} and would overwrite it; "
                "nothing was loaded and no cursor moved")
        if len(keys) > 1 or any(c.path and c.name == name for c in schema.columns):
            listed = ", ".join(repr(k) for k in keys)
            raise UnexpectedAnswerError(
                f"keys {listed} all become column {name!r} under dlt's naming"
                + (" (the flattened nested value of that name)" if len(keys) == 1 else "")
                + "; one would silently win, so nothing was loaded and no cursor moved")


def _nested(raw: pa.Table | None, rows: Sequence[dict[str, Any]] | None, path: tuple[str, ...]) -> Any:
    """A value inside a nested object, as an Arrow column when the page converted cleanly, else a list."""
    if raw is not None and path[0] in raw.column_names:
        column = raw.column(path[0]).combine_chunks()
        try:
            for part in path[1:]:
                column = pc.struct_field(column, part)
            return column
        except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError, TypeError, NotImplementedError):
            pass
    if rows is None:  # Arrow-only page without that nested key
        return pa.nulls(raw.num_rows if raw is not None else 0)
    return [_dig(row, path) for row in rows]


def _dig(row: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = row
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _typed(values: Any, col: Column, timezone: str, where: str) -> pa.Array:
    """One column to its declared type: pyarrow compute on Arrow input, Python for what compute cannot take.
    `where` (`table.column`) names the column in warnings (errors are prefixed with the page by the engine)."""
    if isinstance(values, pa.Array):
        if values.type == col.arrow_type and col.kind not in ("str", "ts", "date"):
            return values
        if pa.types.is_null(values.type):
            return pa.nulls(len(values), col.arrow_type)
        if col.kind in ("str", "ts", "date") and pa.types.is_string(values.type):
            return _typed_text(values, col, timezone, where)
        if col.kind == "ts" and pa.types.is_timestamp(values.type) and values.type.tz is None:
            return _assume_local(values, timezone)  # pyarrow's JSON reader parsed the text already
        numeric = pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
        if col.kind in ("int", "float") and (pa.types.is_string(values.type) or numeric):
            try:
                source = empty_as_null(values) if pa.types.is_string(values.type) else values
                return pc.cast(source, col.arrow_type)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                pass
        values = values.to_pylist()
    kind = col.kind
    if kind in ("str", "ts", "date"):
        try:
            text = pa.array(values, pa.string())
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            if kind != "str":
                _refuse(values, col)
            text = pa.array([_as_text(v) for v in values], pa.string())
        return _typed_text(text, col, timezone, where)
    if kind == "json":
        return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string())
    if kind == "int":
        return _ints(values, col.name, where)
    if kind == "float":
        try:
            return _cast_numbers(values, pa.float64())
        except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
            _refuse(values, col)
            floats = [_as_float(v) for v in values]
            _warn_unread(where, "value(s) are not numbers",
                         [v for v, f in zip(values, floats, strict=True) if f is None and v not in (None, "")])
            return pa.array(floats, pa.float64())
    if kind == "bool":
        try:
            return pa.array(values, pa.bool_())
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            _refuse(values, col)
            truths = [_as_bool(v) for v in values]
            _warn_unread(where, "value(s) are not truth values",
                         [v for v, t in zip(values, truths, strict=True) if t is None and v not in (None, "")])
            return pa.array(truths, pa.bool_())
    raise ValueError(f"unknown column kind {kind!r}")


def _typed_text(text: pa.Array, col: Column, timezone: str, where: str) -> pa.Array:
    text = empty_as_null(text)
    if col.kind == "ts":
        return local_timestamps(text, timezone, where)
    if col.kind == "date":
        day = pc.strptime(pc.utf8_slice_codeunits(text, 0, 10), format="%Y-%m-%d", unit="s", error_is_null=True)
        if day.null_count != text.null_count:  # zero dates are Copernica's "no value"
            _warn_unread(where, "date value(s) could not be read",
                         [v for v in _unparsed(text, day) if not v.startswith("0000-00-00")])
        return day.cast(pa.date32())
    return text


def empty_as_null(text: pa.Array) -> pa.Array:
    """Copernica writes "" for "no value"; a null keeps it so in every destination (CSV loaders cannot tell them
    apart)."""
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def local_timestamps(text: pa.Array, timezone: str, where: str) -> pa.Array:
    """Parse Copernica's naive "YYYY-MM-DD HH:MM:SS" (local time in `timezone`) into UTC timestamps.

    Zero dates ("0000-00-00 00:00:00"), empty strings and `false` (a live profile's `removed`) become nulls, as
    they mean "no value" in Copernica. `true` (a yes without a time: for `removed`, removed at an unknown time)
    and anything else unreadable become nulls with a warning naming `where` (`table.column`).
    """
    naive = pc.strptime(text, format=COPERNICA_TIME, unit="s", error_is_null=True)
    missing = pc.and_(pc.is_null(naive), pc.is_valid(text))
    if pc.any(missing).as_py():  # ISO "T" times, and date-only values ("2024-01-31") as midnight local time
        for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
            naive = pc.coalesce(naive, pc.strptime(text, format=fmt, unit="s", error_is_null=True))
        left = [v for v in _unparsed(text, naive) if not v.startswith("0000-00-00") and v != "false"]
        yes = sum(1 for v in left if v == "true")
        if yes:  # the column cannot hold "at an unknown time"; see docs/assumptions.md A47
            log.warning("%s: %d value(s) are `true`, a yes without a time (for `removed`: removed at an unknown "
                        "time), and were loaded as null", where, yes)
        _warn_unread(where, "time value(s) could not be read", [v for v in left if v != "true"])
    return _assume_local(naive, timezone)


def _unparsed(text: pa.Array, parsed: pa.Array) -> list[str]:
    """The texts a parse made null (nulls in `text` excepted)."""
    unread: list[str] = pc.filter(text, pc.and_(pc.is_null(parsed), pc.is_valid(text))).to_pylist()
    return unread


def _warn_unread(where: str, what: str, unread: Sequence[Any]) -> None:
    """One warning for a page's values of one column loaded as null because they could not be read:
    `html_clicks.timestamp: 3 time value(s) could not be read and were loaded as null, e.g. 'abc'`."""
    if unread:
        shown = repr(unread[0])
        shown = shown if len(shown) <= 40 else f"{shown[:37]}..."
        log.warning("%s: %d %s and were loaded as null, e.g. %s", where, len(unread), what, shown)


def _assume_local(naive: pa.Array, timezone: str) -> pa.Array:
    offset = _one_offset(naive, timezone)
    if offset is not None:  # the usual page or logfile: no clock change inside it, one subtraction
        as_int = naive.cast(pa.timestamp("s")).cast(pa.int64())
        return pc.subtract(as_int, offset).cast(pa.timestamp("s")).cast(TIMESTAMP)
    aware = pc.assume_timezone(naive, timezone=timezone, ambiguous="earliest", nonexistent="latest")
    return aware.cast(TIMESTAMP)


def _one_offset(naive: pa.Array, timezone: str) -> int | None:
    """The zone's UTC offset in seconds when it is the same, and unambiguous, at both ends of the values and they
    lie within two weeks (no clock change fits twice in between); None otherwise (pyarrow's per-value path, ~10x
    slower, decides)."""
    bounds = pc.min_max(naive)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low is None or high is None or (high - low).days > 14:
        return None
    zone = _zone(timezone)
    offsets = {moment.replace(tzinfo=zone, fold=fold).utcoffset() for moment in (low, high) for fold in (0, 1)}
    only = offsets.pop() if len(offsets) == 1 else None
    return None if only is None else int(only.total_seconds())


@lru_cache(maxsize=64)
def _zone(timezone: str) -> ZoneInfo:
    return ZoneInfo(timezone)


def _ints(values: list[Any], name: str, where: str) -> pa.Array:
    try:
        return _cast_numbers(values, pa.int64())  # a safe cast: 3.0 -> 3, while 1.5 is refused (never truncated)
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
        pass
    try:
        text = pa.array(values, pa.string())
        return pc.cast(pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text), pa.int64())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    _refuse(values, Column(name, "int"))
    out: list[int | None] = []
    unread: list[Any] = []
    for v in values:
        try:
            if isinstance(v, float) and not v.is_integer():
                raise ValueError(v)  # int(1.5) would truncate
            out.append(None if v is None or v == "" else int(v))
        except (TypeError, ValueError, OverflowError):
            try:
                number = float(v)
            except (TypeError, ValueError):
                number = float("nan")
            if number.is_integer():  # "3.0"
                out.append(int(number))
            else:  # "x3", "1.9": not an integer; never guess
                out.append(None)
                unread.append(v)
    wide = next((v for v in out if v is not None and not INT64_MIN <= v <= INT64_MAX), None)
    if wide is not None:
        shown = f"{str(wide)[:24]}..." if len(str(wide)) > 24 else str(wide)
        raise UnexpectedAnswerError(f"column {name}: {shown} does not fit a 64-bit integer; nothing was loaded "
                                    "and no cursor moved")
    _warn_unread(where, "value(s) are not integers", unread)
    return pa.array(out, pa.int64())


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _cast_numbers(values: list[Any], to: pa.DataType) -> pa.Array:
    """Numbers (JSON ints and floats, nulls) to `to` by a safe cast; raises for anything else (text, booleans:
    pyarrow would take True as 1)."""
    inferred = pa.array(values)
    if not (pa.types.is_integer(inferred.type) or pa.types.is_floating(inferred.type)
            or pa.types.is_null(inferred.type)):
        raise pa.ArrowInvalid(f"not numbers: {inferred.type}")
    return pc.cast(inferred, to)


def _refuse(values: Iterable[Any], col: Column) -> None:
    """A JSON object or array where a number, time or truth value is declared (or a boolean where a number is) is
    no value of that type written oddly, as "12" or "" are: the answer is broken, so the run stops."""
    numeric = col.kind in ("int", "float")
    for v in values:
        if isinstance(v, (dict, list)) or (numeric and isinstance(v, bool)):
            kind = "a boolean" if isinstance(v, bool) else "an object" if isinstance(v, dict) else "an array"
            raise UnexpectedAnswerError(
                f"column {col.name}: {kind} where {'an' if col.kind == 'int' else 'a'} {col.kind} value is declared; "
                "nothing was loaded and no cursor moved")


def _as_text(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (dict, list)):
        return orjson.dumps(v).decode()
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _as_float(v: Any) -> float | None:
    if v is None or v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


_TRUE = frozenset({"1", "true", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "no", "n", "off"})


def _as_bool(v: Any) -> bool | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return bool(v)
    text = str(v).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    return None  # the caller warns once for the column
