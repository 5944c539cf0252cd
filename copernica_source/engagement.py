"""Engagement resources (emailings, statistics, destinations and the six event tables) for one mail product.

Each resource is its table's declaration (tables.py) plus a plan (engine.py) chosen by its cursor kind; the
cursor itself lives in `dlt.sources.incremental`, so it advances only when the load that carries it commits.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Iterator

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from copernica_source.account import Account, Settings
from copernica_source.engine import (
    COPERNICA_TIME,
    Reader,
    batches,
    keyset_plan,
    objects_plan,
    run,
    windows_plan,
)
from copernica_source.tables import TableSpec, engagement_tables

MAX_ID = 2**62
log = logging.getLogger("copernica_source")


def engagement_resources(account: Account, product: str) -> list[DltResource]:
    """The nine tables of `product` as dlt resources, named `{product}_{table}`."""
    specs = {spec.name: spec for spec in engagement_tables(product)}
    emailings = _emailings(account, product, specs["emailings"])
    resources = [emailings, _statistics(account, product, specs["emailing_statistics"], emailings)]
    for spec in specs.values():
        if spec.cursor == "id":
            resources.append(_id_cursor_events(account, product, spec))
        elif spec.cursor in ("window", "date_window"):
            resources.append(_windowed(account, product, spec))
    return resources


def _hints(product: str, spec: TableSpec) -> dict[str, Any]:
    # keyset ranges never overlap within a run, so the merge may skip its de-duplication pass (a sort of the
    # whole load); windows overlap at their boundaries and keep it
    merge: dict[str, Any] = {"disposition": "merge", "strategy": "delete-insert", "deduplicated": spec.cursor == "id"}
    return {
        "name": f"{product}_{spec.name}",
        "primary_key": list(spec.primary_key),
        "write_disposition": merge,
        "columns": spec.schema.dlt_columns(),
    }


def _reader(account: Account, spec: TableSpec, **kwargs: Any) -> Reader:
    s = account.settings
    return Reader(account.client, spec.schema, s.timezone, page_size=s.page_size, **kwargs)


def _id_cursor_events(account: Account, product: str, spec: TableSpec) -> DltResource:
    """html events: `fields[]=id>N` from the last ID loaded; start/end dates filter on timestamp.

    With `end_date` the run is a backfill: it ignores and keeps the incremental state."""
    s = account.settings
    backfill = s.end_date is not None
    cursor = dlt.sources.incremental("id", initial_value=0, end_value=MAX_ID if backfill else None)

    def events(last_id: dlt.sources.incremental[int] = cursor) -> Iterator[pa.Table]:
        params: list[tuple[str, str]] = []
        if s.start_date is not None:
            params.append(("fields[]", f"timestamp>={s.local(s.start_date).strftime(COPERNICA_TIME)}"))
        if s.end_date is not None:
            params.append(("fields[]", f"timestamp<{s.local(s.end_date).strftime(COPERNICA_TIME)}"))
        reader = _reader(account, spec)
        after = int(last_id.start_value or 0)
        if after and s.start_date is not None and not backfill:
            _start_date_ignored(f"{product}_{spec.name}", f"ID {after}")
        seeds, handle = keyset_plan(reader, spec.path.format(p=account.prefix(product)), params, after)
        yield from batches(run(reader, seeds, handle, s.max_concurrency))

    return dlt.resource(events, **_hints(product, spec))


def _windowed(account: Account, product: str, spec: TableSpec) -> DltResource:
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
        begin = s.local(updated.start_value) if updated.start_value is not None else account.first_emailing_time(product)
        if begin is None:
            return  # no emailing was ever sent: nothing to read
        end = s.local(updated.end_value) if updated.end_value is not None else None
        if dates_only:  # `from`/`to` are dates: day windows, and the last one reaches tomorrow
            begin = begin.replace(hour=0, minute=0, second=0)
            end = end or s.now_local() + timedelta(days=1)
        reader = _reader(account, spec)
        seeds, handle = windows_plan(
            reader, spec.path.format(p=prefix), [], _windows(begin, end, s.max_window_days, s.now_local()),
            "from" if dates_only else "begintime", "to" if dates_only else "endtime",
            time_format="%Y-%m-%d" if dates_only else COPERNICA_TIME,
            resolution=timedelta(days=1) if dates_only else timedelta(seconds=1), now=s.now_local,
        )
        yield from batches(run(reader, seeds, handle, s.max_concurrency))

    return dlt.resource(windowed, **_hints(product, spec))


def _emailings(account: Account, product: str, spec: TableSpec) -> DltResource:
    """Emailings from `fromdate`; every run re-reads a rolling window, since counters change after sending."""
    s = account.settings
    cursor = dlt.sources.incremental(
        "timestamp",
        initial_value=s.start_date,
        end_value=s.end_date,
        lag=s.emailing_window_days * 86400 if s.end_date is None else None,
    )

    def emailings(sent: dlt.sources.incremental[datetime] = cursor) -> Iterator[pa.Table]:
        _check_start_date(s, f"{product}_emailings", sent.start_value)
        begin = s.local(sent.start_value) if sent.start_value is not None else datetime(2000, 1, 1)
        end = s.local(sent.end_value) if sent.end_value is not None else None
        reader = _reader(account, spec)
        seeds, handle = windows_plan(
            reader, spec.path.format(p=account.prefix(product)), [], [(begin, end)], "fromdate", "todate",
            now=s.now_local,
        )
        yield from batches(run(reader, seeds, handle, s.max_concurrency))

    return dlt.resource(emailings, **_hints(product, spec))


def _statistics(account: Account, product: str, spec: TableSpec, emailings: DltResource) -> DltResource:
    """Statistics of every emailing the emailings resource (re-)read this run: one GET each, side by side."""
    s = account.settings

    def statistics(batch: pa.Table) -> Iterator[pa.Table]:
        prefix = account.prefix(product)
        ids = [i for i in batch.column("id").to_pylist() if i is not None]
        reader = _reader(account, spec, extra=lambda task, raw: {"emailing_id": [task.meta]})
        seeds, handle = objects_plan((spec.path.format(p=prefix, id=i), i) for i in ids)
        yield from batches(run(reader, seeds, handle, s.max_concurrency), batch_rows=len(ids))

    return dlt.transformer(statistics, data_from=emailings, **_hints(product, spec))


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
