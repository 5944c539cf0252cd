"""Structure resources: databases, fields, interests, collections, selections and their rules, webhooks.

These lists are small and change rarely, so every run reads them whole (`replace`): a field, view or rule
deleted in Copernica disappears from its table. Per-parent lists (the fields of each database, the rules of each
view) are transformers of their parent table, fetched for every parent side by side through the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.extract.resource import DltResource

from copernica_source.account import Account
from copernica_source.arrow_rows import rows_to_arrow
from copernica_source.engine import Next, Page, Plan, Task, from_parent, lists_plan
from copernica_source.errors import InvalidMethodError
from copernica_source.probes import rows_of
from copernica_source.tables import STRUCTURE_TABLES, TableSpec

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
    return list(made.values())


def _hints(spec: TableSpec) -> dict[str, Any]:
    return {"name": spec.name, "primary_key": list(spec.primary_key), "write_disposition": "replace",
            "columns": spec.schema.dlt_columns()}


def _without(tables: Iterator[pa.Table], spec: TableSpec) -> Iterator[pa.Table]:
    for table in tables:
        yield table.drop_columns([c for c in spec.drop if c in table.column_names])


def _keep(table: pa.Table, column: str, wanted: set[int] | None) -> pa.Table:
    if wanted is None:
        return table
    return table.filter(pc.is_in(table.column(column), pa.array(sorted(wanted), pa.int64())))


def _optional(tables: Iterator[pa.Table], spec: TableSpec) -> Iterator[pa.Table]:
    """Structure lists are extras beside the data people load for: one the account does not answer ("Invalid
    method": e.g. `GET webhooks`, which no page of v2-v4 documents) is skipped with a warning, the rest loads."""
    try:
        yield from tables
    except InvalidMethodError as exc:
        log.warning("%s: skipped, Copernica does not answer %s (%s)", spec.name, exc.url.split("?")[0], exc.message)


def _embedded(pages: Iterable[Page], spec: TableSpec, timezone: str) -> Iterator[pa.Table]:
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
            yield rows_to_arrow(rows, spec.schema, timezone)


def _account_list(account: Account, spec: TableSpec, wanted: set[int] | None) -> DltResource:
    def rows() -> Iterator[pa.Table]:
        reader = account.reader(spec.schema)
        for table in _optional(_without(reader.read(lists_plan(reader, [(spec.path, None)])), spec), spec):
            yield _keep(table, "id", wanted)

    return dlt.resource(rows, **_hints(spec))


def _per_parent(
    account: Account, spec: TableSpec, parent: DltResource, wanted: set[int] | None
) -> DltResource:
    """Children of every parent row (only the `wanted` IDs, if given); views also descend into nested views.
    A parent deleted since it was listed has no children (`missing_ok`)."""

    def children(batch: pa.Table) -> Iterator[pa.Table]:
        ids = [i for i in batch.column("id").to_pylist() if i is not None]
        derive = from_parent(spec.parent_column) if spec.parent_column else None
        reader = account.reader(spec.schema, derive=derive, missing_ok=True)
        plan = lists_plan(reader, [(spec.path.format(id=i), i) for i in ids])
        if spec.name == "views":
            plan = _with_nested_views(plan, set())
        if spec.embedded:
            found = _embedded(reader.pages(plan), spec, account.settings.timezone)
        else:
            found = reader.read(plan)
        yielded: set[int] = set()  # a nested view may be listed by its database and by its parent view alike
        for table in _optional(_without(found, spec), spec):
            table = _keep(table, "id", wanted)
            if spec.name == "views" and table.num_rows:
                table = table.filter(pc.invert(pc.is_in(table.column("id"), pa.array(sorted(yielded), pa.int64()))))
                table = _first_of_each(table, "id")
                yielded.update(i for i in table.column("id").to_pylist() if i is not None)
            yield table

    return dlt.transformer(children, data_from=parent, **_hints(spec))


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
