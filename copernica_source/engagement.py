"""Engagement resources (emailings, statistics, destinations and the six event tables) for one mail product.

Each resource is its table's declaration (tables.py) plus a plan (engine.py), built by the builder of its
cursor kind (`_BUILDERS`); the cursor itself lives in `dlt.sources.incremental`, so it advances only when the
load that carries it commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.extract.resource import DltResource

from copernica_source.account import Account, Settings
from copernica_source.arrow_rows import Schema, cols
from copernica_source.engine import (
    Reader,
    condition_bounds,
    from_parent,
    keyset_plan,
    lists_plan,
    objects_plan,
    param_bounds,
    windows_plan,
)
from copernica_source.errors import FilterIgnoredError, UnexpectedAnswerError
from copernica_source.probes import NEVER_ID, NEVER_TIME, filter_honoured
from copernica_source.tables import Cursor, TableSpec, dlt_hints, engagement_tables
from copernica_source.timefmt import COPERNICA_TIME

MAX_ID = 2**62
log = logging.getLogger("copernica_source")


def engagement_resources(account: Account, product: str) -> list[DltResource]:
    """The nine tables of `product` as dlt resources, named `{product}_{table}`, in declaration order (a
    parent before its children)."""
    made: dict[str, DltResource] = {}
    for spec in engagement_tables(product):
        resource = _BUILDERS[spec.cursor](account, product, spec, made.get(spec.parent))
        made[spec.name] = resource.apply_hints(additional_table_hints={"description": spec.description})
    return list(made.values())


def _hints(product: str, spec: TableSpec) -> dict[str, Any]:
    # keyset ranges never overlap within a run, so the merge may skip its de-duplication pass (a window over the
    # whole load, which runs DuckDB out of its bounded memory on a 1M-row first load). Known cost: a load killed
    # after a keyset table's staging job committed runs that job again on resume, and the copy reaches the table
    merge: dict[str, Any] = {"disposition": "merge", "strategy": "delete-insert", "deduplicated": spec.cursor == "id"}
    described = dlt_hints(spec, f"{product}_")  # the table's description goes on with apply_hints
    return {
        "name": f"{product}_{spec.name}",
        "primary_key": list(spec.primary_key),
        "write_disposition": merge,
        "columns": described["columns"],
        "references": described["references"],
    }


def _id_cursor_events(account: Account, product: str, spec: TableSpec, parent: DltResource | None) -> DltResource:
    """html events: `fields[]=id>N` from the last ID loaded; start/end dates filter on timestamp.

    Copernica's pages promise the ID filter only on some of these lists and ignore filters a list does not
    support, so a first load asks (one tiny request) and later runs see it on their first page: a list that
    ignores it is read by the documented
    timestamp filter instead, in disjoint windows from the last loaded time minus `lookback_days` (kept in
    resource state); the ID cursor then drops rows loaded before. With `end_date` the run is a backfill: it
    ignores and keeps the incremental state."""
    s = account.settings
    backfill = s.end_date is not None
    cursor = dlt.sources.incremental("id", initial_value=0, end_value=MAX_ID if backfill else None)
    name = f"{product}_{spec.name}"

    def events(last_id: dlt.sources.incremental[int] = cursor) -> Iterator[pa.Table]:
        path = spec.path.format(p=account.prefix(product))
        params: list[tuple[str, str]] = []
        if s.start_date is not None:
            params.append(("fields[]", f"timestamp>={s.local(s.start_date).strftime(COPERNICA_TIME)}"))
        if s.end_date is not None:
            params.append(("fields[]", f"timestamp<{s.local(s.end_date).strftime(COPERNICA_TIME)}"))
        reader = account.reader(spec.schema, table=name)
        after = int(last_id.start_value or 0)
        if after and s.start_date is not None and not backfill:
            _start_date_ignored(name, f"ID {after}")
        state = dlt.current.resource_state()
        newest: datetime | None = None
        # a first load asks whether the list honours the ID filter (a page above ID 0 cannot tell); later runs
        # find out from their first page, which then holds IDs at or below the cursor
        if not after and filter_honoured(account.client, path, f"id>{NEVER_ID}") is False:
            tables = _by_timestamp(account, product, spec, path, params, reader, state, after)
        else:
            tables = _by_id(account, product, spec, path, params, reader, state, after)
        for table in tables:
            latest = pc.max(table.column("timestamp")).as_py() if "timestamp" in table.column_names else None
            if latest is not None and (newest is None or latest > newest):
                newest = latest
            yield table
        if newest is not None and not backfill:
            local = s.local(newest).strftime(COPERNICA_TIME)
            state["last_timestamp"] = max(local, str(state.get("last_timestamp") or ""))

    return dlt.resource(events, **_hints(product, spec))


def _by_id(
    account: Account, product: str, spec: TableSpec, path: str, params: list[tuple[str, str]], reader: Reader,
    state: dict[str, Any], after: int,
) -> Iterator[pa.Table]:
    """Keyset by ID; a first page that shows the filter ignored (nothing handed on yet) switches to timestamps."""
    started = False
    try:
        for table in reader.read(keyset_plan(reader, path, params, after)):
            started = True
            yield table
    except FilterIgnoredError:
        if started:
            raise
        yield from _by_timestamp(account, product, spec, path, params, reader, state, after)


def _by_timestamp(
    account: Account, product: str, spec: TableSpec, path: str, params: list[tuple[str, str]], reader: Reader,
    state: dict[str, Any], after: int,
) -> Iterator[pa.Table]:
    """The documented timestamp filter in disjoint windows, from the last loaded event's time minus
    `lookback_days` (late events); rows loaded before are dropped by the ID cursor."""
    s = account.settings
    name = f"{product}_{spec.name}"
    begin = _fallback_begin(account, product, name, state.get("last_timestamp"), after)
    if begin is None:
        return
    if filter_honoured(account.client, path, f"timestamp>{NEVER_TIME}") is False:
        raise UnexpectedAnswerError(
            f"{name}: {path} ignores both fields[]=id>N and fields[]=timestamp>T, so it cannot be read "
            "incrementally without loading it whole every run; nothing was loaded. Run `copernica check` "
            "and report its output"
        )
    log.info("%s: %s ignores fields[]=id>N; reading it by timestamp windows from %s", name, path, begin)
    end = s.local(s.end_date) if s.end_date is not None else None
    yield from reader.read(windows_plan(
        reader, path, params, _windows(begin, end, s.max_window_days, s.now_local()),
        condition_bounds("timestamp"), now=s.now_local,
    ))


def _fallback_begin(
    account: Account, product: str, name: str, last_timestamp: str | None, after_id: int
) -> datetime | None:
    """Where a timestamp read of an html event list starts: a backfill's or first run's start_date, else the
    last loaded event's time minus `lookback_days` (late events), else the earliest emailing."""
    s = account.settings
    if s.start_date is not None and (s.end_date is not None or not after_id):
        return s.local(s.start_date)
    if last_timestamp:
        return datetime.strptime(last_timestamp[:19], COPERNICA_TIME) - timedelta(days=s.lookback_days)
    if after_id:
        log.warning("%s: no event time was kept by earlier runs; re-reading from the first emailing once", name)
    return earliest_emailing(account, product)


def _windowed(account: Account, product: str, spec: TableSpec, parent: DltResource | None) -> DltResource:
    """draganddrop events (`begintime`/`endtime`) and destinations (`from`/`to` dates): time windows from the
    last loaded time minus a lookback for late rows, read side by side; overlap is merged away on `id`."""
    s = account.settings
    dates_only = spec.cursor == "date_window"
    cursor = dlt.sources.incremental(
        spec.cursor_column,
        initial_value=s.start_date,
        end_value=s.end_date,
        lag=s.lookback_days * 86400 if s.end_date is None else None,
    )

    def windowed(updated: dlt.sources.incremental[datetime] = cursor) -> Iterator[pa.Table]:
        prefix = account.prefix(product)
        _check_start_date(s, f"{product}_{spec.name}", updated.start_value)
        begin = s.local(updated.start_value) if updated.start_value is not None else earliest_emailing(account, product)
        if begin is None:
            return  # no emailing was ever sent: nothing to read
        end = s.local(updated.end_value) if updated.end_value is not None else None
        if dates_only:  # `from`/`to` are dates: day windows, and the last one reaches tomorrow
            begin = begin.replace(hour=0, minute=0, second=0)
            end = end or s.now_local() + timedelta(days=1)
        resolution = timedelta(days=1) if dates_only else timedelta(seconds=1)
        bounds = (param_bounds("from", "to", "%Y-%m-%d", resolution) if dates_only
                  else param_bounds("begintime", "endtime"))
        reader = account.reader(spec.schema, table=f"{product}_{spec.name}")
        yield from _with_cursor_values(reader.read(windows_plan(
            reader, spec.path.format(p=prefix), [], _windows(begin, end, s.max_window_days, s.now_local()),
            bounds, resolution=resolution, now=s.now_local,
        )), spec.path.format(p=prefix), f"{product}_{spec.name}", spec.cursor_column)

    return dlt.resource(windowed, **_hints(product, spec))


def _with_cursor_values(tables: Iterator[pa.Table], path: str, table: str, column: str) -> Iterator[pa.Table]:
    """A row without a readable cursor value (a time Copernica sent as a boolean, or out of range) stops the run
    in our words, naming the table, before dlt's incremental would stop it in its own."""
    for batch in tables:
        missing = batch.column(column).null_count if column in batch.column_names else batch.num_rows
        if missing:
            raise UnexpectedAnswerError(
                f"{path}: {missing} row(s) have no readable {column}, the column table {table}'s cursor follows; "
                "nothing was loaded and no cursor moved")
        yield batch


def earliest_emailing(account: Account, product: str) -> datetime | None:
    """The earliest emailing's time (naive local), no event of the product predates it; None without emailings.

    No page says in which order `emailings` lists, so the whole list is read (small: one request per thousand
    emailings, once per run, and only when a table has no cursor yet) and its minimum taken."""

    def compute() -> datetime | None:
        s = account.settings
        reader = account.reader(_EMAILING_TIMES, table=f"{product}_emailings")
        # draganddrop lists only sent mailings unless asked for all (live page); a failed one may have sends
        every = [("status", "all")] if product == "draganddrop" else []
        earliest: datetime | None = None
        for table in reader.read(lists_plan(reader, [(f"{account.prefix(product)}/emailings", None)], every)):
            first = pc.min(table.column("timestamp")).as_py()
            if first is not None and (earliest is None or first < earliest):
                earliest = first
        return s.local(earliest) if earliest is not None else None

    return account.remember(f"earliest_emailing:{product}", compute)


_EMAILING_TIMES = Schema(cols("id:int timestamp:ts"))


def _emailings(account: Account, product: str, spec: TableSpec, parent: DltResource | None) -> DltResource:
    """Emailings from `fromdate`; every run re-reads a rolling window, since counters change after sending."""
    s = account.settings
    cursor = dlt.sources.incremental(
        spec.cursor_column,
        initial_value=s.start_date,
        end_value=s.end_date,
        lag=s.emailing_window_days * 86400 if s.end_date is None else None,
    )

    def emailings(sent: dlt.sources.incremental[datetime] = cursor) -> Iterator[pa.Table]:
        _check_start_date(s, f"{product}_emailings", sent.start_value)
        begin = s.local(sent.start_value) if sent.start_value is not None else datetime(2000, 1, 1)
        end = s.local(sent.end_value) if sent.end_value is not None else None
        reader = account.reader(spec.schema, table=f"{product}_emailings")
        yield from _with_cursor_values(reader.read(windows_plan(
            reader, spec.path.format(p=account.prefix(product)), [], [(begin, end)],
            param_bounds("fromdate", "todate"), now=s.now_local,
        )), spec.path.format(p=account.prefix(product)), f"{product}_emailings", spec.cursor_column)

    return dlt.resource(emailings, **_hints(product, spec))


def _statistics(account: Account, product: str, spec: TableSpec, emailings: DltResource | None) -> DltResource:
    """Statistics of every emailing the emailings resource (re-)read this run: one GET each, side by side."""
    if emailings is None:
        raise ValueError(f"{spec.name} is read per row of its parent {spec.parent!r}, declared before it")

    def statistics(batch: pa.Table) -> Iterator[pa.Table]:
        prefix = account.prefix(product)
        ids = [i for i in batch.column("id").to_pylist() if i is not None]
        reader = account.reader(spec.schema, table=f"{product}_{spec.name}", derive=from_parent(spec.parent_column))
        yield from reader.read(objects_plan((spec.path.format(p=prefix, id=i), i) for i in ids), batch_rows=len(ids))

    return dlt.transformer(statistics, data_from=emailings, **_hints(product, spec))


Builder = Callable[[Account, str, TableSpec, DltResource | None], DltResource]
"""Makes the resource of one table, given its parent table's resource (None for an account-wide list)."""

_BUILDERS: dict[Cursor, Builder] = {
    "emailings": _emailings,
    "per_parent": _statistics,
    "date_window": _windowed,
    "window": _windowed,
    "id": _id_cursor_events,
}


def _check_start_date(s: Settings, table: str, start: datetime | None) -> None:
    if s.start_date is not None and s.end_date is None and start is not None and start > s.start_date:
        _start_date_ignored(table, s.local(start).strftime(COPERNICA_TIME))


def _start_date_ignored(table: str, cursor: str) -> None:
    """A scheduled run continues from its cursor; start_date only bounds the first run or a backfill."""
    log.warning(
        "%s: start_date is not used, this pipeline already loaded up to %s; for an earlier period add end_date "
        "(a backfill that keeps the cursor) or use --full-refresh", table, cursor,
    )


def _windows(
    begin: datetime, end: datetime | None, max_days: float, now: datetime
) -> Iterator[tuple[datetime, datetime | None]]:
    """Consecutive windows from `begin` to `end`, or to an open end (None) that reaches Copernica's "now".
    A window's end is the next one's begin: rows on the boundary come twice and merge into one."""
    step = timedelta(days=max_days)
    stop = end if end is not None else now
    cursor = begin
    while cursor + step < stop:
        yield cursor, cursor + step
        cursor += step
    yield cursor, end
