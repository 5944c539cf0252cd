"""Profiles and subprofiles: one typed table per database (`profiles_<database>`) and per collection
(`subprofiles_<database>_<collection>`), incremental on `modified`, deletions found by reconciling IDs.

Why one table per database: fields differ per database, and an analyst queries `profiles_customers.age` as an
integer, not a JSON blob. Column types come from the field definitions (`database/$id/fields`); interests are
boolean columns `interests__<name>` (the set is declared per database, and one row per profile stays the whole
truth: merge replaces it, so an interest removed in Copernica disappears too).

How a run reads one database (or collection), so that nothing changing meanwhile is lost or duplicated:
1. one probe `orderby=modified&order=desc&limit=1&total=true` (filtered by the cursor on incremental runs) gives
   how many rows to read and the newest `modified` at the start: the next run's cursor;
2. `profileids` (one bare array) gives every live ID: full loads read it as exact ID ranges of one page each,
   side by side (`fields[]=id>lo&fields[]=id<=hi`, never a deep offset, so deletions during the read cannot shift
   a row past a page boundary); incremental runs split it into a few ranges read with `modified>=cursor-overlap`;
3. a follow-up `modified>=<newest at start>` re-reads what changed while the ranges were read (merge keeps the
   newest: `modified` is the dedup sort);
4. deletions: Copernica does not bump `modified` on delete, so IDs known before (kept in resource state, as
   compressed ranges) that are neither live now nor read this run get a row with `deleted = true`, which merge
   either deletes (`hard_delete`, deletions="delete") or keeps as a marked row (deletions="mark").

What the pages leave open, and how each reading is met (docs/assumptions.md): `profileids` may be paged
(default 100) or whole, and may ignore `start`: it is paged by start/limit, and deletions are reconciled only
when the list is provably complete (as many distinct IDs as the list's `total`, the same before and after) or,
without a total, walked to its end and each missing ID confirmed gone by its own GET;
a deletion pass that would remove more than `max_deletion_share` of a table is held back with a message. A
real field named `modified` takes over the `fields[]=modified` filter (rmuit), so such an owner is read whole
each run; a field named `id` takes over `fields[]=id`, so that owner is read by offset instead of ID ranges.
"""

from __future__ import annotations

import base64
import logging
import math
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.extract.resource import DltResource

from copernica_source.account import Account
from copernica_source.arrow_rows import Column, Schema, column_name, rows_to_arrow
from copernica_source.engine import (
    Derive,
    Plan,
    Reader,
    Task,
    entity_id,
    id_list,
    id_ranges_plan,
    list_answer,
    lists_plan,
    objects_plan,
    split_ids,
)
from copernica_source.errors import ConfigurationError, UnexpectedAnswerError
from copernica_source.tables import (
    DELETED_NOTE,
    FIELD_KINDS,
    PROFILES,
    SUBPROFILES,
    TableSpec,
    dlt_hints,
    field_note,
    interest_note,
)
from copernica_source.timefmt import COPERNICA_TIME

Deletions = Literal["delete", "mark"]
DELETIONS: tuple[Deletions, ...] = get_args(Deletions)
log = logging.getLogger("copernica_source")


@dataclass(frozen=True)
class ProfileOptions:
    """What users choose about profiles: which databases/collections, deletions, the re-read overlap."""

    database_ids: tuple[int, ...] | None = None
    collection_ids: tuple[int, ...] | None = None
    detect_deletions: bool = True
    deletions: str = "delete"
    overlap_seconds: float = 60.0
    max_deletion_share: float = 0.1

    def __post_init__(self) -> None:
        if self.deletions not in DELETIONS:
            raise ConfigurationError(f"deletions must be one of {list(DELETIONS)}, not {self.deletions!r}")
        if not 0 <= self.max_deletion_share <= 1:
            raise ConfigurationError(
                f"max_deletion_share must be between 0 and 1 (a share of a table's rows), not {self.max_deletion_share}"
            )


@dataclass(frozen=True)
class Owner:
    """A database (its profiles) or a collection (its subprofiles): one destination table.

    The table is declared by `spec`: tables.py's PROFILES or SUBPROFILES template made concrete for this owner
    (its table name, list path, and columns typed by its field definitions). What the spec cannot say, since
    only a run finds it out, is kept beside it: the owner's ID list, its interests and shadowed properties."""

    id: int
    spec: TableSpec
    ids_path: str
    interests: tuple[tuple[str, str], ...] = ()  # (column, interest name)
    shadowed: frozenset[str] = frozenset()  # system properties a real field shares a name with ("modified", "id")

    @property
    def table(self) -> str:
        return self.spec.name

    @property
    def list_path(self) -> str:
        return self.spec.path

    @property
    def schema(self) -> Schema:
        return self.spec.schema

    @property
    def constants(self) -> dict[str, int]:
        """Columns known for deletion rows: the owner's ID (`database` or `collection`)."""
        return {self.spec.parent_column: self.id}

    @property
    def entity(self) -> str:
        """What one row is in Copernica's paths: `profile` or `subprofile`."""
        return "subprofile" if self.spec.parent == SUBPROFILES.parent else "profile"


def profile_resources(account: Account, options: ProfileOptions) -> list[DltResource]:
    """The `profiles` and `subprofiles` resources; each writes one table per database / collection."""
    return [_resource(account, options, PROFILES), _resource(account, options, SUBPROFILES)]


def _warn_unknown(setting: str, wanted: tuple[int, ...] | None, existing: set[int]) -> None:
    """A filter naming IDs the account does not have is most likely a typo: say so instead of loading less."""
    missing = sorted(set(wanted or ()) - existing)
    if missing:
        log.warning("%s: the account has no %s %s (it has %s)", setting, setting.split("_")[0],
                    ", ".join(map(str, missing)), ", ".join(map(str, sorted(existing))) or "none")


# -- which tables, typed how ---------------------------------------------------------------------------------


def owners(account: Account, options: ProfileOptions, template: TableSpec) -> list[Owner]:
    """The databases (template PROFILES) or collections (SUBPROFILES) to read, with their typed tables."""
    every_database = [row for _, row in account.list_rows([("databases", None)])]
    _warn_unknown("database_ids", options.database_ids, {_id(r, "databases") for r in every_database})
    databases = [row for row in every_database
                 if options.database_ids is None or _id(row, "databases") in options.database_ids]
    db_names = _unique_names({_id(d, "databases"): column_name(_name(d, "databases")) for d in databases})
    db_labels = {_id(d, "databases"): f"{_name(d, 'databases')!r} (ID {_id(d, 'databases')})" for d in databases}
    if template is PROFILES:
        ids = list(db_names)
        fields = _grouped(account.list_rows([(f"database/{i}/fields", i) for i in ids]))
        interests = _grouped(account.list_rows([(f"database/{i}/interests", i) for i in ids]))
        out = []
        for db in ids:
            interest_names = [_name(r, f"database/{db}/interests") for r in interests.get(db, [])]
            interest_cols = tuple((f"interests__{column_name(n)}", n) for n in interest_names)
            schema = _schema(PROFILES, fields.get(db, []), interest_cols)
            table = _table(PROFILES, db, f"profiles_{db_names[db]}", schema, f"database {db_labels[db]}")
            out.append(Owner(db, table, f"database/{db}/profileids", interest_cols, _shadowed(fields.get(db, []))))
        return out
    every_collection = account.list_rows([(f"database/{i}/collections", i) for i in db_names])
    _warn_unknown("collection_ids", options.collection_ids,
                  {_id(r, f"database/{db}/collections") for db, r in every_collection})
    collections = [(meta, row) for meta, row in every_collection if options.collection_ids is None
                   or _id(row, f"database/{meta}/collections") in options.collection_ids]
    names = _unique_names({_id(c, f"database/{db}/collections"):
                           f"{db_names[db]}_{column_name(_name(c, 'collections'))}" for db, c in collections})
    fields = _grouped(account.list_rows([(f"collection/{c}/fields", c) for c in names]))
    database_of = {_id(c, f"database/{db}/collections"): db for db, c in collections}
    labels = {_id(c, f"database/{db}/collections"): f"collection {_name(c, 'collections')!r} (ID "
              f"{_id(c, f'database/{db}/collections')}) of database {db_labels[db]}" for db, c in collections}
    out = []
    for c in names:
        # its profiles are the rows of its database's profile table
        schema = _schema(SUBPROFILES, fields.get(c, []), (), f"profiles_{db_names[database_of[c]]}")
        table = _table(SUBPROFILES, c, f"subprofiles_{names[c]}", schema, labels[c])
        out.append(Owner(c, table, f"collection/{c}/subprofileids", shadowed=_shadowed(fields.get(c, []))))
    return out


def _id(row: dict[str, Any], path: str) -> int:
    """An owner's ID, checked: table names and every later path are made from it."""
    return entity_id(row, Task(path, (), kind="first"))


def _name(row: dict[str, Any], path: str) -> str:
    """An owner's, field's or interest's `name`: text, or the answer is refused (it names a table or column)."""
    name = row.get("name")
    if not isinstance(name, str) or not name.strip():
        raise UnexpectedAnswerError(f"{path}: a row whose name is {_describe(name)}, not text; nothing was loaded "
                                    "and no cursor moved")
    return name


def _describe(value: Any) -> str:
    return "missing" if value is None else type(value).__name__


def _table(template: TableSpec, owner_id: int, name: str, schema: Schema, owner: str) -> TableSpec:
    """The template made concrete for one database or collection (`owner` names it in the description)."""
    return replace(template, name=name, path=template.path.format(id=owner_id), schema=schema,
                   description=f"{template.description}: {owner}")


def _shadowed(field_rows: list[dict[str, Any]]) -> frozenset[str]:
    """System properties the `fields[]` filter may apply to a real field of the same name instead."""
    return frozenset(str(f.get("name", "")).lower() for f in field_rows) & {"modified", "id"}


def _schema(template: TableSpec, field_rows: list[dict[str, Any]], interest_columns: Sequence[tuple[str, str]],
            profile_table: str = "") -> Schema:
    """The owner's columns: the template's, one per field (typed by its definition), one per interest, `deleted`;
    `profile_table` is where a subprofile's `profile` points."""
    base = [replace(c, refers_to=f"{profile_table}.id") if profile_table and c.name == "profile" else c
            for c in template.schema.columns]
    taken = {c.name for c in base} | {c for c, _ in interest_columns} | {"deleted"}
    columns = list(base)
    for f in field_rows:
        name = _name(f, "fields")
        col = column_name(name)
        if col in taken:  # a field called like a system column keeps dlt's flattened name
            col = f"fields__{col}"
        taken.add(col)
        field_type = str(f.get("type", "")).lower()
        columns.append(Column(col, FIELD_KINDS.get(field_type, "str"), ("fields", name), field_note(name, field_type)))
    columns += [Column(c, "bool", note=interest_note(n)) for c, n in interest_columns]
    return Schema((*columns, Column("deleted", "bool", note=DELETED_NOTE)))


def _grouped(rows: list[tuple[Any, dict[str, Any]]]) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    for meta, row in rows:
        out.setdefault(meta, []).append(row)
    return out


def _unique_names(names: dict[int, str]) -> dict[int, str]:
    """Table name parts; two owners whose names normalise alike get their ID appended."""
    seen: dict[str, int] = {}
    for name in names.values():
        seen[name] = seen.get(name, 0) + 1
    return {i: (n if seen[n] == 1 else f"{n}_{i}") for i, n in names.items()}


# -- reading -------------------------------------------------------------------------------------------------


def _resource(account: Account, options: ProfileOptions, template: TableSpec) -> DltResource:
    def read() -> Iterator[Any]:
        state = dlt.current.resource_state().setdefault("owners", {})
        for owner in owners(account, options, template):
            previous = state.get(str(owner.id), {})
            if previous.get("table") != owner.table:  # new, or renamed: its table starts from a full load
                previous = {}
            new_state = {"table": owner.table}
            for table in _read_owner(account, options, owner, previous, new_state):
                yield dlt.mark.with_hints(table, _hints(owner, options), create_table_variant=True)
            state[str(owner.id)] = new_state

    return dlt.resource(read, name=template.name, primary_key="id",
                        write_disposition={"disposition": "merge", "strategy": "delete-insert"})


def _hints(owner: Owner, options: ProfileOptions) -> Any:
    described = dlt_hints(owner.spec)
    columns = described["columns"]
    columns["modified"]["dedup_sort"] = "desc"  # the same row read twice in a run: the newest wins
    if options.deletions == "delete":
        columns["deleted"]["hard_delete"] = True
    return dlt.mark.make_hints(table_name=owner.table, primary_key="id", columns=columns,
                               write_disposition={"disposition": "merge", "strategy": "delete-insert"},
                               references=described["references"],
                               additional_table_hints={"description": described["description"]})


def _read_owner(
    account: Account, options: ProfileOptions, owner: Owner, previous: dict[str, Any], new_state: dict[str, Any]
) -> Iterator[pa.Table]:
    client, s = account.client, account.settings
    by_modified = "modified" not in owner.shadowed
    if not by_modified:
        log.info("%s: a field named 'modified' shadows the system property in Copernica's filter; read whole",
                 owner.table)
    cursor = previous.get("cursor") if by_modified else None
    changed = [] if cursor is None else [("fields[]", f"modified>={_minus(cursor, options.overlap_seconds)}")]
    probe = client.get(owner.list_path, changed + [("orderby", "modified"), ("order", "desc"), ("limit", 1),
                                                    ("total", "true")])
    # total None: the server sent no total, so how much changed is unknown (read, never skip)
    rows, total = list_answer(Task(owner.list_path, (), kind="first"), probe)
    newest = _moment(rows[0].get("modified"), owner) if rows else None
    live: list[int] = []
    every = after = None  # the whole list's total before and after its IDs are read
    listed_all = walked = False  # the ID list is provably complete / was walked to its end without repeats
    if options.detect_deletions or cursor is None or (total or 0) > s.page_size:
        every = total if cursor is None else _whole_total(client, owner)
        live, walked = _live_ids(client, owner.ids_path, s.page_size)
        after = _whole_total(client, owner)
        listed_all = every is not None and every == after == len(live)
    reader = account.reader(owner.schema, table=owner.table, derive=_live_with_interests(owner.interests))
    loaded: list[pa.Array] = []
    if total is None or total:
        for plan in _plans(reader, owner, changed, newest if by_modified else None, live, total, cursor):
            for table in reader.read(plan):
                loaded.append(table.column("id").combine_chunks())
                yield table.drop_columns([c for c in ("interests",) if c in table.column_names])
    new_state["cursor"] = (newest or cursor) if by_modified else None
    if not options.detect_deletions:
        return
    seen = pa.concat_arrays([pa.array(live, pa.int64()), *loaded])
    known = pa.array(decode_ids(previous["ids"]) if "ids" in previous else [], pa.int64())
    # a full read by ID ranges saw every row there was, whatever the ID list holds
    if not (listed_all or walked or (cursor is None and "id" not in owner.shadowed)):
        told = f"{every:,}, then {after:,}" if every is not None and after is not None else "no total"
        log.warning(
            "%s: deletions not reconciled this run: %s gave %s IDs, the list's total is %s (a paged list that "
            "ignores start, or one that changed while it was read); nothing is deleted on an incomplete list. Rows "
            "deleted in Copernica stay until a full read: copernica load --resources %s --full-refresh",
            owner.table, owner.ids_path, f"{len(live):,}", told,
            f"{owner.entity}s",
        )
        new_state["ids"] = encode_ids(pc.unique(pa.concat_arrays([known, *loaded])).to_pylist())
        return
    gone = known.filter(pc.invert(pc.is_in(known, value_set=seen)))
    kept = seen
    if len(gone) > options.max_deletion_share * len(known):
        _hold_back(owner, len(gone), len(known), options.max_deletion_share)
        kept = pa.concat_arrays([seen, gone])  # still known: the next run asks again
    elif len(gone):
        ids = gone.to_pylist()
        if not listed_all:  # a list without a total to prove it whole: each candidate is asked for itself
            ids = _confirmed_gone(account, owner, ids)
            kept = pa.concat_arrays([seen, pa.array(sorted(set(gone.to_pylist()) - set(ids)), pa.int64())])
        if ids:
            yield _deletion_rows(owner, ids, s.timezone)
    new_state["ids"] = encode_ids(pc.unique(kept).to_pylist())


def _confirmed_gone(account: Account, owner: Owner, ids: list[int]) -> list[int]:
    """The IDs Copernica really no longer has (unknown, or shown as removed): one GET each, side by side."""
    confirmed = []
    for page in account.reader(expect_missing=True).pages(objects_plan((f"{owner.entity}/{i}", i) for i in ids)):
        raw = page.raw if isinstance(page.raw, dict) else None
        if raw is None or raw.get("removed") not in (None, False, "", "0", "false"):
            confirmed.append(int(page.task.meta))
    return confirmed


def _plans(
    reader: Reader, owner: Owner, changed: list[tuple[str, str]], newest: str | None, live: list[int],
    total: int | None, cursor: str | None,
) -> Iterator[Plan]:
    """The read, then (by `modified`) what changed while it ran. By ID ranges, unless a real field named `id`
    takes over `fields[]=id`: then by offset, which a row deleted mid-read may shift (the next run re-reads)."""
    size = reader.page_size
    if "id" in owner.shadowed:
        yield lists_plan(reader, [(owner.list_path, None)], changed)
        return
    if cursor is None:
        ranges = split_ids(live, size)
    else:
        parts = math.ceil((total or 0) * 1.25 / size)
        ranges = split_ids(live, math.ceil(len(live) / parts)) if live and parts > 1 else [(0, None)]
    by_id = [("orderby", "id"), ("order", "asc")]  # the documented default, asked for anyway
    yield id_ranges_plan(reader, owner.list_path, changed + by_id, ranges)
    if newest is not None:
        yield id_ranges_plan(reader, owner.list_path, [("fields[]", f"modified>={newest}"), *by_id], [(0, None)])


def _moment(value: Any, owner: Owner) -> str | None:
    """The newest `modified` of a probe: it becomes the next run's cursor, so only a real time is kept (a broken
    one would stop every later run)."""
    if value is None or value == "":
        return None
    try:
        datetime.strptime(str(value)[:19], COPERNICA_TIME)
    except ValueError:
        raise UnexpectedAnswerError(f"{owner.list_path}: `modified` is {str(value)[:40]!r}, not a time; nothing "
                                    "was loaded and no cursor moved") from None
    return str(value)


def _whole_total(client: Any, owner: Owner) -> int | None:
    """How many (sub)profiles the owner's list holds, unfiltered; None when Copernica sends no total."""
    return list_answer(Task(owner.list_path, (), kind="first"), client.get(owner.list_path, [("limit", 1),
                                                                                                ("total", "true")]))[1]


def _live_ids(client: Any, path: str, page_size: int) -> tuple[list[int], bool]:
    """Every ID of a bare-array ID list, paged by start/limit (the pages say it takes paging parameters; one
    answer may also hold the whole list), and whether the walk reached a short page. A page that repeats IDs
    (a list that ignores `start`) ends the walk unfinished, unless it repeats all of them (one answer that is
    the whole list, however `start` is asked)."""
    ids: list[int] = []
    seen: set[int] = set()
    start = 0
    while True:
        page = id_list(Task(path, (), start=start), client.get(path, [("start", start), ("limit", page_size)]))
        fresh = [i for i in page if i not in seen]
        ids += fresh
        seen.update(fresh)
        if len(fresh) < len(page):
            return ids, start > 0 and len(page) > page_size and set(page) == seen
        if len(page) < page_size:
            return ids, True
        start += len(page)


def _hold_back(owner: Owner, gone: int, known: int, share: float) -> None:
    """A mass delete is more likely a wrong answer than a wish: tell, do not act."""
    log.warning(
        "%s: %s of %s rows (%.0f%%) are no longer listed by Copernica; held back, nothing deleted (more than "
        "max_deletion_share = %s). If they really were deleted, run once with max_deletion_share = 1 "
        "(SOURCES__COPERNICA__MAX_DELETION_SHARE=1)",
        owner.table, f"{gone:,}", f"{known:,}", 100 * gone / max(known, 1), share, extra={"held_back": True},
    )


def _live_with_interests(interests: tuple[tuple[str, str], ...]) -> Derive:
    """Rows read are live (`deleted = false`); each interest is a boolean column."""

    def derive(task: Task, rows: list[dict[str, Any]]) -> dict[str, Iterable[Any]]:
        out: dict[str, Iterable[Any]] = {"deleted": [False] * len(rows)}
        for col, name in interests:
            out[col] = [name in (r.get("interests") or ()) for r in rows]
        return out

    return derive


def _deletion_rows(owner: Owner, ids: list[int], timezone: str) -> pa.Table:
    """Rows for IDs gone from Copernica: only the key, the owner and `deleted = true`."""
    extra: dict[str, Iterable[Any]] = {"deleted": [True] * len(ids),
                                       **{k: [v] * len(ids) for k, v in owner.constants.items()}}
    return rows_to_arrow([{"ID": i} for i in ids], owner.schema, timezone, extra, table=owner.table)


def _minus(moment: str, seconds: float) -> str:
    return (datetime.strptime(moment[:19], COPERNICA_TIME) - timedelta(seconds=seconds)).strftime(COPERNICA_TIME)


# -- the ID set kept in state --------------------------------------------------------------------------------


def encode_ids(ids: Sequence[int]) -> str:
    """A set of IDs as compressed runs: (gap from the previous run's end, run length) pairs, zlib, base64.
    A million mostly consecutive profile IDs take a few bytes; even one hole per ten IDs stays ~100 kB."""
    pairs = array("q")
    prev_end = 0
    ordered = sorted(ids)
    i = 0
    while i < len(ordered):
        start = ordered[i]
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        pairs.extend((start - prev_end, j - i + 1))
        prev_end = ordered[j] + 1
        i = j + 1
    return base64.b64encode(zlib.compress(pairs.tobytes(), 9)).decode()


def decode_ids(text: str) -> list[int]:
    pairs = array("q")
    pairs.frombytes(zlib.decompress(base64.b64decode(text)))
    out: list[int] = []
    end = 0
    for k in range(0, len(pairs), 2):
        start = end + pairs[k]
        end = start + pairs[k + 1]
        out.extend(range(start, end))
    return out
