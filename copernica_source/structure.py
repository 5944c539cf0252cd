"""Structure resources: databases, fields, interests, collections, selections and their rules, webhooks.

These lists are small and change rarely, so every run reads them whole, and a field, view or rule deleted in
Copernica disappears from its table. Per-parent lists (the fields of each database, the rules of each view) are
transformers of their parent table, fetched for every parent side by side through the engine.

They are merged on their key (`delete-insert`), not loaded with `replace`: dlt truncates a replace table only
at a package's first load attempt, so a load killed after a job's rows were committed and resumed would insert
them twice; a merge re-run deletes and inserts the same keys again. Rows gone from Copernica are deleted by
tombstones (`_deleted`, dlt's `hard_delete`): each table keeps, in its resource state (committed with the load
package, so a killed run does not advance it), the keys it loaded per parent; a parent read whole this run
deletes its known keys not listed now, a parent gone takes its known children (and theirs) with it. A parent not
read (filtered out, its list skipped or not found) deletes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.schema.typing import TColumnSchema
from dlt.extract.resource import DltResource

from copernica_source.account import Account
from copernica_source.arrow_rows import rows_to_arrow
from copernica_source.engine import Next, Page, Plan, Reader, Task, Via, from_parent, lists_plan
from copernica_source.errors import InvalidMethodError, NotFoundError
from copernica_source.probes import rows_of
from copernica_source.tables import STRUCTURE_TABLES, TableSpec, dlt_hints

log = logging.getLogger("copernica_source")


def structure_resources(
    account: Account, database_ids: Sequence[int] | None = None, collection_ids: Sequence[int] | None = None
) -> list[DltResource]:
    """One resource per structure table; `database_ids`/`collection_ids` limit which parents are read."""
    made: dict[str, DltResource] = {}
    for spec in STRUCTURE_TABLES:
        if not spec.parent:
            wanted = set(database_ids) if spec.name == "databases" and database_ids else None
            made[spec.name] = _account_list(account, spec, wanted)
        else:
            wanted = set(collection_ids) if spec.name == "collections" and collection_ids else None
            made[spec.name] = _per_parent(account, spec, made[spec.parent], wanted)
        made[spec.name].apply_hints(additional_table_hints={"description": spec.description})
    return list(made.values())


DELETED = "_deleted"
"""True on a tombstone: dlt's `hard_delete` deletes the row with its key and inserts nothing, so the column
holds no true value in the table."""
DELETED_NOTE = "true on a tombstone, which deletes the row with its key (dlt's hard_delete): always empty here"
MERGE: dict[str, str] = {"disposition": "merge", "strategy": "delete-insert"}
"""Re-running a job (a killed load resumed) deletes and inserts the same keys again: no duplicates. dlt
de-duplicates the staged rows by primary key."""


def _hints(spec: TableSpec) -> dict[str, Any]:
    deleted = {"name": DELETED, "data_type": "bool", "nullable": True, "hard_delete": True, "description": DELETED_NOTE}
    described = dlt_hints(spec)  # the table's description goes on with apply_hints
    return {"name": spec.name, "primary_key": list(spec.primary_key), "write_disposition": MERGE,
            "columns": {**described["columns"], DELETED: deleted}, "references": described["references"]}


@dataclass
class _Ledger:
    """One structure table's keys per parent ("" for account-wide lists): `known` as the last committed load
    left them (the resource state), `seen` as listed this run. Deletions come from the two, for parents read
    whole or gone only; `wanted` (a filter) bounds which keys may be deleted at all."""

    known: dict[str, list[int]]
    wanted: set[int] | None
    seen: dict[str, set[int]] = field(default_factory=dict)
    unread: set[Any] = field(default_factory=set)  # parents whose list answered not-found
    skipped: bool = False  # the list is not answered ("Invalid method"): nothing may be deleted

    def note(self, parent: Any, table: pa.Table) -> None:
        """Keys listed for `parent`."""
        self.seen.setdefault(_parent_key(parent), set()).update(_ids(table))

    def settle(self, parents: Iterable[Any], loaded: set[int]) -> list[int]:
        """The keys to delete for `parents` (each read whole now, or gone: nothing seen), with `known` updated
        to what the table holds after this load. `loaded` (keys loaded now) are never deleted."""
        dead: set[int] = set()
        for parent in parents:
            if parent in self.unread:
                continue
            key = _parent_key(parent)
            before = set(self.known.get(key, ()))
            seen = self.seen.get(key, set())
            if self.skipped:
                gone: set[int] = set()
            else:
                gone = {k for k in before - seen if self.wanted is None or k in self.wanted} - loaded
            after = (before - gone) | (seen & loaded)
            if after:
                self.known[key] = sorted(after)
            else:
                self.known.pop(key, None)
            dead |= gone
        return sorted(dead)


def _parent_key(parent: Any) -> str:
    return "" if parent is None else str(parent)


def _ids(table: pa.Table) -> list[int]:
    return [i for i in table.column("id").to_pylist() if i is not None]


def _tombstones(keys: Sequence[int]) -> pa.Table:
    return pa.table({"id": pa.array(keys, pa.int64()), DELETED: pa.array([True] * len(keys), pa.bool_())})


def _live_and_gone(batch: pa.Table) -> tuple[list[int], list[int]]:
    """A parent batch's IDs: rows listed now, and tombstones (parents gone, whose children go too)."""
    ids = batch.column("id").to_pylist()
    flags = batch.column(DELETED).to_pylist() if DELETED in batch.column_names else [None] * len(ids)
    live = [i for i, d in zip(ids, flags, strict=True) if i is not None and not d]
    gone = [i for i, d in zip(ids, flags, strict=True) if i is not None and d]
    return live, gone


def _ledger(spec: TableSpec, wanted: set[int] | None) -> tuple[_Ledger, bool]:
    """This table's ledger from its resource state, and whether this run must load it with `replace` once:
    a table an older version made with `replace` (no keys recorded yet) may hold rows gone since."""
    state = dlt.current.resource_state(spec.name)
    stored = dlt.current.source_schema().tables.get(spec.name, {})
    migrate = "known" not in state and stored.get("write_disposition") == "replace"
    return _Ledger(dict(state.get("known", {})), wanted), migrate


def _record(spec: TableSpec, ledger: _Ledger) -> None:
    """The keys the table holds once this load completes, for the next run (saved with this load package)."""
    dlt.current.resource_state(spec.name)["known"] = ledger.known


def _as_replace(item: pa.Table) -> Any:
    """`item` with the hint that makes this run replace the table (the one-time migration); `hard_delete` is
    off for that run (dlt warns that replace ignores it), the next run's merge hints turn it on again."""
    deleted: TColumnSchema = {"name": DELETED, "data_type": "bool", "nullable": True, "hard_delete": False}
    return dlt.mark.with_hints(item, dlt.mark.make_hints(write_disposition="replace", columns={DELETED: deleted}))


def _empty() -> pa.Table:
    return pa.table({"id": pa.array([], pa.int64())})


def _without(tables: Iterator[pa.Table], spec: TableSpec) -> Iterator[pa.Table]:
    for table in tables:
        yield table.drop_columns([c for c in spec.drop if c in table.column_names])


def _keep(table: pa.Table, column: str, wanted: set[int] | None) -> pa.Table:
    if wanted is None:
        return table
    return table.filter(pc.is_in(table.column(column), pa.array(sorted(wanted), pa.int64())))


def _optional(tables: Iterator[pa.Table], spec: TableSpec, ledger: _Ledger) -> Iterator[pa.Table]:
    """Structure lists are extras beside the data people load for: one the account does not answer ("Invalid
    method": e.g. `GET webhooks`, which no page of v2-v4 documents) is skipped with a warning, the rest loads
    (and the ledger is told: a list not read deletes nothing). The warning comes once per pipeline, again when
    the answer changes."""
    state = dlt.current.resource_state(spec.name)
    try:
        yield from tables
    except InvalidMethodError as exc:
        ledger.skipped = True
        reason = f"Copernica does not answer {exc.url.split('?')[0]} ({exc.message})"
        if state.get("unanswered") == reason:  # said when it started: a warning every hour would train people
            log.info("%s: skipped again, %s", spec.name, reason)  # to ignore warnings
        else:
            log.warning("%s: skipped, %s; later runs skip it quietly while that holds", spec.name, reason)
            state["unanswered"] = reason  # kept once this load completes
    else:
        state.pop("unanswered", None)


def _embedded(pages: Iterable[Page], spec: TableSpec, timezone: str, ledger: _Ledger) -> Iterator[pa.Table]:
    """Rows listed inside each row of a page (a rule's `conditions`), as an array or a paged envelope; the
    parent row's ID fills `rule` where a row lacks it."""
    for page in pages:
        rows: list[dict[str, Any]] = []
        for parent in page.rows:
            inner = parent.get(spec.embedded)
            listed = rows_of(inner)
            if isinstance(inner, dict) and str(inner.get("total", len(listed))) != str(len(listed)):
                log.warning("%s: %s of %s %s lists %s of %s; the rest is not loaded", spec.name, page.task.path,
                            parent.get("ID"), spec.embedded, len(listed), inner.get("total"))
            rows += [{"rule": parent.get("ID"), **row} for row in listed if isinstance(row, dict)]
        if rows:
            table = rows_to_arrow(rows, spec.schema, timezone, table=spec.name)
            ledger.note(page.task.meta, table)
            yield table


def _account_list(account: Account, spec: TableSpec, wanted: set[int] | None) -> DltResource:
    """An account-wide list (databases, webhooks); keys known but no longer listed get tombstones at the end."""

    def rows() -> Iterator[Any]:
        ledger, migrate = _ledger(spec, wanted)
        reader = account.reader(spec.schema, table=spec.name)
        loaded: set[int] = set()
        for table in _optional(_without(reader.read(lists_plan(reader, [(spec.path, None)])), spec), spec, ledger):
            table = _keep(table, "id", wanted)
            ledger.note(None, table)
            loaded.update(_ids(table))
            yield _as_replace(table) if migrate else table
            migrate = False
        if migrate and ledger.skipped:  # not read: the old table stays as it is, still to be replaced once
            return
        if migrate:  # nothing listed: the replace still empties the old table
            yield _as_replace(_empty())
        dead = ledger.settle([None], loaded)
        _record(spec, ledger)
        if dead:
            yield _tombstones(dead)

    return dlt.resource(rows, **_hints(spec))


def _per_parent(
    account: Account, spec: TableSpec, parent: DltResource, wanted: set[int] | None
) -> DltResource:
    """Children of every parent row (only the `wanted` IDs, if given); views also descend into nested views.
    A parent deleted since it was listed has no children read (`_MissingNoted`), a parent tombstone in the batch
    takes its known children with it."""

    def children(batch: pa.Table) -> Iterator[Any]:
        ledger, migrate = _ledger(spec, wanted)
        live, gone = _live_and_gone(batch)
        derive = from_parent(spec.parent_column) if spec.parent_column else None
        reader = _noting_missing(account.reader(spec.schema, table=spec.name, derive=derive), ledger.unread)
        plan = lists_plan(reader, [(spec.path.format(id=i), i) for i in live])
        if spec.name == "views":
            plan = _with_nested_views(plan, set())
        if spec.embedded:
            found = _embedded(reader.pages(plan), spec, account.settings.timezone, ledger)
        else:
            found = reader.read(_noting(plan, ledger))
        yielded: set[int] = set()  # a nested view may be listed by its database and by its parent view alike
        for table in _optional(_without(found, spec), spec, ledger):
            table = _keep(table, "id", wanted)
            if spec.name == "views" and table.num_rows:
                table = table.filter(pc.invert(pc.is_in(table.column("id"), pa.array(sorted(yielded), pa.int64()))))
                table = _first_of_each(table, "id")
            yielded.update(_ids(table))
            yield _own(table, migrate)
            migrate = False
        if migrate and ledger.skipped:  # not read: the old table stays as it is, still to be replaced once
            return
        if migrate:  # nothing listed: the replace still empties the old table
            yield _own(_empty(), migrate)
        dead = ledger.settle([*live, *gone], yielded)
        _record(spec, ledger)
        if dead:
            yield _own(_tombstones(dead), False)

    def _own(table: pa.Table, migrate: bool) -> Any:
        """Every item names its table: a transformer's items otherwise carry their parent item's meta, and a
        parent's one-time `replace` hint would become this table's too."""
        if migrate:
            return _as_replace(table)
        return dlt.mark.with_table_name(table, spec.name)

    return dlt.transformer(children, data_from=parent, **_hints(spec))


@dataclass(frozen=True)
class _MissingNoted(Reader):
    """A reader that remembers which parents' lists answered not-found (deleted since they were listed): their
    children are unknown this run, not gone."""

    missing: set[Any] = field(default_factory=set)

    def fetch(self, task: Task, via: Via = "rows") -> Page:
        try:
            return super().fetch(task, via)
        except NotFoundError as exc:
            log.warning("%s: skipped, Copernica no longer has its parent (%s)", task.path, exc.message)
            self.missing.add(task.meta)
            return Page(task, None, 0, 0, None)


def _noting_missing(reader: Reader, missing: set[Any]) -> Reader:
    return _MissingNoted(**{f.name: getattr(reader, f.name) for f in fields(reader)}, missing=missing)


def _noting(plan: Plan, ledger: _Ledger) -> Plan:
    """The plan, telling the ledger which keys each parent's pages list (the task's `meta` is the parent)."""

    def handle(page: Page) -> Next:
        step = plan.handle(page)
        if step.keep and page.table is not None:
            ledger.note(page.task.meta, page.table)
        return step

    return Plan(plan.seeds, handle, plan.reads_rows)


def _with_nested_views(plan: Plan, descended: set[str]) -> Plan:
    """Follow `view/$id/views` into nested selections, each view once (no page says whether a database's list
    already holds the nested ones)."""

    def both(page: Page) -> Next:
        nested = []
        for row in page.rows:
            vid = str(row.get("ID"))
            if row.get("has-children") in (True, "1", "true") and vid not in descended:
                descended.add(vid)
                nested.append(Task(f"view/{vid}/views", (), kind="first", meta=page.task.meta))
        step = plan.handle(page)
        return Next([*step.tasks, *nested], step.keep)

    return Plan(plan.seeds, both, reads_rows=True)


def _first_of_each(table: pa.Table, key: str) -> pa.Table:
    """One row per key (the first), for lists that may name an entity twice."""
    if table.num_rows < 2 or pc.count_distinct(table.column(key)).as_py() == table.num_rows:
        return table
    index = pa.array(range(table.num_rows), pa.int64())
    first = table.append_column("__row", index).group_by(key).aggregate([("__row", "min")]).column("__row_min")
    return table.take(pa.array(sorted(first.to_pylist()), pa.int64()))
