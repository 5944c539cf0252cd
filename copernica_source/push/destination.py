"""Reverse path: a dlt destination that writes rows as profiles into one Copernica database, one result per row.

Why it is shaped this way:
- Copernica has no duplicate check on POST, so the default is an upsert (`PUT database/$id/profiles?fields[]=
  key==value&create=1`), which is safe to repeat: a retry or a re-run matches the profile the first one made.
  `create` mode never re-sends a POST whose answer was lost without first looking the key up.
- dlt checkpoints each batch of a load job in the load package, so a killed run resumes at the unfinished
  batch on the next `pipeline.run()`; rows of a batch go out concurrently (bounded), rows sharing a key in
  order, so two rows never race to create the same profile.
- Row results are appended to a CSV journal (`results_path`) as each batch finishes and are fsynced, so they
  survive a kill too. A batch replayed after a kill appends its rows again; `read_results` keeps the last.
- A 400 is that row's failure (recorded, not retried); only an outage (retries exhausted) fails the batch,
  as `DestinationTransientException`, so running again resumes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dlt
import orjson
import pyarrow as pa
from dlt.common.destination.exceptions import DestinationTerminalException, DestinationTransientException
from dlt.common.schema import TTableSchema
from dlt.common.storages.load_package import load_package_state
from dlt.common.typing import TDataItems, TSecretStrValue
from dlt.destinations import destination as DestinationFactory

from copernica_source.errors import AuthenticationError, ConfigurationError, CopernicaError, TransientError
from copernica_source.push.journal import append_results
from copernica_source.push.validation import Database, RowPlan, check_row, plan_columns
from copernica_source.push.writer import (
    DEFAULT_CONCURRENCY,
    MODES,
    IncompleteBatch,
    Mode,
    ProfileWriter,
    fetch_database,
)
from copernica_source.settings import client_from_config

DEFAULT_BATCH_SIZE = 250
DEFAULT_RESULTS_PATH = "copernica_profiles_results.csv"












# -- results journal -----------------------------------------------------------------------------------------








# -- the dlt destination ------------------------------------------------------------------------------------
@dataclass
class _LoadWriter:
    load_id: str
    signature: tuple[Any, ...]
    writer: ProfileWriter
    db: Database
    plans: dict[tuple[str, ...], RowPlan]

    def plan(self, columns: Sequence[str], settings: dict[str, Any]) -> RowPlan:
        """Column plan for the columns a batch really has (dlt's table schema keeps columns of earlier runs)."""
        ident = tuple(columns)
        if ident not in self.plans:
            try:
                self.plans[ident] = plan_columns(list(columns), self.db, settings["key"],
                                                 settings["interests_column"], settings["ignore_unknown_columns"])
            except ConfigurationError as exc:
                raise DestinationTerminalException(str(exc)) from exc
        return self.plans[ident]


_WRITERS: dict[tuple[str, str | None], _LoadWriter] = {}  # (load ID, table name: optional in dlt's TTableSchema)
_WRITERS_LOCK = threading.Lock()


def _writer_for(table: TTableSchema, settings: dict[str, Any]) -> _LoadWriter:
    """One client and database lookup per load package and table, reused by all its batches."""
    load_id = load_package_state()["load_id"]
    signature = tuple(sorted((k, str(v)) for k, v in settings.items()))
    ident = (load_id, table["name"])
    with _WRITERS_LOCK:
        for other in [k for k, w in _WRITERS.items() if w.load_id != load_id]:
            _WRITERS.pop(other).writer.close()
        current = _WRITERS.get(ident)
        if current is not None and current.signature == signature:
            return current
        overrides = {k: settings[k] for k in ("access_token", "base_url", "auth_url", "api_version")}
        try:
            client = client_from_config(max_concurrency=settings["concurrency"], **overrides)
            db = fetch_database(client, settings["database"])
            key_field = db.fields.get(str(settings["key"]).lower())
            if key_field is None:
                raise ConfigurationError(f"key {settings['key']!r} is not a field of database {db.name!r} ({db.id})")
            if client.api_version == 1 and settings.get("interests_column"):
                raise ConfigurationError("api_version 1 writes a flat field map and no interests: the interests "
                                         "column would be dropped; use api_version 4 for interests")
        except (ConfigurationError, AuthenticationError) as exc:
            raise DestinationTerminalException(str(exc)) from exc
        except TransientError as exc:
            raise DestinationTransientException(str(exc)) from exc
        writer = ProfileWriter(client, db, key_field.name, settings["mode"], settings["concurrency"])
        try:
            writer.check_selector()
        except ConfigurationError as exc:
            writer.close()
            raise DestinationTerminalException(str(exc)) from exc
        lw = _LoadWriter(load_id, signature, writer, db, {})
        _WRITERS[ident] = lw
        return lw


def close_writers() -> None:
    """Close the clients and thread pools kept for the loads of this process (the CLI calls it when done)."""
    with _WRITERS_LOCK:
        while _WRITERS:
            _WRITERS.popitem()[1].writer.close()


def _columns_of(items: TDataItems, key: str) -> list[str]:
    """Columns that hold a value in this batch, and the key column. dlt's table schema (and so each batch) keeps
    columns of earlier runs as nulls; an all-null column writes nothing, so it cannot be an unknown-column error."""
    if isinstance(items, (pa.RecordBatch, pa.Table)):
        return [c for c in items.schema.names
                if c.lower() == key.lower() or items.column(c).null_count < items.num_rows]
    seen: dict[str, None] = {}
    for i in items:
        seen.update(dict.fromkeys(k for k, v in i.items() if v is not None or k.lower() == key.lower()))
    return list(seen)


def _rows_of(items: TDataItems) -> list[dict[str, Any]]:
    if isinstance(items, (pa.RecordBatch, pa.Table)):
        rows: list[dict[str, Any]] = items.to_pylist()
        return rows
    return [dict(i) for i in items]


def _decode_interests(rows: list[dict[str, Any]], column: str | None) -> None:
    """A list column that went through dlt's JSON path arrives as JSON text."""
    if not column:
        return
    for r in rows:
        v = r.get(column)
        if isinstance(v, str) and v.lstrip().startswith("["):
            try:
                r[column] = orjson.loads(v)
            except orjson.JSONDecodeError:
                pass


@dlt.destination(
    name="copernica_profiles",
    batch_size=DEFAULT_BATCH_SIZE,
    loader_file_format="parquet",
    naming_convention="direct",
    skip_dlt_columns_and_tables=True,
    max_table_nesting=0,
    loader_parallelism_strategy="sequential",
)
def _copernica_profiles_sink(
    items: TDataItems,
    table: TTableSchema,
    database: str = dlt.config.value,
    key: str = dlt.config.value,
    mode: str = "upsert",
    concurrency: int = DEFAULT_CONCURRENCY,
    results_path: str = DEFAULT_RESULTS_PATH,
    interests_column: str | None = None,
    ignore_unknown_columns: bool = False,
    timezone: str = "Europe/Amsterdam",
    access_token: TSecretStrValue | None = None,
    base_url: str | None = None,
    auth_url: str | None = None,
    api_version: int | None = None,
) -> None:
    """One batch of a table: check every row, send the valid ones, append every row's result."""
    if mode not in MODES:
        raise DestinationTerminalException(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    settings = dict(database=database, key=key, mode=mode, concurrency=int(concurrency),
                    interests_column=interests_column, ignore_unknown_columns=bool(ignore_unknown_columns),
                    access_token=access_token, base_url=base_url, auth_url=auth_url, api_version=api_version)
    lw = _writer_for(table, settings)
    plan = lw.plan(_columns_of(items, key), settings)
    rows = _rows_of(items)
    _decode_interests(rows, interests_column)
    checked = [check_row(r, plan, timezone) for r in rows]
    load_id = lw.load_id
    try:
        results = lw.writer.write(checked)
    except IncompleteBatch as inc:
        append_results(results_path, inc.done, load_id)
        if isinstance(inc.cause, AuthenticationError):
            raise DestinationTerminalException(str(inc.cause)) from inc.cause
        if isinstance(inc.cause, CopernicaError):
            raise DestinationTransientException(
                f"Copernica was unavailable; this batch resumes on the next run: {inc.cause}") from inc.cause
        raise inc.cause from None  # the cause itself, not the IncompleteBatch that carried it here
    append_results(results_path, results, load_id)


def copernica_profiles(
    database: str | int | None = None,
    key: str | None = None,
    mode: Mode | None = None,
    *,
    concurrency: int | None = None,
    results_path: str | None = None,
    interests_column: str | None = None,
    ignore_unknown_columns: bool | None = None,
    timezone: str | None = None,
    batch_size: int | None = None,
    access_token: TSecretStrValue | None = None,
    base_url: str | None = None,
    auth_url: str | None = None,
    api_version: int | None = None,
) -> DestinationFactory:
    """A dlt destination that upserts (default), creates or updates profiles of a Copernica database.

    Arguments left None come from `[destination.copernica_profiles]` config; the connection (token, URLs)
    from `[sources.copernica]`, like every entry point. Row results go to `results_path` (CSV, appended).

    Args:
        database: the database's ID or name.
        key: the field that identifies a profile (e.g. "email", "customerid").
        mode: "upsert" (update, or create when absent), "create" (new keys only, never updates) or "update"
            (existing keys only, never creates).
        concurrency: requests in flight at once (default 8).
        results_path: the CSV the per-row results are appended to (`read_results` reads it back).
        interests_column: a column of interests (a list, or comma-separated text) to set on each profile.
        ignore_unknown_columns: skip columns that are not fields of the database instead of failing.
        timezone: Copernica's zone: date-time values that carry a zone are converted to it before they are sent
            (default Europe/Amsterdam).
        batch_size: rows per batch (default 250); a killed run resumes at the unfinished batch.
        access_token: overrides `[sources.copernica]`'s token.
        base_url: overrides `[sources.copernica]`'s API host.
        auth_url: overrides `[sources.copernica]`'s authentication URL.
        api_version: overrides `[sources.copernica]`'s API version.

    Returns:
        A dlt destination factory to give to `dlt.pipeline(destination=...)`.

    Raises:
        ConfigurationError: `mode` is not one of the three.
    """
    given: dict[str, Any] = dict(
        database=None if database is None else str(database), key=key, mode=mode, concurrency=concurrency,
        results_path=results_path, interests_column=interests_column,
        ignore_unknown_columns=ignore_unknown_columns, timezone=timezone, batch_size=batch_size,
        access_token=access_token, base_url=base_url, auth_url=auth_url, api_version=api_version,
    )
    if mode is not None and mode not in MODES:
        raise ConfigurationError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    return _copernica_profiles_sink(**{k: v for k, v in given.items() if v is not None})
