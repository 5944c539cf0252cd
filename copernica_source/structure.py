"""Structure resources: databases, fields, interests, collections, selections and their rules, webhooks.

These lists are small and change rarely, so every run reads them whole (`replace`): a field, view or rule
deleted in Copernica disappears from its table. Per-parent lists (the fields of each database, the rules of each
view) are transformers of their parent table, fetched for every parent side by side through the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.extract.resource import DltResource

from copernica_source.account import Account
from copernica_source.arrow_rows import rows_to_arrow
from copernica_source.engine import Page, Reader, Task, batches, lists_plan, run
from copernica_source.errors import InvalidMethodError
from copernica_source.structure_tables import STRUCTURE_TABLES, StructureSpec

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


def fetch_rows(account: Account, paths: Iterable[tuple[str, Any]]) -> list[tuple[Any, dict[str, Any]]]:
    """Every row of some short lists as (meta, raw row): what the profile resources need to know before reading
    (databases, field definitions, interests, collections), paged by the engine."""
    reader = _reader(account, StructureSpec("", "", STRUCTURE_TABLES[0].schema))
    seeds, handle = lists_plan(reader, paths)
    return [(page.task.meta, row) for page in run(reader, seeds, handle, account.settings.max_concurrency)
            for row in _data(page)]


def _hints(spec: StructureSpec) -> dict[str, Any]:
    return {"name": spec.name, "primary_key": ["id"], "write_disposition": "replace",
            "columns": spec.schema.dlt_columns()}


def _reader(account: Account, spec: StructureSpec) -> Reader:
    s = account.settings
    extra: Callable[[Task, Any], dict[str, Any]] | None = None
    if spec.parent_column:
        column = spec.parent_column
        extra = lambda task, raw: {column: [task.meta] * len(_rows(raw))}  # noqa: E731
    # structure lists are short and their plans read the parsed rows (nested views, field definitions)
    return Reader(account.client, spec.schema, s.timezone, page_size=s.page_size, extra=extra, keep_raw=True,
                  missing_ok=bool(spec.parent))


def _rows(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else (raw or {}).get("data") or []


def _data(page: Page) -> list[dict[str, Any]]:
    return [r for r in _rows(page.raw) if isinstance(r, dict)]


def _without(tables: Iterator[pa.Table], spec: StructureSpec) -> Iterator[pa.Table]:
    for table in tables:
        yield table.drop_columns([c for c in spec.drop if c in table.column_names])


def _keep(table: pa.Table, column: str, wanted: set[int] | None) -> pa.Table:
    if wanted is None:
        return table
    return table.filter(pc.is_in(table.column(column), pa.array(sorted(wanted), pa.int64())))


def _optional(tables: Iterator[pa.Table], spec: StructureSpec) -> Iterator[pa.Table]:
    """Structure lists are extras beside the data people load for: one the account does not answer ("Invalid
    method": e.g. `GET webhooks`, which no page of v2-v4 documents) is skipped with a warning, the rest loads."""
    try:
        yield from tables
    except InvalidMethodError as exc:
        log.warning("%s: skipped, Copernica does not answer %s (%s)", spec.name, exc.url.split("?")[0], exc.message)


def _embedded(pages: Iterable[Page], spec: StructureSpec, timezone: str) -> Iterator[pa.Table]:
    """Rows listed inside each row of a page (a rule's `conditions`), as an array or a paged envelope; the
    parent row's ID fills `rule` where a row lacks it."""
    for page in pages:
        rows: list[dict[str, Any]] = []
        for parent in _data(page):
            inner = parent.get(spec.embedded)
            listed = _rows(inner)
            if isinstance(inner, dict) and str(inner.get("total", len(listed))) != str(len(listed)):
                log.warning("%s: %s of %s %s lists %s of %s; the rest is not loaded", spec.name, page.task.path,
                            parent.get("ID"), spec.embedded, len(listed), inner.get("total"))
            rows += [{"rule": parent.get("ID"), **row} for row in listed if isinstance(row, dict)]
        if rows:
            yield rows_to_arrow(rows, spec.schema, timezone)


def _account_list(account: Account, spec: StructureSpec, wanted: set[int] | None) -> DltResource:
    def rows() -> Iterator[pa.Table]:
        reader = _reader(account, spec)
        seeds, handle = lists_plan(reader, [(spec.path, None)])
        for table in _optional(_without(batches(run(reader, seeds, handle, account.settings.max_concurrency)),
                                        spec), spec):
            yield _keep(table, "id", wanted)

    return dlt.resource(rows, **_hints(spec))


def _per_parent(
    account: Account, spec: StructureSpec, parent: DltResource, wanted: set[int] | None
) -> DltResource:
    """Children of every parent row (only the `wanted` IDs, if given); views also descend into nested views."""

    def children(batch: pa.Table) -> Iterator[pa.Table]:
        ids = [i for i in batch.column("id").to_pylist() if i is not None]
        reader = _reader(account, spec)
        seeds, handle = lists_plan(reader, [(spec.path.format(id=i), i) for i in ids])
        if spec.name == "views":
            handle = _with_nested_views(handle, set())
        pages = run(reader, seeds, handle, account.settings.max_concurrency)
        found = _embedded(pages, spec, account.settings.timezone) if spec.embedded else batches(pages)
        yielded: set[int] = set()  # a nested view may be listed by its database and by its parent view alike
        for table in _optional(_without(found, spec), spec):
            table = _keep(table, "id", wanted)
            if spec.name == "views" and table.num_rows:
                table = table.filter(pc.invert(pc.is_in(table.column("id"), pa.array(sorted(yielded), pa.int64()))))
                table = _first_of_each(table, "id")
                yielded.update(i for i in table.column("id").to_pylist() if i is not None)
            yield table

    return dlt.transformer(children, data_from=parent, **_hints(spec))


def _with_nested_views(
    handle: Callable[[Page], Iterable[Task]], descended: set[str]
) -> Callable[[Page], list[Task]]:
    """Follow `view/$id/views` into nested selections, each view once (no page says whether a database's list
    already holds the nested ones)."""

    def both(page: Page) -> list[Task]:
        nested = []
        for row in _data(page):
            vid = str(row.get("ID"))
            if row.get("has-children") in (True, "1", "true") and vid not in descended:
                descended.add(vid)
                nested.append(Task(f"view/{vid}/views", (), kind="first", meta=page.task.meta))
        return list(handle(page)) + nested

    return both


def _first_of_each(table: pa.Table, key: str) -> pa.Table:
    """One row per key (the first), for lists that may name an entity twice."""
    if table.num_rows < 2 or pc.count_distinct(table.column(key)).as_py() == table.num_rows:
        return table
    index = pa.array(range(table.num_rows), pa.int64())
    first = table.append_column("__row", index).group_by(key).aggregate([("__row", "min")]).column("__row_min")
    return table.take(pa.array(sorted(first.to_pylist()), pa.int64()))
