"""Which input column goes where, checked before anything is written: the database's definition (fields,
interests), the key (a field, or `id`: the profile's own ID), field columns, interests, and the columns a loaded
`profiles_<database>` table brings that are not sent (push/loaded_table.py). Pure: names and definitions in, a
plan or one ProfileValidationError for the whole input out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from copernica_source.errors import ConfigurationError
from copernica_source.push.loaded_table import GUARD_COLUMNS, classify, interest_column

ROW_COLUMN = "_row"  # input row number, added by push-profiles; never a field


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


# `--key id` on a database without a field named id: the profile's own ID (`PUT profile/$id`, update mode only)
PROFILE_ID = FieldDef("ID", "integer")


def key_def(db: Database, key: str) -> FieldDef | None:
    """The key's field; PROFILE_ID for `id` when no field has that name; None when the key is neither."""
    fdef = db.fields.get(key.strip().lower())
    if fdef is not None:
        return fdef
    return PROFILE_ID if key.strip().lower() == "id" else None


def profile_id_key_problem(mode: str, api_version: int) -> str | None:
    """Why the profile-ID key cannot be used this way, or None."""
    if mode != "update":
        return (f"--key id updates profiles by their Copernica ID, which only existing profiles have, so it needs "
                f"--mode update (not {mode}); to create profiles, key them by a field (e.g. --key email)")
    if api_version == 1:
        return "--key id writes PUT profile/$id, which API version 1 does not document: use api_version 4"
    return None


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
    """Which input columns go where: field columns (input name -> Copernica field), the key, interests (a list
    column, or one boolean column per interest), and the columns left out."""

    fields: Mapping[str, FieldDef]
    key_column: str
    key_field: FieldDef
    interests_column: str | None
    ignored: tuple[str, ...]
    declared_interests: tuple[str, ...] = ()  # the database's: a row naming another interest is rejected (A36)
    interest_columns: Mapping[str, str] = field(default_factory=dict)  # `interests__<name>` column -> interest
    system_columns: tuple[str, ...] = ()  # a loaded table's own columns (id, created, _dlt_id, ...): never sent

    @property
    def by_profile_id(self) -> bool:
        return self.key_field is PROFILE_ID

    @property
    def unset_interests(self) -> tuple[str, ...]:
        """Declared interests no column holds, when the input sets interests by column."""
        if not self.interest_columns:
            return ()
        have = {n.lower() for n in self.interest_columns.values()}
        return tuple(n for n in self.declared_interests if n.lower() not in have)


def plan_columns(
    columns: Sequence[str],
    db: Database,
    key: str,
    interests_column: str | None = None,
    ignore_unknown_columns: bool = False,
    every_column: Sequence[str] = (),
) -> RowPlan:
    """Check the input's columns against the database before any write; unknown ones are an error that lists them.
    A loaded `profiles_<database>` table is read as the loader named it (push/loaded_table.py): its system and
    dlt columns are left out (`system_columns`), its `interests__<name>` booleans set the interests."""
    if interests_column and interests_column not in columns:
        raise ProfileValidationError(f"interests column {interests_column!r} is not in the input")
    roles = classify([c for c in columns if c not in (ROW_COLUMN, interests_column)],
                     [f.name for f in db.fields.values()], db.interests, every_column)
    key_field = key_def(db, key)
    if key_field is None:
        if not any(c.lower() == key.strip().lower() for c in columns):
            raise ProfileValidationError(f"key column {key!r} is not in the input (columns: {', '.join(columns)})")
        raise ProfileValidationError(
            f"key {key!r} is not a field of database {db.name!r} ({db.id}); a selector on an unknown field "
            f"would match every profile. Fields: {', '.join(sorted(f.name for f in db.fields.values()))} "
            "(or id, the profile's own ID, with --mode update)"
        )
    if key_field is PROFILE_ID:
        key_column = next((c for c in roles.system if c.lower() == "id"), None)
    else:
        key_column = next((c for c, f in roles.fields.items() if f.lower() == key_field.name.lower()), None)
    if key_column is None:
        raise ProfileValidationError(f"key column {key!r} is not in the input (columns: {', '.join(columns)})")
    problems = list(roles.problems)
    if interests_column and roles.interests:
        problems.append(f"interests come from {interests_column!r} and from the columns "
                        f"{', '.join(roles.interests)}: give them one way")
    if problems:
        raise ProfileValidationError(f"the input's columns cannot be pushed as they are: {'; '.join(problems)}")
    if roles.unknown and not ignore_unknown_columns:
        raise ProfileValidationError(
            f"{len(roles.unknown)} column(s) are not fields of database {db.name!r} ({db.id}): "
            f"{', '.join(roles.unknown)}. Rename them (--map src=dst), drop them, or pass --ignore-unknown-columns"
        )
    fields = {col: db.fields[name.lower()] for col, name in roles.fields.items()}
    return RowPlan(fields, key_column, key_field, interests_column, roles.unknown, tuple(db.interests),
                   roles.interests, tuple(c for c in roles.system if c != key_column))


def incomplete_interests(plan: RowPlan) -> str | None:
    """Why interest columns that leave some declared interests out cannot be pushed, or None. Copernica's pages
    leave open whether a partial set clears the other interests (A8), so a row sets all of them or none."""
    unset = plan.unset_interests
    if not unset:
        return None
    return (f"the input has columns for {len(plan.interest_columns)} of the database's "
            f"{len(plan.declared_interests)} interests, none for {', '.join(interest_column(n) for n in unset)}; "
            "a row sets every interest or none (whether a partial set clears the others is not documented): "
            "add those columns (SELECT * keeps them), or leave the interest columns out")


def sent_columns(plan: RowPlan) -> dict[str, str]:
    """The input columns a push goes on with, each renamed to what Copernica calls it (a loaded table's
    `first_name` -> `FirstName`, `fields__modified` -> `modified`), so nothing downstream has to read the loader's
    names again. Left out: system and dlt columns (except the profile-ID key and the `deleted`/`removed` guards)
    and unknown columns the plan ignores."""
    out = {col: fdef.name for col, fdef in plan.fields.items()}
    out.update({col: col for col in plan.interest_columns})
    if plan.interests_column:
        out[plan.interests_column] = plan.interests_column
    taken = {name.lower() for name in out.values()}
    keep = [plan.key_column] if plan.by_profile_id else []
    keep += [c for c in plan.system_columns if c.lower() in GUARD_COLUMNS]
    out.update({c: c for c in keep if c.lower() not in taken})
    return out
