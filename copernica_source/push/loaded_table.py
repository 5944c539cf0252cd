"""A loaded `profiles_<database>` table as push input, so "load, fix in SQL, push back" is one round trip.

The loader (profiles.py:_schema) names a field's column with dlt's snake_case naming (`FirstName` ->
`first_name`), as `fields__<name>` when that name is taken by a system column (a field called `modified` is
`fields__modified`), and an interest's as the boolean `interests__<snake_case name>`; it adds the system columns
(`id`, `database`, `secret`, `created`, `modified`, `removed`, `deleted`) and dlt may add `_dlt_*` columns. This
module reads those names back: which input columns are fields, which interests, and which the loader's own.
Pure (names in, names out); tests/test_push_roundtrip.py checks it against the loader's own schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dlt.common.normalizers.naming.snake_case import NamingConvention

SYSTEM_COLUMNS = ("id", "database", "secret", "created", "modified", "removed", "deleted")  # profiles.py:_schema
GUARD_COLUMNS = ("deleted", "removed")  # a row that says the profile is gone is never pushed (it would come back)
DLT_PREFIX = "_dlt_"
FIELDS_PREFIX = "fields__"
INTERESTS_PREFIX = "interests__"
_NAMING = NamingConvention()  # the loader's (arrow_rows.column_name): dlt's default snake_case


def loaded_name(name: str) -> str:
    """The loader's column name part for a field or interest name ("" when dlt makes no name of it)."""
    try:
        return _NAMING.normalize_identifier(name)
    except ValueError:
        return ""


def interest_column(name: str) -> str:
    """The boolean column the loader gives an interest."""
    return INTERESTS_PREFIX + loaded_name(name)


def field_columns(fields: Sequence[str], interests: Sequence[str]) -> dict[str, str]:
    """Loaded column -> field, named exactly as profiles.py:_schema names them (fields in the database's order)."""
    taken = set(SYSTEM_COLUMNS) | {interest_column(i) for i in interests}
    out: dict[str, str] = {}
    for field in fields:
        col = loaded_name(field)
        if col in taken:
            col = FIELDS_PREFIX + col
        taken.add(col)
        out[col] = field
    return out


@dataclass(frozen=True)
class ColumnRoles:
    """What each input column is. `problems` are whole-input errors (a field held by two columns, a column that
    names two interests); `unknown` columns are none of the others."""

    fields: dict[str, str]  # input column -> field name (as the database spells it)
    interests: dict[str, str]  # input column -> interest name (as the database spells it)
    system: tuple[str, ...]  # the loader's own columns: left out, never sent
    unknown: tuple[str, ...]
    problems: tuple[str, ...]


def classify(columns: Sequence[str], fields: Sequence[str], interests: Sequence[str],
             every_column: Sequence[str] = ()) -> ColumnRoles:
    """Sort input columns into fields, interests, system columns and unknown ones.

    In order: a system column's name is the system column, unless the database has a field of that name and the
    input has no `fields__<name>` column (then it is the field, as before: a CSV column `modified` for a real
    field `modified`); a field's own name (case-insensitively) is that field, as it always was; the loader's
    name of a field (`first_name`, `fields__modified`) is that field; `_dlt_*` is dlt's; `interests__<name>` is
    that interest. `every_column` (columns the caller left out of `columns`, e.g. all-null ones of a batch) count
    for the `fields__<name>` rule only."""
    present = {c.lower() for c in (*columns, *every_column)}
    by_lower = {f.lower(): f for f in fields}
    loaded = field_columns(fields, interests)
    by_interest_column: dict[str, list[str]] = {}
    for name in interests:
        for col in {interest_column(name), INTERESTS_PREFIX + name.lower()}:
            by_interest_column.setdefault(col, []).append(name)
    out_fields: dict[str, str] = {}
    out_interests: dict[str, str] = {}
    system: list[str] = []
    unknown: list[str] = []
    problems: list[str] = []
    for col in columns:
        low = col.lower()
        if low in SYSTEM_COLUMNS and (low not in by_lower or FIELDS_PREFIX + loaded_name(col) in present):
            system.append(col)
        elif low in by_lower:
            out_fields[col] = by_lower[low]
        elif low in loaded:
            out_fields[col] = loaded[low]
        elif low.startswith(DLT_PREFIX):
            system.append(col)
        elif low.startswith(INTERESTS_PREFIX) and low in by_interest_column:
            names = sorted(set(by_interest_column[low]))
            if len(names) > 1:
                problems.append(f"column {col} matches the interests {', '.join(names)} (their names differ only "
                                "in case or punctuation): give the interests with --interests instead")
            else:
                out_interests[col] = names[0]
        else:
            unknown.append(col)
    problems += _shared(out_fields, "field") + _shared(out_interests, "interest")
    return ColumnRoles(out_fields, out_interests, tuple(system), tuple(unknown), tuple(problems))


def _shared(columns: dict[str, str], what: str) -> list[str]:
    """Two columns for one field (or interest): which one wins would be an accident of column order."""
    by_target: dict[str, list[str]] = {}
    for col, target in columns.items():
        by_target.setdefault(target.lower(), []).append(col)
    return [f"columns {' and '.join(cols)} both hold the {what} {columns[cols[0]]}: keep one"
            for cols in by_target.values() if len(cols) > 1]


_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")


def interest_flag(value: object) -> bool | None:
    """An `interests__<name>` cell: true (has the interest), false (has it not), None (empty: not said).
    ValueError for anything else: a flag that is neither must not become a guess."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
    shown = repr(value if not isinstance(value, str) or len(value) <= 40 else value[:37] + "...")
    raise ValueError(f"{shown} is not true or false")


def gone_reason(column: str, value: object) -> str | None:
    """Why a row whose `deleted`/`removed` cell says the profile is gone is not pushed, or None."""
    if value is None or value is False:
        return None
    if isinstance(value, str) and value.strip().lower() in ("", *_FALSE):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return None
    return (f"{column}: the loaded row says this profile is gone from Copernica ({column} = {value}); pushing it "
            "could create it again: leave the row out")
